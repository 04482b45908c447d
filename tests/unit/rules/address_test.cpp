#include "rules/address.h"

#include <arpa/inet.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace warden::rules {
namespace {

IpAddress ip(std::string_view text) {
  auto address = IpAddress::parse(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress{});
}

std::string glibcText(const IpAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.isV4()) {
    inet_ntop(AF_INET, address.bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, address.bytes.data(), text, sizeof text);
  }
  return text;
}

TEST(IpAddress, ParsesV4AsMapped) {
  const auto address = ip("192.0.2.10");
  EXPECT_TRUE(address.isV4());
  EXPECT_EQ(address, ip("::ffff:192.0.2.10"));
  EXPECT_EQ(address.toString(), "192.0.2.10");
  EXPECT_EQ(address, IpAddress::fromV4(htonl(0xc000020a)));
}

TEST(IpAddress, ParsesV6) {
  const auto address = ip("2001:DB8::1");
  EXPECT_FALSE(address.isV4());
  EXPECT_EQ(address.toString(), "2001:db8::1");
  const std::uint8_t raw[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(address, IpAddress::fromV6(raw));
  EXPECT_EQ(ip("::").toString(), "::");
}

TEST(IpAddress, RejectsGarbage) {
  for (std::string_view bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4x", "example.org", "1.2.3.4/8",
        "2001:db8::g", "fe80::1%eth0", " 1.2.3.4", "1:2:3:4:5:6:7:8:9"}) {
    EXPECT_FALSE(IpAddress::parse(bad).has_value()) << bad;
  }
  EXPECT_FALSE(IpAddress::parse(std::string(100, '1')).has_value());
}

TEST(Cidr, BareAddressIsHostBlock) {
  const auto v4 = Cidr::parse("192.0.2.1");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->prefix, 128);
  EXPECT_TRUE(v4->contains(ip("192.0.2.1")));
  EXPECT_FALSE(v4->contains(ip("192.0.2.2")));
  const auto v6 = Cidr::parse("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->prefix, 128);
}

TEST(Cidr, V4PrefixIsOverMappedForm) {
  const auto block = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(block);
  EXPECT_EQ(block->prefix, 104);
  EXPECT_TRUE(block->contains(ip("10.255.1.2")));
  EXPECT_FALSE(block->contains(ip("11.0.0.0")));
  EXPECT_FALSE(block->contains(ip("a00::1")));  // same top bytes, but not IPv4
  const auto all = Cidr::parse("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(ip("8.8.8.8")));
  EXPECT_FALSE(all->contains(ip("2001:db8::1")));
}

TEST(Cidr, HostBitsAreMasked) {
  const auto block = Cidr::parse("192.168.1.77/24");
  ASSERT_TRUE(block);
  EXPECT_EQ(block->base, ip("192.168.1.0"));
  EXPECT_TRUE(block->contains(ip("192.168.1.200")));
  const auto odd = Cidr::parse("172.31.255.255/12");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->base, ip("172.16.0.0"));
  EXPECT_TRUE(odd->contains(ip("172.20.0.1")));
  EXPECT_FALSE(odd->contains(ip("172.32.0.1")));
}

TEST(Cidr, V6Blocks) {
  const auto block = Cidr::parse("2001:db8::/32");
  ASSERT_TRUE(block);
  EXPECT_TRUE(block->contains(ip("2001:db8:ffff::1")));
  EXPECT_FALSE(block->contains(ip("2001:db9::1")));
  const auto odd = Cidr::parse("fe80::/10");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(ip("febf::1")));
  EXPECT_FALSE(odd->contains(ip("fec0::1")));
  const auto all = Cidr::parse("::/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(ip("2001:db8::1")));
  EXPECT_TRUE(all->contains(ip("1.2.3.4")));
}

TEST(Cidr, RejectsBadPrefixes) {
  for (std::string_view bad : {"1.2.3.4/33", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/8x",
                               "::/129", "::/1000", "1.2.3/8", "/8", "1.2.3.4/8/9"}) {
    EXPECT_FALSE(Cidr::parse(bad).has_value()) << bad;
  }
  EXPECT_TRUE(Cidr::parse("1.2.3.4/32").has_value());
  EXPECT_TRUE(Cidr::parse("::/128").has_value());
}

TEST(Scope, Localhost) {
  EXPECT_EQ(scopeOf(ip("127.0.0.1")), Scope::kLocalhost);
  EXPECT_EQ(scopeOf(ip("127.255.0.9")), Scope::kLocalhost);
  EXPECT_EQ(scopeOf(ip("::1")), Scope::kLocalhost);
}

TEST(Scope, Lan) {
  for (std::string_view lan :
       {"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.1", "169.254.1.1", "100.64.0.1",
        "100.127.255.255", "224.0.0.251", "239.255.255.250", "255.255.255.255", "fc00::1",
        "fd12:3456::1", "fe80::1", "ff02::fb"}) {
    EXPECT_EQ(scopeOf(ip(lan)), Scope::kLan) << lan;
  }
}

