#include "engine/daemon/control_protocol.h"

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

// "version" read as the protocol always has (a number, even a boolean, converted to int); any
// other type is no version. json::value would throw for it, and stop wardend.
int versionOf(const json& request) {
  const auto version = request.find("version");
  if (version == request.end() || !(version->is_number() || version->is_boolean())) return 0;
  return version->get<int>();
}

}  // namespace

std::expected<ControlRequest, std::string> parseControlRequest(std::string_view line) {
  const json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("command") || !parsed["command"].is_string()) {
    return std::unexpected("malformed request: expected {\"version\":1,\"command\":\"...\"}");
  }
  if (versionOf(parsed) != kVersion) {
    return std::unexpected("unsupported protocol version");
  }
  const std::string command = parsed["command"];
  if (command == "status") return StatusRequest{};
  if (command == "explain") {  // process identification for `warden explain PID`
    if (!parsed.contains("pid") || !parsed["pid"].is_number_unsigned()) {
      return std::unexpected("explain needs a numeric \"pid\"");
    }
    return ExplainRequest{parsed["pid"].get<std::uint32_t>()};
  }
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
  if (const auto* explain = std::get_if<ExplainRequest>(&*request)) {
    auto process = commands.explain(explain->pid);
    if (!process) return refusal("no such process");
    return answer({{"process", std::move(*process)}});
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
