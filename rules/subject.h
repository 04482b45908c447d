#pragma once

#include <cstdint>
#include <optional>

#include "rules/process_info.h"
#include "rules/profile_selector.h"

namespace warden::rules {

// Whom a flow is decided for, as SPEC section 4 steps 2 to 4 tell them apart: nobody (the
// kernel), somebody unknown, or a described process. A small value that refers to what it was
// made from without copying it: those must outlive the CompiledPolicy::decide() call.
class Subject {
 public:
  enum class Kind : std::uint8_t {
    kKernel,   // no socket owns the flow: the engine `kernel` verdict
    kUnknown,  // a socket owns it, but no process is known well enough: the engine `unknown`
    kProcess,  // a described process: its profile decides
  };

  // A flow no socket owns (kernel-generated).
  static Subject kernel() { return Subject(Kind::kKernel, nullptr, nullptr); }
  // A flow whose socket has an owner that could not be named, or named but not described
  // well enough to judge (lacking knowledge must not be more permissive than knowing). No
  // profile applies.
  static Subject unknown() { return Subject(Kind::kUnknown, nullptr, nullptr); }
  // A flow of `process`, as attribution described it. Its profile is chosen only when no
  // global rule decides the flow. `remembered` (may be null) is where a caller that decides
  // many flows of the same process keeps that choice: a choice found there is used as it is
  // (it must have been made for this process by the same CompiledPolicy), and one made now is
  // left there for the next flow.
  static Subject process(const ProcessInfo& process,
                         std::optional<ProfileSelection>* remembered = nullptr) {
    return Subject(Kind::kProcess, &process, remembered);
  }

  Kind kind() const { return kind_; }
  // kProcess only.
  const ProcessInfo& processInfo() const { return *process_; }
  std::optional<ProfileSelection>* remembered() const { return remembered_; }

 private:
  Subject(Kind kind, const ProcessInfo* process, std::optional<ProfileSelection>* remembered)
      : kind_(kind), process_(process), remembered_(remembered) {}

  Kind kind_;
  const ProcessInfo* process_;
  std::optional<ProfileSelection>* remembered_;
};

}  // namespace warden::rules
