#include "engine/dns/pending_dns_queries.h"

#include <algorithm>
#include <cstring>

namespace warden::engine {
namespace {

std::uint64_t mix(std::uint64_t h, std::uint64_t value) {
  h ^= value + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

std::uint64_t addressWord(const rules::IpAddress& address, std::size_t half) {
  std::uint64_t word = 0;
  std::memcpy(&word, address.bytes.data() + half * 8, 8);
  return word;
}

}  // namespace

PendingDnsQueries::PendingDnsQueries(std::size_t capacity)
    : entries_(std::max<std::size_t>(capacity, 1)) {}

std::uint64_t PendingDnsQueries::keyOf(const DnsExchange& e) {
  std::uint64_t h = 0;
  h = mix(h, addressWord(e.client, 0));
  h = mix(h, addressWord(e.client, 1));
  h = mix(h, addressWord(e.server, 0));
  h = mix(h, addressWord(e.server, 1));
  h = mix(h, (std::uint64_t{e.clientPort} << 48) | (std::uint64_t{e.serverPort} << 32) |
                 (std::uint64_t{e.question.id} << 16) | e.question.type);
  h = mix(h, (std::uint64_t{e.question.qclass} << 8) | e.question.name.length);
  // The name's first and last bytes are enough to tell most questions apart; the full
  // comparison decides.
  const std::string_view name = e.question.name.view();
  if (!name.empty()) h = mix(h, (std::uint64_t(name.front()) << 8) | std::uint8_t(name.back()));
  return h;
}

void PendingDnsQueries::dropExpired(std::uint64_t nowNs) {
  while (oldest_ != next_) {
    Entry& entry = at(oldest_);
    if (entry.waiting && entry.expiresAt > nowNs) return;
    entry.waiting = false;
    ++oldest_;
  }
}

PendingDnsQueries::Entry* PendingDnsQueries::find(const DnsExchange& exchange, std::uint64_t key,
                                                  std::uint64_t nowNs) {
  for (std::uint64_t s = oldest_; s != next_; ++s) {
    Entry& entry = at(s);
    if (entry.waiting && entry.key == key && entry.expiresAt > nowNs &&
        entry.exchange == exchange) {
      return &entry;
    }
  }
  return nullptr;
}

PendingDnsQueries::Recorded PendingDnsQueries::record(const DnsExchange& query,
                                                      std::uint64_t nowNs) {
  const std::uint64_t key = keyOf(query);
  std::lock_guard lock(mutex_);
  dropExpired(nowNs);
  Recorded result = Recorded::kAdded;
  if (Entry* same = find(query, key, nowNs)) {
    same->waiting = false;  // renewed below, in its place as the newest
    result = Recorded::kRepeated;
    dropExpired(nowNs);
  }
  if (next_ - oldest_ == entries_.size()) {
    // Full. Answered queries between waiting ones leave gaps; when they are many, close them
    // (in order, so the ring stays oldest first), else the oldest waiting query gives way.
    std::uint64_t kept = oldest_;
    std::size_t gaps = 0;
    for (std::uint64_t s = oldest_; s != next_; ++s) gaps += at(s).waiting ? 0 : 1;
    if (gaps >= entries_.size() / 4 && gaps > 0) {
      for (std::uint64_t s = oldest_; s != next_; ++s) {
        if (!at(s).waiting) continue;
        if (kept != s) at(kept) = at(s);
        ++kept;
      }
      for (std::uint64_t s = kept; s != next_; ++s) at(s).waiting = false;
      next_ = kept;
    } else {
      at(oldest_).waiting = false;
      ++oldest_;
      dropExpired(nowNs);
      result = Recorded::kEvicted;
    }
  }
  Entry& entry = at(next_++);
  entry.exchange = query;
  entry.key = key;
  entry.expiresAt = nowNs + kLifetimeNs;
  entry.waiting = true;
  return result;
}

bool PendingDnsQueries::answer(const DnsExchange& reply, std::uint64_t nowNs) {
  const std::uint64_t key = keyOf(reply);
  std::lock_guard lock(mutex_);
  Entry* entry = find(reply, key, nowNs);
  if (entry) entry->waiting = false;
  dropExpired(nowNs);
  return entry != nullptr;
}

std::size_t PendingDnsQueries::pending(std::uint64_t nowNs) {
  std::lock_guard lock(mutex_);
  dropExpired(nowNs);
  std::size_t count = 0;
  for (std::uint64_t s = oldest_; s != next_; ++s) {
    const Entry& entry = at(s);
    count += entry.waiting && entry.expiresAt > nowNs ? 1 : 0;
  }
  return count;
}

}  // namespace warden::engine
