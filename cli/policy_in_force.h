#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>

#include "cli/exit_code.h"
#include "cli/policy_view.h"
#include "rules/config.h"

namespace warden::cli {

// The policy `warden profiles` and `warden rules` show: the revision wardend says is in
// force, read from the database it stored it in, so that what is shown is what runs. The
// [[match]] lines and the engine default come from the files when none of them changed
// after the revision was loaded. When wardend is not running, the policy files as they are
// now, with a note saying so. Notes go into PolicyView::notes.
[[nodiscard]] Outcome<PolicyView> policyInForce(const std::filesystem::path& configPath,
                                                const rules::Config& config);
// The same from warden.toml alone (readConfig), with the view's notes written to `err`.
[[nodiscard]] Outcome<PolicyView> policyInForce(const std::filesystem::path& configPath,
                                                std::ostream& err);

// Whether warden.toml, the profiles directory and every profile file in it were last
// modified at or before `ns` (ns since the epoch): then the files are what was loaded then.
bool filesUnchangedSince(const rules::Config& config, std::int64_t ns);

}  // namespace warden::cli
