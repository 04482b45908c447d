#pragma once

#include <cstdint>
#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "engine/attribution/attributor.h"
#include "engine/verdict/kernel_verdicts.h"
#include "rules/compiled_policy.h"
#include "rules/process_info.h"

namespace warden::engine {

// `warden explain PID` (the control reply's "process" object): how attribution identifies the
// process (Attributor::explainJson), and the profile `policy` gives it (explainProfile). Null
// when no such process is known. With `held` (may be null), also "kernel_verdicts": the
// decisions held in the kernel for it. Reads /proc and may hash the image: control thread only.
std::optional<nlohmann::json> explainProcess(Attributor& attributor, std::uint32_t pid,
                                             const rules::CompiledPolicy& policy,
                                             const KernelVerdicts* held = nullptr);

// The profile `policy` gives `process` (SPEC section 4 step 4), into `out`: "profile" with its
// name, file, the [[match]] that chose it, the score and the policy revision; or "profile"
// null and "profile_reason" when no profile's [[match]] holds.
void explainProfile(const rules::CompiledPolicy& policy, const rules::ProcessInfo& process,
                    nlohmann::json& out);

}  // namespace warden::engine
