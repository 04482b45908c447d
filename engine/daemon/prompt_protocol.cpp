#include "engine/daemon/prompt_protocol.h"

#include <nlohmann/json.hpp>

#include "db/log_columns.h"

namespace warden::engine {
namespace {

using nlohmann::json;

// As control answers: a process's argv or path is any bytes its owner chose; bad UTF-8 gets
// U+FFFD rather than an exception.
std::string line(const json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

json orNull(const std::string& text) { return text.empty() ? json() : json(text); }

}  // namespace

std::string promptGreeting(std::uint32_t timeoutS, std::uint32_t hold) {
  return line({{"version", 1}, {"ok", true}, {"prompt", {{"timeout", timeoutS}, {"hold", hold}}}});
}

std::string questionLine(const PromptQuestion& q, std::uint64_t nowNs) {
  const std::uint64_t leftNs = q.deadlineNs > nowNs ? q.deadlineNs - nowNs : 0;
  return line({{"event", "question"},
               {"id", q.id},
               {"pid", q.pid},
               {"uid", q.uid},
               {"user", orNull(q.user)},
               {"exe", q.target.exe},
               {"exe_on_host", q.exeOnHost},
               {"exe_dev", q.exeDevice},
               {"exe_ino", q.exeInode},
               {"exe_ctime_ns", q.exeCtimeNs},
               {"argv", q.argv},
               {"parent", orNull(q.parent)},
               {"tags", q.tags},
               {"direction", rules::toString(q.flow.direction)},
               {"proto", db::protocolName(q.flow.ipProto)},
               {"remote", q.flow.remote.toString()},
               {"remote_port", q.flow.remotePort},
               {"local", q.flow.local.toString()},
               {"local_port", q.flow.localPort},
               {"host", orNull(q.target.host)},
               {"timeout_ms", leftNs / 1'000'000},
               {"queue", q.queue}});
}

std::string closedLine(std::uint64_t id, PromptOutcome outcome) {
  const char* reason = outcome == PromptOutcome::kAnswered   ? "answered"
                       : outcome == PromptOutcome::kTimedOut ? "timeout"
                                                             : "released";
  return line({{"event", "closed"}, {"id", id}, {"reason", reason}});
}

std::expected<PromptAnswer, std::string> parsePromptAnswer(std::string_view text) {
  const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return std::unexpected("an answer is a JSON object");
  PromptAnswer answer;
  const auto id = parsed.find("answer");
  if (id == parsed.end() || !id->is_number_unsigned() || id->get<std::uint64_t>() == 0) {
    return std::unexpected("\"answer\" must be the question's id");
  }
  answer.id = id->get<std::uint64_t>();
  const auto action = parsed.find("action");
  if (action != parsed.end() && *action == "allow") {
    answer.action = rules::Action::kAllow;
  } else if (action != parsed.end() && *action == "deny") {
    answer.action = rules::Action::kDeny;
  } else {
    return std::unexpected("\"action\" must be \"allow\" or \"deny\"");
  }
  const auto scope = parsed.find("scope");
  if (scope == parsed.end() || *scope == "once") {
    answer.scope = PromptScope::kOnce;
  } else if (*scope == "restart") {
    answer.scope = PromptScope::kUntilRestart;
  } else {
    return std::unexpected("\"scope\" must be \"once\" or \"restart\"");
  }
  return answer;
}

std::string answerReply(std::uint64_t id, PromptBroker::Answered result) {
  json reply = {{"event", "answer"}, {"id", id}, {"ok", result == PromptBroker::Answered::kDone}};
  if (result == PromptBroker::Answered::kAnsweredElsewhere) {
    reply["error"] = "answered elsewhere";
  } else if (result == PromptBroker::Answered::kTooLate) {
    reply["error"] = "too late: the question timed out or was released with the engine verdict";
  } else if (result == PromptBroker::Answered::kNoSuchQuestion) {
    reply["error"] = "no such question";
  }
  return line(reply);
}

std::string answerRefusal(std::string_view error) {
  return line({{"event", "answer"}, {"ok", false}, {"error", error}});
}

}  // namespace warden::engine
