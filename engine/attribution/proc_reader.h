#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/proc_stat.h"
#include "base/unique_fd.h"
#include "engine/attribution/process_description.h"

namespace warden::engine {

// Parsers of /proc file contents: pure, so tests feed them synthetic text.
// Real uid and gid from /proc/PID/status.
std::optional<std::pair<std::uint32_t, std::uint32_t>> parseStatusIds(std::string_view text);
// cmdline/environ: NUL-terminated strings (a missing final NUL is tolerated).
std::vector<std::string> splitNulSeparated(std::string_view data);
// The target of /proc/PID/exe with a trailing " (deleted)" removed; second = it was there.
std::pair<std::string, bool> stripDeleted(std::string_view link);
// The cgroup v2 path from /proc/PID/cgroup (the "0::" line).
std::optional<std::string> parseCgroupV2(std::string_view text);

// Reads processes from a proc tree (the real /proc, or a synthetic directory in tests).
// Every read of one process goes through a descriptor of its /proc/PID directory, opened once,
// so a pid reused during the reads is detected rather than mixed in. Stateless apart from the
// root path: safe from any thread. Never used on the verdict path.
class ProcReader {
 public:
  explicit ProcReader(std::string root = "/proc") : root_(std::move(root)) {}

  std::vector<std::uint32_t> listPids() const;
  base::Result<base::ProcStat> stat(std::uint32_t pid) const;
  // Whether process `pid` started at `startTicks` is gone for sure: its /proc entry does not
  // exist (ENOENT, ESRCH) or is another process's. False when that cannot be told (a read that
  // failed for another reason).
  bool gone(std::uint32_t pid, std::uint64_t startTicks) const;
  // Real uid and gid from /proc/PID/status.
  std::optional<std::pair<std::uint32_t, std::uint32_t>> ids(std::uint32_t pid) const;

  // Fills `info` from /proc/PID if it still is the process `info.key` names (startTicks 0 =
  // whichever process has the pid; the key is then set from stat). Kernel-provided fields
  // already in `info` (argv from the exec event, uid...) are overwritten only by values read
  // successfully. Returns false when the process is gone or is another one. `lastStat`, when
  // given, receives /proc/PID/stat as read last, after everything else.
  bool complete(ProcessDescription& info, base::ProcStat* lastStat = nullptr) const;

  // The executable path of process `pid` if it still started at `startTicks` (" (deleted)"
  // stripped), empty when that path is not its host file (isFileAt); nullopt for kernel
  // threads and processes gone or replaced.
  std::optional<std::string> exePath(std::uint32_t pid, std::uint64_t startTicks) const;

  // A description of a running process from /proc alone.
  std::optional<ProcessDescription> describe(std::uint32_t pid) const;

  // Socket inodes among the process's open descriptors ("socket:[N]").
  std::vector<std::uint64_t> socketInodes(std::uint32_t pid) const;

  // A read-only descriptor of the running image (works for deleted binaries too).
  [[nodiscard]] base::Result<base::UniqueFd> openImage(std::uint32_t pid) const;

  // Whether the absolute `path`, looked up as process `pid` sees it (from its /proc/PID/root,
  // so in its own mount namespace, and with its symbolic links resolved there too: an absolute
  // one leads to the process's root, not to ours), is the file found at that path in ours:
  // false for a file bind-mounted over it in a namespace of the process's own, and when either
  // is missing. With `cwd` (the name of the process's working directory, against which a
  // relative path was made absolute): also whether that name leads to the directory the
  // process is in, which a mount over it since it entered hides.
  bool seesHostFile(std::uint32_t pid, const std::string& path,
                    const std::string* cwd = nullptr) const;
  // Whether process `pid`'s working directory is the directory of mount id `mountId` (as
  // statx(2)'s stx_mnt_id tells it) and inode `inode`.
  bool cwdIs(std::uint32_t pid, std::uint32_t mountId, std::uint64_t inode) const;

 private:
  std::string root_;
};

// stat(2) fields of an open image.
std::optional<base::FileIdentity> identityOfFd(int fd);

// Whether `path`, looked up in the caller's mount namespace, is the file with this st_dev and
// st_ino: a process's /proc/PID/exe names the path as the process sees it, which in a mount
// namespace of its own may hold another file than the host's.
bool isFileAt(const std::string& path, std::uint64_t device, std::uint64_t inode);

}  // namespace warden::engine