TEST(Scope, Internet) {
  for (std::string_view internet :
       {"8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "11.0.0.1", "2001:db8::1",
        "2606:4700::1111", "::2", "128.0.0.1", "255.255.255.254"}) {
    EXPECT_EQ(scopeOf(ip(internet)), Scope::kInternet) << internet;
  }
}

// scopeOf reads its blocks as 128-bit masks: it must say what Cidr::contains says of the blocks
// SPEC section 3 names, at each block's edges (first and last address, one either side) and
// at random addresses of both families.
TEST(Scope, AgreesWithTheBlocksAtTheirEdgesAndAtRandom) {
  const std::vector<std::pair<std::string_view, Scope>> blocks = {
      {"127.0.0.0/8", Scope::kLocalhost},  {"::1/128", Scope::kLocalhost},
      {"10.0.0.0/8", Scope::kLan},         {"172.16.0.0/12", Scope::kLan},
      {"192.168.0.0/16", Scope::kLan},     {"169.254.0.0/16", Scope::kLan},
      {"100.64.0.0/10", Scope::kLan},      {"224.0.0.0/4", Scope::kLan},
      {"255.255.255.255/32", Scope::kLan}, {"fc00::/7", Scope::kLan},
      {"fe80::/10", Scope::kLan},          {"ff00::/8", Scope::kLan}};
  const auto reference = [&blocks](const IpAddress& address) {
    for (const Scope scope : {Scope::kLocalhost, Scope::kLan}) {
      for (const auto& [text, blockScope] : blocks) {
        if (blockScope == scope && Cidr::parse(text)->contains(address)) return scope;
      }
    }
    return Scope::kInternet;
  };
  const auto step = [](IpAddress address, int delta) {
    for (int i = 15; i >= 0; --i) {
      const int value = address.bytes[i] + delta;
      address.bytes[i] = static_cast<std::uint8_t>(value);
      if (value >= 0 && value <= 0xff) break;
    }
    return address;
  };
  std::vector<IpAddress> addresses;
  for (const auto& [text, scope] : blocks) {
    const Cidr cidr = *Cidr::parse(text);
    IpAddress last = cidr.base;
    for (int bit = cidr.prefix; bit < 128; ++bit) {
      last.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
    }
    for (const IpAddress& edge : {cidr.base, last}) {
      addresses.insert(addresses.end(), {step(edge, -1), edge, step(edge, 1)});
    }
  }
  std::mt19937 random(7);
  for (int i = 0; i < 20000; ++i) {
    IpAddress address;
    for (auto& byte : address.bytes) byte = static_cast<std::uint8_t>(random());
    if (i % 2 == 0)
      address =
          IpAddress::v4(address.bytes[0], address.bytes[1], address.bytes[2], address.bytes[3]);
    addresses.push_back(address);
  }
  for (const IpAddress& address : addresses) {
    EXPECT_EQ(scopeOf(address), reference(address)) << address.toString();
  }
}

// toString() writes what inet_ntop writes, so that log rows, `warden explain` and prompts read
// the same as before it was written by hand: the addresses users know, then random groups,
// each zero with probability one half, so that zero runs of every length and place (ties
// between runs, a run at either end, an address ending in a dotted quad) all occur, and
// non-zero groups of 1 to 4 digits.
TEST(IpAddress, WritesItsTextAsInetNtopDoes) {
  for (const char* text : {"192.0.2.10", "0.0.0.0", "255.255.255.255", "::", "::1",
                           "1::", "2001:db8::1", "2001:db8:0:1:0:0:0:1", "fe80::1:0:0:1",
                           "2001:db8:100::ffff", "::1.2.3.4", "1:2:3:4:5:6:7:8"}) {
    EXPECT_EQ(ip(text).toString(), glibcText(ip(text))) << text;
  }
  EXPECT_EQ(ip("2001:db8:0:1:0:0:0:1").toString(), "2001:db8:0:1::1");
  std::mt19937_64 random(5952);
  for (int n = 0; n < 200'000; ++n) {
    std::uint8_t bytes[16];
    const std::uint64_t zeros = random();
    for (int group = 0; group < 8; ++group) {
      const std::uint64_t value = random();
      const bool zero = (zeros >> group) & 1;
      const auto word =
          static_cast<std::uint16_t>(zero ? 0 : (value & 0xffff) >> (4 * ((value >> 16) % 4)));
      bytes[2 * group] = static_cast<std::uint8_t>(word >> 8);
      bytes[2 * group + 1] = static_cast<std::uint8_t>(word);
    }
    const IpAddress address = IpAddress::fromV6(bytes);
    ASSERT_EQ(address.toString(), glibcText(address)) << glibcText(address);
  }
}

}  // namespace
}  // namespace warden::rules
