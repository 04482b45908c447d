#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rules/verdict.h"

namespace warden::rules {

// What decided a flow (SPEC section 4), as the log names it.
enum class DecidedBy : std::uint8_t {
  kGlobalRule,      // a [[rule]] of warden.toml
  kProfileRule,     // a [[rule]] of the process's profile
  kProfileDefault,  // the `default` of the process's profile
  kEngineDefault,   // [engine] default: no profile, or a profile without default
  kUnknown,         // [engine] unknown: the socket has an owner but no process was found
  kKernel,          // [engine] kernel: no socket owns the flow
  kPrompt,          // an answer given through `warden prompt` (a process without profile)
};

std::string_view toString(DecidedBy by);

// The outcome of CompiledPolicy::decide. The string views and pointers point into the
// CompiledPolicy that made the decision and live as long as it does: keep its shared_ptr while
// using them.
struct Decision {
  Action action = Action::kAllow;    // the policy's verdict: what the log records
  Action enforced = Action::kAllow;  // what happens to the packet (allow in learn mode)
  DecidedBy by = DecidedBy::kEngineDefault;
  bool learn = false;              // mode = "learn": `enforced` is allow whatever `action` says
  bool log = true;                 // false when the deciding rule has `log = false`
  std::int32_t ruleIndex = -1;     // 0-based, among the global rules or the profile's rules
  std::int32_t profileIndex = -1;  // the process's profile, -1 if none (or not looked up)
  std::string_view profile;        // its name
  // The same name, for whoever keeps it longer than the policy lives: a verdict-log row shares
  // it (a reference count, no copy) until the writer thread has stored the row. Null: none.
  const std::shared_ptr<const std::string>* profileName = nullptr;
  std::string_view file;  // the file of the deciding rule or of the profile; empty otherwise
  int line = 0;           // of the deciding rule ([[rule]] header), 0 if not a rule
};

}  // namespace warden::rules
