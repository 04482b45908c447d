#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace warden::engine {

// The mount point of the first filesystem of type `fsType` in /proc/self/mountinfo text
// (octal escapes such as \040 decoded), or nullopt.
std::optional<std::string> findMountPoint(std::string_view mountinfo, std::string_view fsType);

// Where cgroup v2 is mounted in this mount namespace: /sys/fs/cgroup on unified systems,
// /sys/fs/cgroup/unified on hybrid ones. Reads /proc/self/mountinfo.
[[nodiscard]] base::Result<std::string> cgroup2MountPoint();

// The cgroup v2 directory the attribution hooks attach to: `configured` as is, or the cgroup2
// mount point for "auto". When this mount namespace has no cgroup2 mount at all (as under
// `ip netns exec`, which mounts a fresh /sys), "auto" mounts the hierarchy on /sys/fs/cgroup
// (or a directory under /run/warden) first: it is the same hierarchy wherever it is mounted.
[[nodiscard]] base::Result<std::string> resolveAttachCgroup(std::string_view configured);

// Makes sure tracefs is reachable at /sys/kernel/tracing (tracepoint programs need the event
// ids under it): mounts it there when it is missing. Returns true when it mounted it.
[[nodiscard]] base::Result<bool> ensureTracefs();

}  // namespace warden::engine
