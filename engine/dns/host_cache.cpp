#include "engine/dns/host_cache.h"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <functional>
#include <new>
#include <optional>
#include <type_traits>

#include "base/bit_mix.h"
#include "base/clock.h"

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

// Whether the name words of a slot (only this writer's thread stores them) spell `name`.
bool sameWords(const std::uint64_t* stored, std::string_view name) {
  std::uint64_t words[kNameWords] = {};
  std::memcpy(words, name.data(), name.size());
  for (std::size_t i = 0; i < (name.size() + 7) / 8; ++i) {
    const std::uint64_t word = std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(stored[i]))
                                   .load(std::memory_order_relaxed);
    if (word != words[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

// Every field is a word read and written atomically (std::atomic_ref), relaxed between the
// sequence's fences (the C++ form of a seqlock: no data race even while a reader overlaps a
// writer). An odd sequence means a writer is inside; a reader that sees the sequence change
// throws its copy away. Plain integers, so that the slots can live in pages the kernel hands
// out zeroed (all zero is every slot's "never set" state) and only become resident, 64 bytes
// a slot at a time, as answers fill them: no 1.3 MB touched up front for a cache mostly empty.
struct alignas(64) HostCache::Slot {
  std::uint32_t sequence;
  std::uint64_t addressHigh;
  std::uint64_t addressLow;
  std::uint64_t expiresAt;  // seconds on nowSeconds()'s clock; 0 = never set
  std::uint64_t length;
  std::uint64_t name[kNameWords];
};

namespace {

template <typename T>
T load(const T& word, std::memory_order order = std::memory_order_relaxed) {
  return std::atomic_ref<T>(const_cast<T&>(word)).load(order);
}
template <typename T>
void store(T& word, std::type_identity_t<T> value,
           std::memory_order order = std::memory_order_relaxed) {
  std::atomic_ref<T>(word).store(value, order);
}

}  // namespace

void HostCache::Unmap::operator()(Slot* slots) const { munmap(slots, bytes); }

HostCache::HostCache(std::size_t capacity) {
  static_assert(std::is_trivially_default_constructible_v<Slot> &&
                std::is_trivially_destructible_v<Slot>);
  const std::size_t size = std::bit_ceil(std::max(capacity, kWindow));
  const std::size_t bytes = size * sizeof(Slot);
  void* pages = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pages == MAP_FAILED) throw std::bad_alloc();
  // Zeroed pages hold `size` never-set slots: trivial types, whose lifetime the storage begins.
  slots_ = std::unique_ptr<Slot[], Unmap>(static_cast<Slot*>(pages), Unmap{bytes});
  mask_ = size - 1;
}

HostCache::~HostCache() = default;

std::uint64_t HostCache::nowSeconds() {
  return base::clockNs(CLOCK_MONOTONIC_COARSE) / 1'000'000'000;
}

std::size_t HostCache::home(const rules::IpAddress& address) const {
  const AddressWords w = wordsOf(address);
  const std::uint64_t h =
      base::mixBits((w.high * 0x9e3779b97f4a7c15ull) ^ (w.low * 0xc2b2ae3d27d4eb4full));
  return static_cast<std::size_t>(h) & mask_;
}

void HostCache::record(const rules::IpAddress& address, std::string_view name, std::uint32_t ttl,
                       std::uint64_t nowSeconds) {
  if (name.empty() || name.size() > DnsName::kMaxLength) return;
  {  // The pair is confirmed now: a refusal of it ends.
    const std::scoped_lock refusals(refusalsMutex_);
    if (Refusal* refusal = refusalOf(address, std::hash<std::string_view>{}(name), nowSeconds,
                                     /*take=*/false)) {
      refusal->expiresAt = 0;
    }
  }
  const std::uint64_t expires = nowSeconds + std::clamp(ttl, kMinTtl, kMaxTtl);
  const AddressWords want = wordsOf(address);

  std::unique_lock lock(writer_);
  // The address's own slot if it has one; else a free or expired slot; else the one that
  // would expire first. Only this thread writes, so relaxed reads see the current values.
  Slot* chosen = nullptr;
  Slot* free = nullptr;
  Slot* oldest = nullptr;
  const std::size_t base = home(address);
  for (std::size_t i = 0; i < kWindow; ++i) {
    Slot& slot = slots_[(base + i) & mask_];
    const std::uint64_t slotExpires = load(slot.expiresAt, std::memory_order_relaxed);
    if (slotExpires != 0 && load(slot.addressHigh, std::memory_order_relaxed) == want.high &&
        load(slot.addressLow, std::memory_order_relaxed) == want.low) {
      chosen = &slot;
      break;
    }
    if (!free && slotExpires <= nowSeconds) free = &slot;
    if (!oldest || slotExpires < load(oldest->expiresAt, std::memory_order_relaxed)) {
      oldest = &slot;
    }
  }
  const bool own = chosen != nullptr;
  if (!chosen) chosen = free ? free : oldest;
  const std::uint64_t replacedExpires = load(chosen->expiresAt, std::memory_order_relaxed);
  if (replacedExpires == 0) {
    entries_.fetch_add(1, std::memory_order_relaxed);
  }
  // What changes, told to the observer once the new name is in place (so that whatever it
  // retires was decided before, with the old name: see KernelVerdicts::forgetAddress).
  const bool renamed = !own || replacedExpires <= nowSeconds ||
                       load(chosen->length, std::memory_order_relaxed) != name.size() ||
                       !sameWords(chosen->name, name);
  std::optional<rules::IpAddress> evicted;
  if (!own && replacedExpires > nowSeconds) {  // an unexpired name of another address gives way
    const std::uint64_t words[2] = {load(chosen->addressHigh, std::memory_order_relaxed),
                                    load(chosen->addressLow, std::memory_order_relaxed)};
    evicted.emplace();
    std::memcpy(evicted->bytes.data(), words, sizeof words);
  }

  std::uint64_t words[kNameWords] = {};
  std::memcpy(words, name.data(), name.size());
  const std::uint32_t sequence = load(chosen->sequence, std::memory_order_relaxed);
  store(chosen->sequence, sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  store(chosen->addressHigh, want.high, std::memory_order_relaxed);
  store(chosen->addressLow, want.low, std::memory_order_relaxed);
  store(chosen->expiresAt, expires, std::memory_order_relaxed);
  store(chosen->length, name.size(), std::memory_order_relaxed);
  for (std::size_t i = 0; i < (name.size() + 7) / 8; ++i) {
    store(chosen->name[i], words[i], std::memory_order_relaxed);
  }
  store(chosen->sequence, sequence + 2, std::memory_order_release);
  // Outside the lock: the observer makes a syscall, and other workers' DNS replies wait for it.
  lock.unlock();
  if (onChange_) {
    if (renamed) onChange_(address);
    if (evicted) onChange_(*evicted);
  }
}

HostCache::SlotRead HostCache::readSlot(const Slot& slot, const rules::IpAddress& address,
                                        DnsName& out, std::uint64_t nowSeconds) const {
  const AddressWords want = wordsOf(address);
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    const std::uint32_t before = load(slot.sequence, std::memory_order_acquire);
    if (before & 1) continue;  // a writer is inside: its few stores take nanoseconds
    const bool same = load(slot.addressHigh, std::memory_order_relaxed) == want.high &&
                      load(slot.addressLow, std::memory_order_relaxed) == want.low;
    const std::uint64_t expires = load(slot.expiresAt, std::memory_order_relaxed);
    const std::uint64_t length = load(slot.length, std::memory_order_relaxed);
    const bool found = same && expires > nowSeconds && length > 0 && length <= DnsName::kMaxLength;
    std::uint64_t words[kNameWords];
    if (found) {
      for (std::size_t i = 0; i < (length + 7) / 8; ++i) {
        words[i] = load(slot.name[i], std::memory_order_relaxed);
      }
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (load(slot.sequence, std::memory_order_relaxed) != before) continue;  // torn: again
    if (!found) return expires == 0 ? SlotRead::kNeverSet : SlotRead::kOther;
    std::memcpy(out.text.data(), words, length);
    out.length = static_cast<std::uint8_t>(length);
    out.expiresAt = expires;
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

// A pair's places: kRefusalWindow in a row from its hash's. Under refusalsMutex_.
HostCache::Refusal* HostCache::refusalOf(const rules::IpAddress& address, std::uint64_t name,
                                         std::uint64_t now, bool take) const {
  constexpr std::size_t kRefusalWindow = 8;
  const std::size_t base = static_cast<std::size_t>(base::mixBits(home(address) ^ name));
  Refusal* oldest = nullptr;
  for (std::size_t i = 0; i < kRefusalWindow; ++i) {
    Refusal& place = refusals_[(base + i) % refusals_.size()];
    if (place.expiresAt > now && place.name == name && place.address == address) return &place;
    if (!oldest || place.expiresAt < oldest->expiresAt) oldest = &place;
  }
  return take ? oldest : nullptr;
}

void HostCache::refuse(const rules::IpAddress& address, std::string_view name, std::uint32_t ttl,
                       std::uint64_t nowSeconds) {
  const std::uint64_t hash = std::hash<std::string_view>{}(name);
  const std::scoped_lock lock(refusalsMutex_);
  Refusal* place = refusalOf(address, hash, nowSeconds, /*take=*/true);
  const bool same =
      place->expiresAt > nowSeconds && place->name == hash && place->address == address;
  const std::uint64_t expires = nowSeconds + std::clamp(ttl, kMinTtl, kMaxTtl);
  place->address = address;
  place->name = hash;
  place->expiresAt = same ? std::max(place->expiresAt, expires) : expires;
}

bool HostCache::refused(const rules::IpAddress& address, std::string_view name,
                        std::uint64_t nowSeconds) const {
  const std::scoped_lock lock(refusalsMutex_);
  return refusalOf(address, std::hash<std::string_view>{}(name), nowSeconds, /*take=*/false) !=
         nullptr;
}

}  // namespace warden::engine
