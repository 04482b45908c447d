#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/bit_mix.h"
#include "base/file_identity.h"
#include "base/unique_fd.h"
#include "db/log_row.h"
#include "rules/process_info.h"

namespace warden::engine {

// Names one process for its whole life and never another one: a pid is reused, a pid together
// with its start time is not. The start time is in clock ticks since boot, the unit of
// /proc/PID/stat field 22, so keys made from /proc and from the kernel's nanoseconds agree.
struct ProcessKey {
  std::uint32_t pid = 0;
  std::uint64_t startTicks = 0;

  bool operator==(const ProcessKey&) const = default;
};

// Mixed (base::mixBits), so that a table indexed by the low bits (the queue workers'
// direct-mapped memory of processes) tells apart processes that differ only in pid: the
// children of one fork loop start in the same clock tick.
struct ProcessKeyHash {
  std::size_t operator()(const ProcessKey& key) const noexcept {
    return static_cast<std::size_t>(
        base::mixBits((static_cast<std::uint64_t>(key.pid) << 40) ^ key.startTicks));
  }
};

// Clock ticks per second of /proc (USER_HZ), read once.
std::uint64_t clockTicksPerSecond();
// Converts the kernel's start_boottime nanoseconds into /proc's ticks.
std::uint64_t ticksFromBootNs(std::uint64_t ns);
inline ProcessKey processKey(std::uint32_t tgid, std::uint64_t startBootNs) {
  return ProcessKey{tgid, ticksFromBootNs(startBootNs)};
}

// An open descriptor of a process's executable image, held from the exec event so that the
// image can still be hashed after the process is gone or the file was replaced.
class ImageHandle {
 public:
  explicit ImageHandle(base::UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const { return fd_.get(); }

 private:
  base::UniqueFd fd_;
};

// Where a description came from.
enum class ProcessSource : std::uint8_t {
  kExecEvent,  // the kernel's exec event, completed from /proc
  kForkEvent,  // a child that has not executed anything: a copy of its parent
  kProcScan,   // /proc, for processes that were running before wardend (or missed events)
  kOwnerOnly,  // only the kernel's record at the socket call: nothing from /proc
};

std::string_view toString(ProcessSource source);

struct ProcessDescription;
// The verdict log's record of a process: its `logged` when the tracker published it, else
// built now (a description the tracker never published: explain, tests).
std::shared_ptr<const db::LogProcess> loggedProcess(const ProcessDescription& info);

// Everything warden knows about one process image: what profiles match on (SPEC section 3)
// and what `warden explain` shows. Published immutable through shared_ptr<const>.
struct ProcessDescription {
  ProcessKey key;
  std::uint64_t startTimeNs = 0;  // boot-time ns; tick precision when it came from /proc
  std::uint32_t ppid = 0;
  std::uint64_t parentStartTicks = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;  // name of uid, empty when it has none
  std::string comm;

  std::string path;          // executable as executed (/proc/PID/exe, " (deleted)" stripped)
  bool pathDeleted = false;  // the image was deleted or replaced on disk after exec
  // `path`, looked up in wardend's (the initial) mount namespace, is the image the kernel ran:
  // the same st_dev and st_ino. Only then do path, path_glob, parent_path and ancestor_path
  // see the path (SPEC section 5). False for a binary bind-mounted over the path in a mount
  // namespace of its own, for an image deleted or replaced since, and when it was not checked.
  bool pathOnHost = false;
  std::vector<std::string> argv;
  bool argvTruncated = false;
  // Once published, argv keeps its first kMaxKeptArgs arguments (explain, prompts); the
  // matcher's command line and the log's argv were made from all of it. A copy (a fork's)
  // takes its command line from `match`.
  bool argvCut = false;
  static constexpr std::size_t kMaxKeptArgs = 1024;
  // "KEY=value" as read; once published, the environment lives in `match` only (envValue()
  // looks there), so a table full of exited processes does not hold it twice, and only its
  // first kMaxKeptVariables variables: an environment is the process's to make, so one it
  // fills with tens of thousands gains it nothing but the cost of its own stack.
  std::vector<std::string> env;
  bool envKnown = false;  // false: the environment could not be read (match nothing)
  // The environment as read ends where the read stopped (256 KiB), not where it ends: its
  // last variable may be cut too, and more may follow (rules::ProcessInfo::envCut).
  bool envTruncated = false;
  static constexpr std::size_t kMaxKeptVariables = 1024;
  std::string cwd;
  // The working directory the exec of this generation left it in (exec_windows), where an
  // interpreter opened a script named relative to it; mountId 0: not known. `shared`: another
  // process shared it then (clone CLONE_FS) and may have moved it under the exec.
  struct DirectoryAtExec {
    std::uint32_t mountId = 0;
    std::uint64_t inode = 0;
    bool shared = false;
  };
  DirectoryAtExec cwdAtExec;
  std::string root;        // /proc/PID/root: "/" unless chrooted or in another mount namespace
  std::string cgroupPath;  // cgroup v2 path, "/system.slice/foo.service"
  std::uint64_t cgroupId = 0;
  // Executables of the parent first, then its parent, ...; an ancestor whose path is not its
  // host file (pathOnHost) is kept as an empty string, so that [0] stays the parent.
  std::vector<std::string> ancestorPaths;
  // More ancestors than the kMaxAncestors kept: one an `ancestor_path` key names may be above
  // them (rules::ProcessInfo::ancestorsCut).
  bool ancestorsCut = false;
  std::vector<std::string> tags;  // SPEC section 5
  bool scriptTagCut = false;      // see rules::ProcessInfo::scriptTagCut

