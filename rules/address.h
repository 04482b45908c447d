#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rules/verdict.h"

namespace warden::rules {

// An IPv4 or IPv6 address. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) so that one
// 16-byte comparison serves both families.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};

  // a.b.c.d, in its IPv4-mapped form.
  static constexpr IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    IpAddress address;
    address.bytes[10] = 0xff;
    address.bytes[11] = 0xff;
    address.bytes[12] = a;
    address.bytes[13] = b;
    address.bytes[14] = c;
    address.bytes[15] = d;
    return address;
  }
  static IpAddress fromV4(std::uint32_t networkOrder);
  static IpAddress fromV6(const std::uint8_t (&raw)[16]);
  static std::optional<IpAddress> parse(std::string_view text);

  bool isV4() const;
  std::string toString() const;
  auto operator<=>(const IpAddress&) const = default;
};

// An address block such as 192.0.2.0/24 or 2001:db8::/32; a bare address is a /32 or /128.
struct Cidr {
  IpAddress base;
  int prefix = 128;  // over the 128-bit (mapped) form

  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& address) const;
};

// localhost: loopback; lan: private, link-local, unique-local and multicast; otherwise internet.
Scope scopeOf(const IpAddress& remote);

}  // namespace warden::rules
