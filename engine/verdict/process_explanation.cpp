#include "engine/verdict/process_explanation.h"

#include <netinet/in.h>

#include <nlohmann/json.hpp>

namespace warden::engine {

std::optional<nlohmann::json> explainProcess(Attributor& attributor, std::uint32_t pid,
                                             const rules::CompiledPolicy& policy,
                                             const KernelVerdicts* held) {
  const auto process = attributor.describePid(pid);
  if (!process) return std::nullopt;
  nlohmann::json out = attributor.explainJson(*process);
  if (process->match) explainProfile(policy, *process->match, out);
  if (held) {
    nlohmann::json entries = nlohmann::json::array();
    for (const HeldEntry& entry : held->entriesOf(process->key.pid, process->key.startTicks)) {
      entries.push_back({{"action", rules::toString(entry.action)},
                         {"protocol", entry.protocol == IPPROTO_TCP ? "tcp" : "udp"},
                         {"remote", entry.remote.toString()},
                         {"port", entry.remotePort},
                         {"hits", entry.hits},
                         {"expires_in_s", entry.expiresInNs / 1'000'000'000}});
    }
    out["kernel_verdicts"] = std::move(entries);
  }
  return out;
}

void explainProfile(const rules::CompiledPolicy& policy, const rules::ProcessInfo& process,
                    nlohmann::json& out) {
  const rules::ProfileSelection selection = policy.selectProfile(process);
  if (selection.unsettled()) {
    out["profile"] = nullptr;
    out["profile_unsettled"] = true;
    out["profile_reason"] =
        selection.digestPending
            ? "its image is being hashed, and a profile that pins sha256 may be its: until the "
              "hash is known its flows get the engine `unknown` verdict"
            : "its command line or environment was read only in part, and a profile whose "
              "[[match]] needs the rest may be its: its flows get the engine `unknown` verdict";
    return;
  }
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
