#pragma once

#include <cstdint>
#include <string_view>

#include "rules/address.h"
#include "rules/verdict.h"

namespace warden::rules {

// The network side of a new connection, as the decision sees it. `ipProto` is the IP
// protocol number (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, ...).
// For outbound flows "remote" is the destination; for inbound flows it is the source.
struct Flow {
  Direction direction = Direction::kOut;
  std::uint8_t ipProto = 0;
  IpAddress local;
  IpAddress remote;
  std::uint16_t localPort = 0;
  std::uint16_t remotePort = 0;
  std::string_view host;  // remote host name learned from DNS, empty if unknown
};

}  // namespace warden::rules
