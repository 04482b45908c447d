#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace warden::rules {

// What a rule, a profile default or an engine default decides for a flow.
enum class Action : std::uint8_t { kAllow, kDeny, kReject };

enum class Direction : std::uint8_t { kOut, kIn };

// `mode` of the engine and of a profile: enforce the verdicts, or decide and log them but
// accept every flow (SPEC section 4).
enum class Mode : std::uint8_t { kEnforce, kLearn };

// Protocol a rule names; kIcmp covers ICMP and ICMPv6.
enum class Proto : std::uint8_t { kAny, kTcp, kUdp, kIcmp };

// Where the remote end of a flow is.
enum class Scope : std::uint8_t { kLocalhost, kLan, kInternet };

std::string_view toString(Action action);
std::string_view toString(Direction direction);
std::string_view toString(Proto proto);
std::string_view toString(Scope scope);
std::string_view toString(Mode mode);

std::optional<Action> parseAction(std::string_view text);
std::optional<Direction> parseDirection(std::string_view text);
std::optional<Proto> parseProto(std::string_view text);
std::optional<Scope> parseScope(std::string_view text);
std::optional<Mode> parseMode(std::string_view text);

}  // namespace warden::rules
