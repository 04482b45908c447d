#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace warden::engine {

// wardend's control protocol, version 1 (cli/control_client.h is the other side): one JSON
// request line per connection, one JSON answer line back.
//   {"version":1,"command":"status"}                     -> "status": {...}
//   {"version":1,"command":"explain","pid":N}            -> "process": {...}
//   {"version":1,"command":"reload"[,"redecide":true]}   -> "revision": N[, "redecide": {...}]
//   {"version":1,"command":"hits"}                       -> "revision": N, "hits": [...]
// "hits" are the live hit counts of the policy in force, one object per counter in policy
// order: {"profile": NAME or "" for a global rule, "rule": index or -1 for the profile's
// default, "key": the counter's name (rules::HitKey), "hits": N, "last_ns": ns or 0 (never)}.
// Every answer has "version": 1 and "ok"; a refusal says why in "error". Pure: no sockets, so
// the tests drive it with a fake daemon (ControlServer does the socket's side).
//
// Prompt clients (`warden prompt`, engine/daemon/prompt_protocol.h has the lines):
//   {"version":1,"command":"prompt"}  -> {"version":1,"ok":true,"prompt":{"timeout":S,"hold":N}}
// and the connection stays open, without deadline, one JSON line per message each way:
//   wardend -> client  {"event":"question","id":N,"exe":...,"timeout_ms":M,...} (prompt_protocol.h)
//                      {"event":"closed","id":N,"reason":"answered"|"timeout"|"released"}
//                      {"event":"answer","id":N,"ok":true|false[,"error":"..."]}  (to the answerer)
//   client -> wardend  {"answer":N,"action":"allow"|"deny","scope":"once"|"restart"}
// Every question open when a client connects is sent to it after the greeting; the first
// answer to a question wins, a later one is told "answered elsewhere". Root only, like every
// control connection; at most ControlServer::kMaxPromptClients at once.

struct StatusRequest {
  bool operator==(const StatusRequest&) const = default;
};
struct ExplainRequest {
  std::uint32_t pid = 0;
  bool operator==(const ExplainRequest&) const = default;
};
struct ReloadRequest {
  bool redecide = false;  // also decide again the flows accepted before
  bool operator==(const ReloadRequest&) const = default;
};
struct HitsRequest {
  bool operator==(const HitsRequest&) const = default;
};
// Turns the connection into a prompt client's (see "Prompt clients" above).
struct PromptRequest {
  bool operator==(const PromptRequest&) const = default;
};
using ControlRequest =
    std::variant<StatusRequest, ExplainRequest, ReloadRequest, HitsRequest, PromptRequest>;

// One request line parsed; the error is the message the refusal gives.
[[nodiscard]] std::expected<ControlRequest, std::string> parseControlRequest(std::string_view line);

// What the daemon answers each command with. Called on the control thread only.
class ControlCommands {
 public:
  struct Reloaded {
    std::uint64_t revision = 0;              // the policy revision now in force
    std::optional<nlohmann::json> redecide;  // what deciding the accepted flows again did
  };

  virtual ~ControlCommands() = default;
  virtual nlohmann::json status() = 0;
  // nullopt when there is no such process to explain.
  virtual std::optional<nlohmann::json> explain(std::uint32_t pid) = 0;
  // The error is the refusal's message: nothing reloaded, or reloaded but not redecided.
  virtual std::expected<Reloaded, std::string> reloadPolicy(bool redecide) = 0;
  // {"revision": N, "hits": [...]} (see above).
  virtual nlohmann::json hits() = 0;
};

// The answer line (without its newline) to one request line, the command run on `commands`.
std::string answerControlRequest(std::string_view line, ControlCommands& commands);

// A refusal from the socket itself, before any request is read (the peer is not root).
std::string socketRefusal(std::string_view message);

// Framing: a request is the bytes up to the first newline, at most kMaxRequestBytes with it. A
// client that sends more without a newline is refused and read no further; one that shuts its
// side without a newline gets what it sent answered (ControlSession does this).
inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;

}  // namespace warden::engine
