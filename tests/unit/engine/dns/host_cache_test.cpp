#include "engine/dns/host_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace warden::engine {
namespace {

constexpr std::uint64_t kNow = 1000;

rules::IpAddress ip(const char* text) { return *rules::IpAddress::parse(text); }

rules::IpAddress nth(std::uint32_t n) {  // distinct addresses in 2001:db8::/32
  std::uint8_t raw[16] = {0x20, 0x01, 0x0d, 0xb8};
  raw[12] = static_cast<std::uint8_t>(n >> 24);
  raw[13] = static_cast<std::uint8_t>(n >> 16);
  raw[14] = static_cast<std::uint8_t>(n >> 8);
  raw[15] = static_cast<std::uint8_t>(n);
  return rules::IpAddress::fromV6(raw);
}

std::string nameOf(std::uint32_t n) { return "host-" + std::to_string(n) + ".test.example"; }

std::string lookup(const HostCache& cache, const rules::IpAddress& address,
                   std::uint64_t now = kNow) {
  DnsName name;
  if (!cache.lookup(address, name, now)) return "(none)";
  return std::string(name.view());
}

TEST(HostCache, RemembersTheLatestNameOfEachAddress) {
  HostCache cache(64);
  EXPECT_EQ(lookup(cache, ip("198.51.100.7")), "(none)");
  cache.record(ip("198.51.100.7"), "a.test.example", 300, kNow);
  cache.record(ip("2001:db8::7"), "a.test.example", 300, kNow);
  EXPECT_EQ(lookup(cache, ip("198.51.100.7")), "a.test.example");
  EXPECT_EQ(lookup(cache, ip("2001:db8::7")), "a.test.example");
  EXPECT_EQ(lookup(cache, ip("198.51.100.8")), "(none)");
  cache.record(ip("198.51.100.7"), "b.test.example", 300, kNow);
  EXPECT_EQ(lookup(cache, ip("198.51.100.7")), "b.test.example");
  EXPECT_EQ(cache.entries(), 2u);
}

// What the observer is told: every address whose name changed (what was decided with the
// old one must be forgotten), once the new name can be read.
TEST(HostCache, TellsTheObserverOfEveryNameThatChanged) {
  HostCache cache(8);  // one window: the ninth address pushes one out
  std::vector<std::string> told;
  cache.onChange([&](const rules::IpAddress& address) {
    told.push_back(address.toString() + "=" + lookup(cache, address));
  });
  cache.record(ip("198.51.100.7"), "a.test.example", 300, kNow);  // had none
  cache.record(ip("198.51.100.7"), "a.test.example", 600, kNow);  // the same name: no change
  cache.record(ip("198.51.100.7"), "b.test.example", 300, kNow);  // another name
  EXPECT_EQ(told, (std::vector<std::string>{"198.51.100.7=a.test.example",
                                            "198.51.100.7=b.test.example"}));
  // Expired, then named again, even alike: its name was gone meanwhile.
  told.clear();
  cache.record(ip("198.51.100.7"), "b.test.example", 300, kNow + 10'000);
  EXPECT_EQ(told, std::vector<std::string>{"198.51.100.7=b.test.example"});
  // A full window: the address closest to expiring gives way, unexpired, and is told too.
  told.clear();
  for (std::uint32_t n = 1; n < 8; ++n) cache.record(nth(n), nameOf(n), 3600, kNow + 10'000);
  ASSERT_EQ(told.size(), 7u);
  told.clear();
  cache.record(nth(100), nameOf(100), 3600, kNow + 10'000);
  EXPECT_EQ(told, (std::vector<std::string>{nth(100).toString() + "=" + nameOf(100),
                                            "198.51.100.7=(none)"}));
}

TEST(HostCache, ExpiresByTtlWithinItsFloorAndCap) {
  HostCache cache(64);
  cache.record(ip("192.0.2.1"), "short.example", 5, kNow);  // raised to kMinTtl
  cache.record(ip("192.0.2.2"), "normal.example", 600, kNow);
  cache.record(ip("192.0.2.3"), "long.example", 10'000'000, kNow);  // cut to kMaxTtl
  EXPECT_EQ(lookup(cache, ip("192.0.2.1"), kNow + HostCache::kMinTtl - 1), "short.example");
  EXPECT_EQ(lookup(cache, ip("192.0.2.1"), kNow + HostCache::kMinTtl), "(none)");
  EXPECT_EQ(lookup(cache, ip("192.0.2.2"), kNow + 599), "normal.example");
  EXPECT_EQ(lookup(cache, ip("192.0.2.2"), kNow + 600), "(none)");
  EXPECT_EQ(lookup(cache, ip("192.0.2.3"), kNow + HostCache::kMaxTtl - 1), "long.example");
  EXPECT_EQ(lookup(cache, ip("192.0.2.3"), kNow + HostCache::kMaxTtl), "(none)");
  // A new answer brings an expired address back.
  cache.record(ip("192.0.2.1"), "again.example", 60, kNow + 1000);
  EXPECT_EQ(lookup(cache, ip("192.0.2.1"), kNow + 1001), "again.example");
}

TEST(HostCache, EmptyAndOverlongNamesAreNotRecorded) {
  HostCache cache(64);
  cache.record(ip("192.0.2.1"), "", 300, kNow);
  cache.record(ip("192.0.2.2"), std::string(DnsName::kMaxLength + 1, 'a'), 300, kNow);
  EXPECT_EQ(lookup(cache, ip("192.0.2.1")), "(none)");
  EXPECT_EQ(lookup(cache, ip("192.0.2.2")), "(none)");
  const std::string longest(DnsName::kMaxLength, 'b');
  cache.record(ip("192.0.2.3"), longest, 300, kNow);
  EXPECT_EQ(lookup(cache, ip("192.0.2.3")), longest);
}

TEST(HostCache, FixedCapacityKeepsTheNewestAndLongestLived) {
  HostCache cache(1000);
  EXPECT_EQ(cache.capacity(), 1024u);
  constexpr std::uint32_t kMany = 20000;
  for (std::uint32_t i = 0; i < kMany; ++i) cache.record(nth(i), nameOf(i), 300, kNow + i / 100);
  EXPECT_LE(cache.entries(), cache.capacity());
  std::size_t known = 0, recentKnown = 0;
  for (std::uint32_t i = 0; i < kMany; ++i) {
    const std::string found = lookup(cache, nth(i), kNow + kMany / 100);
    if (found == "(none)") continue;
    EXPECT_EQ(found, nameOf(i)) << "an address never gets another's name";
    ++known;
    if (i >= kMany - 200) ++recentKnown;
  }
  EXPECT_GT(known, cache.capacity() / 2) << "most slots serve";
  EXPECT_LE(known, cache.capacity());
  EXPECT_GT(recentKnown, 190u) << "the newest answers are kept";
}

// Readers never lock; while a writer rewrites the same slots over and over, every name a
// reader gets must be one that address was given, whole (no torn copy of two names).
TEST(HostCache, ARefusalHoldsForItsTtlUntilThePairIsConfirmed) {
  HostCache cache(64);
  const auto forged = ip("198.51.100.66");
  cache.refuse(forged, "files.test.example", 300, kNow);
  EXPECT_TRUE(cache.refused(forged, "files.test.example", kNow));
  EXPECT_TRUE(cache.refused(forged, "files.test.example", kNow + 299));
  EXPECT_FALSE(cache.refused(forged, "files.test.example", kNow + 300)) << "expired";
  EXPECT_FALSE(cache.refused(forged, "other.test.example", kNow)) << "another name";
  EXPECT_FALSE(cache.refused(ip("198.51.100.67"), "files.test.example", kNow));
  // The floor of an entry's TTL applies: a forger's TTL of 1 s does not end it at once.
  cache.refuse(forged, "short.test.example", 1, kNow);
  EXPECT_TRUE(cache.refused(forged, "short.test.example", kNow + HostCache::kMinTtl - 1));
  // A refusal again does not shorten it.
  cache.refuse(forged, "files.test.example", 60, kNow + 1);
  EXPECT_TRUE(cache.refused(forged, "files.test.example", kNow + 299));
  // A confirmation of the pair ends it.
  cache.record(forged, "files.test.example", 300, kNow + 2);
  EXPECT_FALSE(cache.refused(forged, "files.test.example", kNow + 3));
  EXPECT_EQ(lookup(cache, forged, kNow + 3), "files.test.example");
}

TEST(HostCache, RefusalsAreBoundedAndTheNewestStay) {
  HostCache cache(64);
  const std::uint32_t many = static_cast<std::uint32_t>(HostCache::kRefusals) * 4;
  for (std::uint32_t n = 0; n < many; ++n) cache.refuse(nth(n), nameOf(n), 300 + n, kNow);
  std::size_t kept = 0;
  for (std::uint32_t n = 0; n < many; ++n) kept += cache.refused(nth(n), nameOf(n), kNow) ? 1 : 0;
  EXPECT_LE(kept, HostCache::kRefusals);
  EXPECT_GE(kept, HostCache::kRefusals / 2);
  EXPECT_TRUE(cache.refused(nth(many - 1), nameOf(many - 1), kNow)) << "the newest stays";
}

TEST(HostCache, ConcurrentReadersSeeWholeNamesOnly) {
  HostCache cache(64);  // small, so that writes keep landing on the slots being read
  constexpr std::uint32_t kAddresses = 48;
  const auto nameFor = [](std::uint32_t address, std::uint32_t version) {
    // Both the length and the content depend on the version, so a torn copy shows.
    return std::to_string(address) + "-" + std::string(1 + version % 200, 'a' + version % 26) +
           "-" + std::to_string(version % 26) + ".example";
  };
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      DnsName name;
      while (!stop.load(std::memory_order_relaxed)) {
        for (std::uint32_t a = 0; a < kAddresses; ++a) {
          if (!cache.lookup(nth(a), name, kNow)) continue;
          hits.fetch_add(1, std::memory_order_relaxed);
          // "<address>-<run of one letter>-<letter index>.example", consistent throughout.
          const std::string text(name.view());
          const std::string prefix = std::to_string(a) + "-";
          bool ok = text.starts_with(prefix) && text.ends_with(".example");
          if (ok) {
            const std::size_t runStart = prefix.size();
            const std::size_t runEnd = text.find('-', runStart);
            ok = runEnd != std::string::npos && runEnd > runStart;
            if (ok) {
              const char letter = text[runStart];
              for (std::size_t i = runStart; i < runEnd; ++i) ok = ok && text[i] == letter;
              const std::string index = text.substr(runEnd + 1, text.size() - 8 - runEnd - 1);
              ok = ok && index == std::to_string(letter - 'a');
            }
          }
          if (!ok) bad.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (std::uint32_t version = 0; version < 200000; ++version) {
    const std::uint32_t a = version % kAddresses;
    cache.record(nth(a), nameFor(a, version), 300, kNow);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(hits.load(), 0u);
}

}  // namespace
}  // namespace warden::engine
