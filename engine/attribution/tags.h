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
  const std::vector<std::string>* env = nullptr;  // "KEY=value"; null when unknown
  std::string_view cwd;                           // resolves a relative script path
  // The cgroup v2 path's leading components whose names only root could have chosen: each
  // one's parent directory is root's and writable by no one else.
  std::string_view trustedCgroupPath;
  std::string_view flatpakApp;  // the app whose installation holds the executable ("": none)
};

// The tags of SPEC section 5, each at most once, in a fixed order: flatpak, snap, appimage,
// systemd, container, script. Pure.
std::vector<std::string> computeTags(const TagInput& input);

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
