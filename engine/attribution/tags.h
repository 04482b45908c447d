#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/attribution/interpreter_script.h"

namespace warden::engine {

// What the tag rules look at; views into a ProcessDescription (or test data).
struct TagInput {
  std::string_view path;  // the executable
  const std::vector<std::string>* argv = nullptr;
  const std::vector<std::string>* env = nullptr;  // "KEY=value"; null when unknown
  std::string_view cwd;                           // resolves a relative script path
  std::string_view cgroupPath;                    // cgroup v2 path
};

// The tags of SPEC section 5, each at most once, in a fixed order: flatpak, snap, appimage,
// systemd, container, script. Pure.
std::vector<std::string> computeTags(const TagInput& input);

// The pieces, exposed for tests and for `warden explain`.
std::optional<std::string> flatpakAppId(std::string_view cgroupPath,
                                        const std::vector<std::string>* env);
std::optional<std::string> snapName(std::string_view path, std::string_view cgroupPath,
                                    const std::vector<std::string>* env);
std::optional<std::string> appImagePath(std::string_view path, const std::vector<std::string>* env);
std::optional<std::string> systemdUnit(std::string_view cgroupPath);
std::optional<std::string> containerId(std::string_view cgroupPath);

}  // namespace warden::engine
