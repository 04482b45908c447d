#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/attribution/interpreter_script.h"

namespace warden::engine {

// What the tag rules look at; views into a ProcessDescription (or test data).
//
// Tags are identity, so they come only from what an unprivileged user cannot choose for a
// program of their own: not the environment, and not a cgroup they may create (systemd hands a
// user's manager its own subtree, user@UID.service, where any name can be made). The tracker
// says which leading part of the cgroup path only root could have named, whether the path is
// the host's file, and which Flatpak app's system-wide installation the executable belongs to.
struct TagInput {
  std::string_view path;    // the executable
  bool pathOnHost = false;  // `path` is the host's file at that path (see ProcessDescription)
  const std::vector<std::string>* argv = nullptr;
  bool argvCut = false;  // argv was read only in part (its last word may be cut short)
  const std::vector<std::string>* env = nullptr;  // "KEY=value"; null when unknown
  bool envCut = false;   // env was read only in part: what the interpreter runs cannot be told
  std::string_view cwd;  // resolves a relative script path
  // The cgroup v2 path's leading components whose names only root could have chosen: each
  // one's parent directory is root's and writable by no one else.
  std::string_view trustedCgroupPath;
  std::string_view flatpakApp;  // the app whose installation holds the executable ("": none)
};

// The tags of SPEC section 5, each at most once, in a fixed order: flatpak, snap, appimage,
// systemd, container, script. Pure.
std::vector<std::string> computeTags(const TagInput& input);

// Whether a `script:` tag is missing from `tags` only because argv or the environment was read
// in part: what was read names a script, and the rest may or may not let it be the whole
// program (rules::ProcessInfo::scriptTagCut). Pure.
bool scriptTagCut(const TagInput& input, const std::vector<std::string>& tags);

// The pieces, exposed for tests and for `warden explain`.
// The app a Flatpak scope's name ("app-flatpak-<id>-<n>.scope") claims: a claim only, which
// the tracker checks against the executable (TagInput::flatpakApp).
std::optional<std::string> flatpakAppId(std::string_view cgroupPath);
// The snap whose squashfs holds the executable: /snap/<name>/<revision>/..., the host's file.
std::optional<std::string> snapName(std::string_view path, bool pathOnHost);
// What the AppImage runtime's variable says, for an executable inside an AppImage's mount.
// A claim any program can make for itself (see README).
std::optional<std::string> appImagePath(std::string_view path, const std::vector<std::string>* env);
std::optional<std::string> systemdUnit(std::string_view trustedCgroupPath);
std::optional<std::string> containerId(std::string_view trustedCgroupPath);

}  // namespace warden::engine