  // The image as the kernel names it (exe_file's super_block dev_t, raw kernel encoding, and
  // inode): what flow records carry. Not always st_dev (btrfs subvolumes, overlayfs).
  std::uint32_t exeKernelDev = 0;
  std::uint64_t exeInode = 0;
  std::uint64_t exeCtimeNs = 0;  // the kernel's record's (warden_owner.exe_ctime_ns); 0: none
  // The kernel's exec generation of the image (warden_owner.exec_id), from the event or socket
  // record it was described for; 0: not known (a /proc scan), and then it describes no flow
  // whose record names one (ProcessTable::find). A kernel-held verdict is keyed by it.
  std::uint64_t execId = 0;
  // The parent's exec generation when it forked this process (warden_owner.fork_exec_id):
  // which of its images parent_path and ancestor_path see. 0: not known (a /proc scan, or a
  // parent that may have adopted it).
  std::uint64_t forkExecId = 0;
  // The process that forked it and its generation then, from its exec_windows entry (see
  // warden_exec_window), where that is not its parent (it was adopted since) and the table held
  // no record of the fork: the process its ancestry is taken from. pid 0: not needed, or not
  // known.
  ProcessKey forkedBy;
  std::uint64_t forkedByExecId = 0;
  // Boot-time ns of the exec event that put this image in place; 0: not known (before
  // wardend, or described without its event). An ancestor whose image came after the process
  // below it started did not fork it with that image.
  std::uint64_t execTimeNs = 0;
  base::FileIdentity image;  // stat(2) of the image: what hashes are cached by
  bool imageKnown = false;   // `image` was read
  // statfs(2) f_type of the image's filesystem, read with `image`; 0: not read. Hashes are
  // neither taken nor cached for images on filesystems whose bytes can change unseen
  // (unpinnedImageFilesystem).
  std::int64_t imageFsType = 0;
  std::shared_ptr<ImageHandle> imageHandle;  // set when hashes may be needed

  ProcessSource source = ProcessSource::kOwnerOnly;
  // Its image is not the one its exec put in place (PR_SET_MM_EXE_FILE or PR_SET_MM_MAP: see
  // warden_exec_window): described by the socket call's record alone (kOwnerOnly), so that
  // every flow of it is `unknown`, and `warden explain` says why.
  bool imageReplaced = false;
  bool complete = false;  // /proc was read (or could not be: the process was already gone)
  // Boot-time ns when the tracker began reading /proc for a verdict's request (0: it did
  // not): a description read after an exec describes that exec's image.
  std::uint64_t requestReadNs = 0;

  // The same, as the profile matcher sees it (rules::ProcessInfo): built once when the
  // description is published, so the verdict path neither copies nor allocates. Attributes
  // warden could not obtain are left empty there, so keys needing them do not match.
  std::shared_ptr<const rules::ProcessInfo> match;
  // What verdict-log rows record of it (path and argv), shared by every row: set when the
  // tracker publishes the description, so the verdict path copies no strings.
  std::shared_ptr<const db::LogProcess> logged;

  // The value of environment variable `name`, when the environment is known and has it.
  std::optional<std::string_view> envValue(std::string_view name) const;
  // argv joined by single spaces (what `cmdline` regexes see).
  std::string commandLine() const;
};

}  // namespace warden::engine
