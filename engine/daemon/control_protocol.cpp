#include "engine/daemon/control_protocol.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

namespace warden::engine {
namespace {

using nlohmann::json;

constexpr int kVersion = 1;

// An answer line. Strings that are not UTF-8 (a process's argv or path is any bytes its owner
// chose) get U+FFFD for each bad byte: json::dump would throw, and stop wardend.
template <typename Json>
std::string line(const Json& answer) {
  return answer.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

// A command's refusal; like every command answer, its keys come out sorted (nlohmann::json).
std::string refusal(std::string_view message) {
  return line(json{{"version", kVersion}, {"ok", false}, {"error", message}});
}

std::string answer(json fields) {
  fields["version"] = kVersion;
  fields["ok"] = true;
  return line(fields);
}

// Whether "version" says 1 as the protocol always read it (a number, even a boolean, converted
// to int: true, 1.0 and 1.5 are 1); any other type is no version (json::value would throw for
// it, and stop wardend). Compared without converting to int: 1e300 to int is undefined, and
// 4294967297 wrapped to 1.
bool isKnownVersion(const json& request) {
  const auto version = request.find("version");
  if (version == request.end()) return false;
  if (version->is_boolean()) return static_cast<int>(version->get<bool>()) == kVersion;
  if (version->is_number_unsigned()) return version->get<std::uint64_t>() == kVersion;
  if (version->is_number_integer()) return version->get<std::int64_t>() == kVersion;
  if (version->is_number_float()) {
    const double value = version->get<double>();
    return value >= kVersion && value < kVersion + 1;  // false for NaN
  }
  return false;
}

// The pid of an explain request: an unsigned number a pid can be. A larger one wrapped into
// another process's pid (4294967297 explained pid 1).
std::optional<std::uint32_t> pidOf(const json& request) {
  const auto pid = request.find("pid");
  if (pid == request.end() || !pid->is_number_unsigned()) return std::nullopt;
  const auto value = pid->get<std::uint64_t>();
  if (value > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

}  // namespace

std::expected<ControlRequest, std::string> parseControlRequest(std::string_view line) {
  const json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("command") || !parsed["command"].is_string()) {
    return std::unexpected("malformed request: expected {\"version\":1,\"command\":\"...\"}");
  }
  if (!isKnownVersion(parsed)) {
    return std::unexpected("unsupported protocol version");
  }
  const std::string command = parsed["command"];
  if (command == "status") return StatusRequest{};
  if (command == "hits") return HitsRequest{};
  if (command == "explain") {  // process identification for `warden explain PID`
    const auto pid = pidOf(parsed);
    if (!pid) return std::unexpected("explain needs a numeric \"pid\"");
    return ExplainRequest{*pid};
  }
  if (command == "prompt") return PromptRequest{};
  if (command == "reload") {
    const auto redecide = parsed.find("redecide");
    if (redecide != parsed.end() && !redecide->is_boolean()) {
      return std::unexpected("\"redecide\" must be true or false; nothing was reloaded");
    }
    return ReloadRequest{redecide != parsed.end() && redecide->get<bool>()};
  }
  return std::unexpected("unknown command '" + command + "'");
}

std::string answerControlRequest(std::string_view line, ControlCommands& commands) {
  if (line.empty()) return socketRefusal("empty request");
  auto request = parseControlRequest(line);
  if (!request) return refusal(request.error());
  if (std::holds_alternative<StatusRequest>(*request)) {
    return answer({{"status", commands.status()}});
  }
  if (std::holds_alternative<HitsRequest>(*request)) return answer(commands.hits());
  if (const auto* explain = std::get_if<ExplainRequest>(&*request)) {
    auto process = commands.explain(explain->pid);
    if (!process) return refusal("no such process");
    return answer({{"process", std::move(*process)}});
  }
  if (std::holds_alternative<PromptRequest>(*request)) {
    // ControlServer turns such a connection into a prompt client's before it gets here.
    return refusal("prompt is a connection of its own: use `warden prompt`");
  }
  auto reloaded = commands.reloadPolicy(std::get<ReloadRequest>(*request).redecide);
  if (!reloaded) return refusal(reloaded.error());
  json fields = {{"revision", reloaded->revision}};
  if (reloaded->redecide) fields["redecide"] = std::move(*reloaded->redecide);
  return answer(std::move(fields));
}

std::string socketRefusal(std::string_view message) {
  // These refusals have always listed "version" first (command answers are sorted by key);
  // clients parse either, and the bytes stay as they were.
  return line(nlohmann::ordered_json{{"version", kVersion}, {"ok", false}, {"error", message}});
}

}  // namespace warden::engine
