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

namespace warden::rules {

// The policy in force: an immutable snapshot built from a validated Policy, shared by the
// worker threads through a shared_ptr and replaced whole on reload. decide() is
// thread-safe, takes no lock and allocates nothing in the steady state.
class CompiledPolicy {
 public:
  // Builds the matcher. Fails only on input that loadPolicy would have refused.
  static std::expected<std::shared_ptr<const CompiledPolicy>, Diagnostics> compile(
      Policy policy, std::uint64_t revision = 0);

  // SPEC section 4 for a flow whose socket has an owner. `process` is what attribution
  // found, or nullptr when no process could be attributed (the engine `unknown` verdict).
  Decision decide(const ProcessInfo* process, const Flow& flow) const;
  // A flow no socket owns (kernel-generated): global rules, then the engine `kernel` verdict.
  Decision decideKernel(const Flow& flow) const;

  // Step 4 alone: the profile a process gets and through which [[match]]. It depends on
  // the process only, so the engine may compute it once per process and policy (it is
  // valid for this CompiledPolicy only) and decide each flow with decideFor(); `warden
  // explain` shows it.
  ProfileSelection selectProfile(const ProcessInfo& process) const;
  // decide() for an attributed process whose selectProfile() result is already known.
  Decision decideFor(const ProfileSelection& selection, const Flow& flow) const;
  // decide() with the profile choice left to `select()` (returning a ProfileSelection), which
  // is called only when no global rule decides the flow, as decide() would choose it.
  template <typename Select>
  Decision decideWith(Select&& select, const Flow& flow) const {
    const FlowView view(flow);
    Decision decision;
    if (decideGlobal(view, decision)) return decision;
    return decideByProfile(select(), view);
  }

  const Policy& policy() const { return policy_; }
  const Config& config() const { return policy_.config; }
  std::uint64_t revision() const { return revision_; }
  // Whether any profile pins a sha256; if not, the engine need never hash executables.
  bool usesSha256() const { return selector_->usesSha256(); }

 private:
  CompiledPolicy(Policy policy, std::uint64_t revision);

  // Steps 1 (global rules); fills `decision` and returns true if one matched.
  bool decideGlobal(const FlowView& flow, Decision& decision) const;
  Decision engineVerdict(Action action, DecidedBy by) const;
  Decision decideByProfile(const ProfileSelection& selection, const FlowView& flow) const;
  void finish(Decision& decision) const;

  Policy policy_;
  std::uint64_t revision_;
  CompiledRules globalRules_;
  std::vector<CompiledRules> profileRules_;
  // The profiles' names, made once so that decisions hand them out shared (Decision::
  // profileName) rather than to be copied.
  std::vector<std::shared_ptr<const std::string>> profileNames_;
  std::unique_ptr<ProfileSelector> selector_;
};

}  // namespace warden::rules
