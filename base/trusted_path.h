#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace warden::base {

// What root may take a path's word for. A file root reads (a policy file, the database, the
// control socket) is only as safe as every directory on the way to it: whoever can write one
// of them can rename another file into its place, or a symbolic link into the way, and the
// file root opens is then theirs (found by attack: a group-writable parent of profiles.d let a
// user swap the whole directory for another).
// Why someone other than root could change what `path` names, or nullopt: a directory on the
// way to it (from /, through the targets of the symbolic links met, up to the one that holds
// its last component) is not root's, or is writable by group or others without the sticky
// bit (/tmp), or a sticky directory's entry on the way (the last component's too) is not
// root's. The last component's own owner and mode are the caller's to judge. Components that
// do not exist end the walk without complaint: opening them fails anyway. Reads only (lstat,
// readlink); its answer holds for as long as only root changes those directories.
std::optional<std::string> whyOthersCanRedirect(const std::filesystem::path& path);

// Whether a directory's own sticky bit makes it safe (see whyOthersCanChange).
enum class Sticky : bool {
  kTrusted,  // root's entries in it are root's alone: enough for one file root makes there
  kRefused,  // anyone may still add a new name there first (a database's -wal file)
};

// whyOthersCanRedirect(dir), then `dir` itself: root's, and writable by neither group nor
// others (unless sticky, where `sticky` allows it). For a directory root keeps its files in.
std::optional<std::string> whyOthersCanChange(const std::filesystem::path& dir, Sticky sticky);

}  // namespace warden::base
