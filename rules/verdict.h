#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace warden::rules {

// What a rule, a profile default or an engine default decides for a flow.
enum class Action : std::uint8_t { kAllow, kDeny, kReject };

enum class Direction : std::uint8_t { kOut, kIn };

// Protocol a rule names; kIcmp covers ICMP and ICMPv6.
enum class Proto : std::uint8_t { kAny, kTcp, kUdp, kIcmp };

// Where the remote end of a flow is.
enum class Scope : std::uint8_t { kLocalhost, kLan, kInternet };

std::string_view toString(Action action);
std::string_view toString(Direction direction);
std::string_view toString(Proto proto);
std::string_view toString(Scope scope);

std::optional<Action> parseAction(std::string_view text);
std::optional<Direction> parseDirection(std::string_view text);
std::optional<Proto> parseProto(std::string_view text);
std::optional<Scope> parseScope(std::string_view text);

}  // namespace warden::rules
