#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string_view>

#include "rules/compiled_policy.h"
#include "rules/config.h"
#include "rules/profile_codec.h"

namespace warden::rules::testing {

inline constexpr std::string_view kConfigFile = "/t/warden.toml";
inline constexpr std::string_view kProfilesFile = "/t/profiles.d/test.toml";

// A policy from warden.toml text and one profiles file's text, parsed as the daemon would.
inline Policy policyFrom(std::string_view config, std::string_view profiles) {
  Policy policy;
  auto parsedConfig = parseConfig(config, kConfigFile);
  if (!parsedConfig) {
    for (const auto& d : parsedConfig.error()) ADD_FAILURE() << d.format();
    return policy;
  }
  policy.config = std::move(*parsedConfig);
  auto parsedProfiles = parseProfiles(profiles, kProfilesFile);
  if (!parsedProfiles) {
    for (const auto& d : parsedProfiles.error()) ADD_FAILURE() << d.format();
    return policy;
  }
  policy.profiles = std::move(*parsedProfiles);
  return policy;
}

inline std::shared_ptr<const CompiledPolicy> compile(std::string_view config,
                                                     std::string_view profiles) {
  auto compiled = CompiledPolicy::compile(policyFrom(config, profiles));
  EXPECT_TRUE(compiled);
  return compiled ? *compiled : nullptr;
}

}  // namespace warden::rules::testing
