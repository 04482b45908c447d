#pragma once

#include <cstdint>

namespace warden::base {

// Spreads every bit of `x` over the whole result (a xor-shift, multiply, xor-shift finalizer),
// for tables that take a slot from a hash's low bits: integers hash to themselves in std::hash,
// and keys that differ only in high bits (a pid shifted up, an address's first words) would
// otherwise all land in one slot.
constexpr std::uint64_t mixBits(std::uint64_t x) {
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return x;
}

}  // namespace warden::base
