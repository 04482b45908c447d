#include "rules/verdict.h"

#include <array>
#include <utility>

namespace warden::rules {
namespace {

template <typename E, std::size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

constexpr Names<Action, 3> kActions{
    {{Action::kAllow, "allow"}, {Action::kDeny, "deny"}, {Action::kReject, "reject"}}};
constexpr Names<Direction, 2> kDirections{{{Direction::kOut, "out"}, {Direction::kIn, "in"}}};
constexpr Names<Proto, 4> kProtos{
    {{Proto::kAny, "any"}, {Proto::kTcp, "tcp"}, {Proto::kUdp, "udp"}, {Proto::kIcmp, "icmp"}}};
constexpr Names<Scope, 3> kScopes{
    {{Scope::kLocalhost, "localhost"}, {Scope::kLan, "lan"}, {Scope::kInternet, "internet"}}};
constexpr Names<Mode, 2> kModes{{{Mode::kEnforce, "enforce"}, {Mode::kLearn, "learn"}}};

template <typename E, std::size_t N>
std::string_view nameOf(const Names<E, N>& names, E value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E, std::size_t N>
std::optional<E> valueOf(const Names<E, N>& names, std::string_view text) {
  for (const auto& [v, name] : names) {
    if (name == text) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view toString(Action action) { return nameOf(kActions, action); }
std::string_view toString(Direction direction) { return nameOf(kDirections, direction); }
std::string_view toString(Proto proto) { return nameOf(kProtos, proto); }
std::string_view toString(Scope scope) { return nameOf(kScopes, scope); }
std::string_view toString(Mode mode) { return nameOf(kModes, mode); }

std::optional<Action> parseAction(std::string_view text) { return valueOf(kActions, text); }
std::optional<Direction> parseDirection(std::string_view text) {
  return valueOf(kDirections, text);
}
std::optional<Proto> parseProto(std::string_view text) { return valueOf(kProtos, text); }
std::optional<Scope> parseScope(std::string_view text) { return valueOf(kScopes, text); }
std::optional<Mode> parseMode(std::string_view text) { return valueOf(kModes, text); }

}  // namespace warden::rules
