#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "engine/verdict/prompt_broker.h"
#include "rules/verdict.h"

namespace warden::engine {

// The lines of a prompt client's connection (control_protocol.h tells how it starts). Pure,
// so that the tests read and write them without a socket.

// {"version":1,"ok":true,"prompt":{"timeout":S,"hold":N}}: the first line a client gets.
std::string promptGreeting(std::uint32_t timeoutS, std::uint32_t hold);

// {"event":"question","id":N,"pid":P,"uid":U,"user":...,"exe":...,"argv":[...],
//  "parent":...|null,"tags":[...],"direction":"out"|"in","proto":"tcp"|...,"remote":ADDR,
//  "remote_port":N,"local":ADDR,"local_port":N,"host":NAME|null,"timeout_ms":M}
// `nowNs` (monotonic) gives the time left before the question's deadline.
std::string questionLine(const PromptQuestion& question, std::uint64_t nowNs);

// {"event":"closed","id":N,"reason":"answered"|"timeout"|"released"}
std::string closedLine(std::uint64_t id, PromptOutcome outcome);

struct PromptAnswer {
  std::uint64_t id = 0;
  rules::Action action = rules::Action::kAllow;
  PromptScope scope = PromptScope::kOnce;
};
// {"answer":N,"action":"allow"|"deny","scope":"once"|"restart"}; the error says what is wrong.
std::expected<PromptAnswer, std::string> parsePromptAnswer(std::string_view line);

// {"event":"answer","id":N,"ok":true} or {"event":"answer","id":N,"ok":false,"error":...}.
std::string answerReply(std::uint64_t id, PromptBroker::Answered result);
std::string answerRefusal(std::string_view error);

}  // namespace warden::engine
