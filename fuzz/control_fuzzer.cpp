// The control protocol on any bytes a client could send: framing (ControlSession, the bytes fed
// in pieces of a size the input's length picks, then a hang-up), parsing and the
// answer, with a fake daemon whose answers carry the request's bytes (a process's path or argv
// is any bytes its owner chose, not always UTF-8). An exception stops wardend, so any that
// escapes is a finding (libFuzzer reports it as a crash). Every answer must be one JSON line
// with "ok", and an explain request must name the pid the JSON gave.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "engine/daemon/control_protocol.h"
#include "engine/daemon/control_session.h"

namespace {

using nlohmann::json;
using warden::engine::ControlCommands;

class FakeCommands : public ControlCommands {
 public:
  explicit FakeCommands(std::string_view bytes) : bytes_(bytes) {}

  json status() override { return {{"queues", json::array({bytes_})}, {"mode", "enforce"}}; }

  std::optional<json> explain(std::uint32_t pid) override {
    if (pid % 2 == 1) return std::nullopt;
    return json{{"pid", pid}, {"path", bytes_}};
  }

  std::expected<Reloaded, std::string> reloadPolicy(bool redecide) override {
    if (redecide && bytes_.size() % 2 == 1) return std::unexpected(bytes_);
    Reloaded reloaded;
    reloaded.revision = bytes_.size();
    if (redecide) reloaded.redecide = json{{"changed", bytes_}};
    return reloaded;
  }

 private:
  std::string bytes_;
};

void checkPid(std::string_view line, std::uint32_t pid) {
  const json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  const auto given = parsed.find("pid");
  if (given == parsed.end() || !given->is_number_unsigned()) std::abort();
  if (given->get<std::uint64_t>() != pid) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using Need = warden::engine::ControlSession::Need;
  // Small limits, so that the size bound is reached too.
  warden::engine::ControlLimits limits;
  limits.maxRequestBytes = 512;
  const std::size_t piece = 1 + size % 61;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  warden::engine::ControlSession session(0, limits);
  while (session.need() == Need::kBytes && !rest.empty()) {
    const std::size_t n = std::min({piece, rest.size(), session.room()});
    session.received(rest.substr(0, n), 0);
    rest.remove_prefix(n);
  }
  if (session.need() == Need::kBytes) session.hungUp();
  if (session.need() != Need::kAnswer) {
    // Only a request over the bound, or none at all, is not answered.
    const std::string_view refusal = session.output();
    if (session.need() == Need::kWrite && refusal.find('\n') + 1 != refusal.size()) std::abort();
    return 0;
  }
  const std::string line(session.request());
  if (line.size() >= limits.maxRequestBytes || line.find('\n') != std::string::npos) std::abort();

  const auto request = warden::engine::parseControlRequest(line);
  if (request) {
    if (const auto* explain = std::get_if<warden::engine::ExplainRequest>(&*request)) {
      checkPid(line, explain->pid);
    }
  }

  FakeCommands commands(line);
  const std::string answer = warden::engine::answerControlRequest(line, commands);
  if (answer.find('\n') != std::string::npos) std::abort();
  const json parsed = json::parse(answer, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("ok") || !parsed["ok"].is_boolean()) std::abort();
  // A request that does not parse is refused, with a reason.
  if (!request && (parsed["ok"].get<bool>() || !parsed.contains("error"))) std::abort();

  (void)warden::engine::socketRefusal(line);
  return 0;
}
