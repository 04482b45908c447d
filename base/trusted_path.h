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
enum class Sticky : bool {
  kTrusted,  // a sticky directory (/tmp) is safe to pass when the entry taken from it is root's
  kRefused,  // even then refused: anyone may add a new name there (a database's -wal file)
};

// Why someone other than root could change what `path` names, or nullopt: a directory on the
// way to it (from /, through the targets of the symbolic links met, up to the one that holds
// its last component) is not root's, or is writable by group or others (sticky ones: see
// Sticky), or a sticky directory's entry on the way (the last component's too) is not root's.
// The last component's own owner and mode are the caller's to judge. Components that do not
// exist end the walk without complaint: opening them fails anyway. Reads only (lstat,
// readlink); its answer holds for as long as only root changes those directories.
std::optional<std::string> whyOthersCanRedirect(const std::filesystem::path& path,
                                                Sticky sticky = Sticky::kTrusted);

}  // namespace warden::base
