#include "engine/verdict/process_explanation.h"

#include <nlohmann/json.hpp>

namespace warden::engine {

std::optional<nlohmann::json> explainProcess(Attributor& attributor, std::uint32_t pid,
                                             const rules::CompiledPolicy& policy) {
  const auto process = attributor.describePid(pid);
  if (!process) return std::nullopt;
  nlohmann::json out = attributor.explainJson(*process);
  if (process->match) explainProfile(policy, *process->match, out);
  return out;
}

void explainProfile(const rules::CompiledPolicy& policy, const rules::ProcessInfo& process,
                    nlohmann::json& out) {
  const rules::ProfileSelection selection = policy.selectProfile(process);
  if (selection.profile < 0) {
    out["profile"] = nullptr;
    out["profile_reason"] = "no profile's [[match]] holds: the engine default applies";
    return;
  }
  const rules::Profile& profile =
      policy.policy().profiles[static_cast<std::size_t>(selection.profile)];
  const rules::Match& match = profile.matches[static_cast<std::size_t>(selection.match)];
  out["profile"] = {{"name", profile.name},           {"file", profile.file},
                    {"match_index", selection.match}, {"match_line", match.where.line},
                    {"score", selection.score},       {"revision", policy.revision()}};
}

}  // namespace warden::engine
