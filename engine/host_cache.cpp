#include "engine/host_cache.h"

#include <time.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace warden::engine {
namespace {

constexpr std::size_t kWindow = 8;      // slots an address may live in, from its home slot
constexpr int kReadAttempts = 8;        // a slot being written is read again this often
constexpr std::size_t kNameWords = 32;  // 256 bytes, room for DnsName::kMaxLength
static_assert(kNameWords * 8 >= DnsName::kMaxLength);

struct AddressWords {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
};

AddressWords wordsOf(const rules::IpAddress& address) {
  AddressWords w;
  std::memcpy(&w.high, address.bytes.data(), 8);
  std::memcpy(&w.low, address.bytes.data() + 8, 8);
  return w;
}

}  // namespace

// Every field is an atomic word, read and written relaxed between the sequence's fences (the
// C++ form of a seqlock: no data race even while a reader overlaps a writer). An odd sequence
// means a writer is inside; a reader that sees the sequence change throws its copy away.
struct alignas(64) HostCache::Slot {
  std::atomic<std::uint32_t> sequence{0};
  std::atomic<std::uint64_t> addressHigh{0};
  std::atomic<std::uint64_t> addressLow{0};
  std::atomic<std::uint64_t> expiresAt{0};  // seconds on nowSeconds()'s clock; 0 = never set
  std::atomic<std::uint64_t> length{0};
  std::atomic<std::uint64_t> name[kNameWords] = {};
};

HostCache::HostCache(std::size_t capacity) {
  const std::size_t size = std::bit_ceil(std::max(capacity, kWindow));
  slots_ = std::make_unique<Slot[]>(size);
  mask_ = size - 1;
}

HostCache::~HostCache() = default;

std::uint64_t HostCache::nowSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec);
}

std::size_t HostCache::home(const rules::IpAddress& address) const {
  const AddressWords w = wordsOf(address);
  std::uint64_t h = (w.high * 0x9e3779b97f4a7c15ull) ^ (w.low * 0xc2b2ae3d27d4eb4full);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 29;
  return static_cast<std::size_t>(h) & mask_;
}

void HostCache::record(const rules::IpAddress& address, std::string_view name, std::uint32_t ttl,
                       std::uint64_t nowSeconds) {
  if (name.empty() || name.size() > DnsName::kMaxLength) return;
  const std::uint64_t expires = nowSeconds + std::clamp(ttl, kMinTtl, kMaxTtl);
  const AddressWords want = wordsOf(address);

  std::lock_guard lock(writer_);
  // The address's own slot if it has one; else a free or expired slot; else the one that
  // would expire first. Only this thread writes, so relaxed reads see the current values.
  Slot* chosen = nullptr;
  Slot* free = nullptr;
  Slot* oldest = nullptr;
  const std::size_t base = home(address);
  for (std::size_t i = 0; i < kWindow; ++i) {
    Slot& slot = slots_[(base + i) & mask_];
    const std::uint64_t slotExpires = slot.expiresAt.load(std::memory_order_relaxed);
    if (slotExpires != 0 && slot.addressHigh.load(std::memory_order_relaxed) == want.high &&
        slot.addressLow.load(std::memory_order_relaxed) == want.low) {
      chosen = &slot;
      break;
    }
    if (!free && slotExpires <= nowSeconds) free = &slot;
    if (!oldest || slotExpires < oldest->expiresAt.load(std::memory_order_relaxed)) {
      oldest = &slot;
    }
  }
  if (!chosen) chosen = free ? free : oldest;
  if (chosen->expiresAt.load(std::memory_order_relaxed) == 0) {
    entries_.fetch_add(1, std::memory_order_relaxed);
  }

  std::uint64_t words[kNameWords] = {};
  std::memcpy(words, name.data(), name.size());
  const std::uint32_t sequence = chosen->sequence.load(std::memory_order_relaxed);
  chosen->sequence.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  chosen->addressHigh.store(want.high, std::memory_order_relaxed);
  chosen->addressLow.store(want.low, std::memory_order_relaxed);
  chosen->expiresAt.store(expires, std::memory_order_relaxed);
  chosen->length.store(name.size(), std::memory_order_relaxed);
  for (std::size_t i = 0; i < (name.size() + 7) / 8; ++i) {
    chosen->name[i].store(words[i], std::memory_order_relaxed);
  }
  chosen->sequence.store(sequence + 2, std::memory_order_release);
}

HostCache::SlotRead HostCache::readSlot(const Slot& slot, const rules::IpAddress& address,
                                        DnsName& out, std::uint64_t nowSeconds) const {
  const AddressWords want = wordsOf(address);
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    const std::uint32_t before = slot.sequence.load(std::memory_order_acquire);
    if (before & 1) continue;  // a writer is inside: its few stores take nanoseconds
    const bool same = slot.addressHigh.load(std::memory_order_relaxed) == want.high &&
                      slot.addressLow.load(std::memory_order_relaxed) == want.low;
    const std::uint64_t expires = slot.expiresAt.load(std::memory_order_relaxed);
    const std::uint64_t length = slot.length.load(std::memory_order_relaxed);
    const bool found = same && expires > nowSeconds && length > 0 && length <= DnsName::kMaxLength;
    std::uint64_t words[kNameWords];
    if (found) {
      for (std::size_t i = 0; i < (length + 7) / 8; ++i) {
        words[i] = slot.name[i].load(std::memory_order_relaxed);
      }
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.sequence.load(std::memory_order_relaxed) != before) continue;  // torn: again
    if (!found) return expires == 0 ? SlotRead::kNeverSet : SlotRead::kOther;
    std::memcpy(out.text.data(), words, length);
    out.length = static_cast<std::uint8_t>(length);
    return SlotRead::kFound;
  }
  return SlotRead::kOther;  // a slot rewritten that often is as good as unknown for this flow
}

bool HostCache::lookup(const rules::IpAddress& address, DnsName& out,
                       std::uint64_t nowSeconds) const {
  out.length = 0;
  const std::size_t base = home(address);
  for (std::size_t i = 0; i < kWindow; ++i) {
    switch (readSlot(slots_[(base + i) & mask_], address, out, nowSeconds)) {
      case SlotRead::kFound:
        return true;
      case SlotRead::kNeverSet:
        // Slots are never emptied, and record() takes the first free slot of the window: an
        // address was never put past a slot that is still unset.
        return false;
      case SlotRead::kOther:
        break;
    }
  }
  return false;
}

}  // namespace warden::engine
