#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace warden::engine {

// What tags may rest on (TagInput): facts of the file system that only root (`owner`; tests:
// their own uid) could have made, read with stat(2).

// Whether `dir` is a directory of `owner`'s that nobody else may write.
bool ownedOnlyBy(const std::string& dir, std::uint32_t owner);

// The leading components of `cgroupPath` (relative to the cgroup v2 mount `cgroupRoot`) whose
// names only `owner` could have chosen: making a cgroup takes write access to its parent, so a
// component counts while every directory above it is `owner`'s alone. The first one that is
// not (a subtree systemd hands to a user's manager, a container's) ends it. "" when none.
std::string trustedCgroupPath(const std::string& cgroupRoot, std::string_view cgroupPath,
                              std::uint32_t owner);

// Whether the process's executable, `path` as it sees it inside a Flatpak sandbox
// ("/app/...") and the kernel's (kernelDev, inode), is that file of the system-wide
// installation of app `appId` under `flatpakRoot` (<root>/app/<id>/<arch>/<branch>/<commit>/
// files), every directory on the way `owner`'s alone. A per-user installation is its user's
// to change and does not count.
// (kernelDev, inode, ctimeNs) as the kernel's record names the image: a device that is not
// stat(2)'s (btrfs subvolumes) is made up for by the ctime.
bool flatpakInstalled(const std::string& flatpakRoot, const std::string& appId,
                      std::string_view path, std::uint32_t kernelDev, std::uint64_t inode,
                      std::uint64_t ctimeNs, std::uint32_t owner);

}  // namespace warden::engine
