#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/error.h"

namespace warden::engine {

// The cgroups wardend attached its eBPF hooks to, in a file beside its control socket (a
// runtime directory: the attachments end with the boot, and so does what names them). The
// hooks that apply kernel-held verdicts stay attached when wardend is killed, so that its
// decisions outlive it; the next wardend detaches them once its own table is in place, on the
// cgroup its configuration names and, through this record, on any other one an earlier run
// was configured with. One path a line. Thread-safety: none; the control thread's.
class HookRecord {
 public:
  static constexpr const char* kFileName = "hooks";

  explicit HookRecord(std::filesystem::path file) : file_(std::move(file)) {}
  // The record of the wardend whose control socket is `socket`.
  static HookRecord besideSocket(const std::filesystem::path& socket) {
    return HookRecord(socket.parent_path() / kFileName);
  }

  // The cgroups recorded; none when there is no record (or it cannot be read).
  std::vector<std::string> read() const;
  // Replaces the record with `cgroups` (whole: a crash leaves the old one or the new one).
  [[nodiscard]] base::Result<void> write(const std::vector<std::string>& cgroups) const;

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
};

// Detaches the held-verdict hooks that wardends no longer running left on the cgroups of
// `record` and on `more` (BpfAttribution::detachStaleHooks: never a live wardend's), then
// rewrites the record: `own` (where the caller's hooks are; empty: none) and the cgroups whose
// hooks could not be looked at. A cgroup that no longer exists took its hooks with it. Returns
// how many hooks it detached, or the first failure (after trying every cgroup).
[[nodiscard]] base::Result<int> detachStaleHooks(const HookRecord& record,
                                                 std::vector<std::string> more,
                                                 const std::string& own);

}  // namespace warden::engine
