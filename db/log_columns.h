#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "db/log_row.h"
#include "rules/config.h"

namespace warden::db {

// The words verdict_log stores for enumerations, and back. Each parse accepts exactly what
// the matching toString produces.

std::string_view toString(DecidedBy decidedBy);
std::optional<DecidedBy> parseDecidedBy(std::string_view text);

// "tcp", "udp", "icmp", "icmpv6", "sctp", or the protocol number for anything else.
std::string protocolName(std::uint8_t ipProto);

}  // namespace warden::db
