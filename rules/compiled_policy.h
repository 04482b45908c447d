#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "rules/compiled_rules.h"
#include "rules/decision.h"
#include "rules/diagnostic.h"
#include "rules/flow.h"
#include "rules/policy.h"
#include "rules/process_info.h"
#include "rules/profile_selector.h"
#include "rules/rule_hits.h"
#include "rules/subject.h"

namespace warden::rules {

// The policy in force: an immutable snapshot built from a validated Policy, shared by the
// worker threads through a shared_ptr and replaced whole on reload. decide() is
// thread-safe, takes no lock and allocates nothing in the steady state (a Subject's
// remembered selection is the caller's to guard).
class CompiledPolicy {
 public:
  // Builds the matcher. Fails only on input that loadPolicy would have refused. `previous`:
  // the policy this one replaces, whose hit counters of unchanged rules it takes over.
  static std::expected<std::shared_ptr<const CompiledPolicy>, Diagnostics> compile(
      Policy policy, std::uint64_t revision = 0, const CompiledPolicy* previous = nullptr);

  // SPEC section 4: the global rules, then what `subject` gets (the engine `kernel` or
  // `unknown` verdict, or what its process's profile says), under the engine's mode. The one
  // way a flow is decided.
  Decision decide(const Subject& subject, const Flow& flow) const;
  // A packet that could not be read as a flow: the engine `unknown` verdict. No global rule is
  // asked, for there is no flow to judge.
  Decision decideUnreadable() const;

  // Step 4 alone: the profile a process gets and through which [[match]]. It depends on the
  // process only (and is valid for this CompiledPolicy only), so an engine may keep it for
  // the process's next flows (Subject::process); `warden explain` shows it.
  ProfileSelection selectProfile(const ProcessInfo& process) const;

  // The counters of the rules and profile defaults. The engine records the decisions that
  // gave a flow its verdict (hits().record(), cheap and lock-free); decide() counts nothing,
  // so that asking again (re-deciding after a reload, a benchmark) does not inflate them.
  const RuleHits& hits() const { return hits_; }

  const Policy& policy() const { return policy_; }
  const Config& config() const { return policy_.config; }
  std::uint64_t revision() const { return revision_; }
  // Whether any profile pins a sha256; if not, the engine need never hash executables.
  bool usesSha256() const { return selector_->usesSha256(); }

 private:
  CompiledPolicy(Policy policy, std::uint64_t revision, const CompiledPolicy* previous);

  // Step 1 (global rules); fills `decision` and returns true if one matched.
  bool decideGlobal(const FlowView& flow, Decision& decision) const;
  Decision engineVerdict(Action action, DecidedBy by) const;
  // Step 4 for a kProcess subject: its remembered selection, else selectProfile().
  ProfileSelection selectionOf(const Subject& subject) const;
  // Step 5.
  Decision decideByProfile(const ProfileSelection& selection, const FlowView& flow) const;
  // Sets what the packet gets under `mode` (the engine's, or the deciding profile's).
  void finish(Decision& decision, Mode mode) const;

  Policy policy_;
  std::uint64_t revision_;
  CompiledRules globalRules_;
  std::vector<CompiledRules> profileRules_;
  // The profiles' names, made once so that decisions hand them out shared (Decision::
  // profileName) rather than to be copied.
  std::vector<std::shared_ptr<const std::string>> profileNames_;
  std::unique_ptr<ProfileSelector> selector_;
  RuleHits hits_;
};

}  // namespace warden::rules
