#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "rules/config.h"
#include "rules/diagnostic.h"

namespace warden::rules {

// warden.toml as read, errors or not: lets loadPolicy go on to the profiles after an
// error elsewhere in warden.toml, so that one run reports every error. Internal to rules/.
struct ConfigDraft {
  std::optional<Config> config;  // absent after a TOML syntax error
  Diagnostics diagnostics;       // errors and warnings, in file order
  bool failed = false;
  bool profilesDirKnown = false;  // config->profilesDir is what the file says (or the default)
};

ConfigDraft readConfigDraft(std::string_view text, const std::filesystem::path& file);

}  // namespace warden::rules
