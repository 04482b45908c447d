#include "rules/compiled_policy.h"

namespace warden::rules {

CompiledPolicy::CompiledPolicy(Policy policy, std::uint64_t revision,
                               const CompiledPolicy* previous)
    : policy_(std::move(policy)),
      revision_(revision),
      globalRules_(policy_.config.globalRules),
      selector_(std::make_unique<ProfileSelector>(policy_.profiles)),
      hits_(policy_, previous != nullptr ? &previous->hits_ : nullptr) {
  profileRules_.reserve(policy_.profiles.size());
  profileNames_.reserve(policy_.profiles.size());
  for (const Profile& profile : policy_.profiles) {
    profileRules_.emplace_back(profile.rules);
    profileNames_.push_back(std::make_shared<const std::string>(profile.name));
  }
}

std::expected<std::shared_ptr<const CompiledPolicy>, Diagnostics> CompiledPolicy::compile(
    Policy policy, std::uint64_t revision, const CompiledPolicy* previous) {
  try {
    std::shared_ptr<const CompiledPolicy> compiled(
        new CompiledPolicy(std::move(policy), revision, previous));
    if (!compiled->selector_->errors().empty()) {
      return std::unexpected(compiled->selector_->errors());
    }
    return compiled;
  } catch (const std::exception& e) {
    return std::unexpected(
        Diagnostics{Diagnostic{Severity::kError, SourceLocation{},
                               std::string("cannot compile the policy: ") + e.what()}});
  }
}

void CompiledPolicy::finish(Decision& decision, Mode mode) const {
  decision.learn = mode == Mode::kLearn;
  decision.enforced = decision.learn ? Action::kAllow : decision.action;
}

Decision CompiledPolicy::engineVerdict(Action action, DecidedBy by) const {
  Decision decision;
  decision.action = action;
  decision.by = by;
  finish(decision, policy_.config.mode);
  return decision;
}

bool CompiledPolicy::decideGlobal(const FlowView& flow, Decision& decision) const {
  const std::int32_t index = globalRules_.firstMatch(flow);
  if (index < 0) return false;
  const Rule& rule = policy_.config.globalRules[index];
  decision.action = rule.action;
  decision.by = DecidedBy::kGlobalRule;
  decision.log = rule.log;
  decision.ruleIndex = index;
  decision.file = rule.where.file;
  decision.line = rule.where.line;
  finish(decision, policy_.config.mode);
  return true;
}

Decision CompiledPolicy::decide(const Subject& subject, const Flow& flow) const {
  const FlowView view(flow);
  Decision decision;
  if (decideGlobal(view, decision)) return decision;
  switch (subject.kind()) {
    case Subject::Kind::kKernel:
      return engineVerdict(policy_.config.kernelAction, DecidedBy::kKernel);
    case Subject::Kind::kUnknown:
      return engineVerdict(policy_.config.unknownAction, DecidedBy::kUnknown);
    case Subject::Kind::kProcess:
      break;
  }
  const ProfileSelection selection = selectionOf(subject);
  if (selection.unsettled()) {
    return engineVerdict(policy_.config.unknownAction, DecidedBy::kUnknown);
  }
  return decideByProfile(selection, view);
}

Decision CompiledPolicy::decideUnreadable() const {
  return engineVerdict(policy_.config.unknownAction, DecidedBy::kUnknown);
}

ProfileSelection CompiledPolicy::selectionOf(const Subject& subject) const {
  std::optional<ProfileSelection>* remembered = subject.remembered();
  if (remembered == nullptr) return selector_->select(subject.processInfo());
  if (*remembered) return **remembered;
  const ProfileSelection selection = selector_->select(subject.processInfo());
  if (!selection.digestPending) *remembered = selection;
  return selection;
}

Decision CompiledPolicy::decideByProfile(const ProfileSelection& selection,
                                         const FlowView& view) const {
  if (selection.profile < 0 ||
      static_cast<std::size_t>(selection.profile) >= policy_.profiles.size()) {
    return engineVerdict(policy_.config.defaultAction, DecidedBy::kEngineDefault);
  }
  Decision decision;
  const Profile& profile = policy_.profiles[selection.profile];
  decision.profileIndex = selection.profile;
  decision.profileName = &profileNames_[selection.profile];
  decision.profile = **decision.profileName;
  decision.file = profile.file;
  const std::int32_t index = profileRules_[selection.profile].firstMatch(view);
  if (index >= 0) {
    const Rule& rule = profile.rules[index];
    decision.action = rule.action;
    decision.by = DecidedBy::kProfileRule;
    decision.log = rule.log;
    decision.ruleIndex = index;
    decision.file = rule.where.file;  // a drop-in's rule names the drop-in
    decision.line = rule.where.line;
  } else if (profile.defaultAction) {
    decision.action = *profile.defaultAction;
    decision.by = DecidedBy::kProfileDefault;
  } else {
    decision.action = policy_.config.defaultAction;
    decision.by = DecidedBy::kEngineDefault;
  }
  // A profile's own mode covers whatever decided for it, its stand-in engine default included.
  finish(decision, profile.mode.value_or(policy_.config.mode));
  return decision;
}

ProfileSelection CompiledPolicy::selectProfile(const ProcessInfo& process) const {
  return selector_->select(process);
}

}  // namespace warden::rules
