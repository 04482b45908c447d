#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace warden::base {

// Fields of /proc/PID/stat warden uses. A process is named by its pid and its start time
// (startTicks): a reused pid has another start time, so it never inherits an identity.
struct ProcStat {
  std::string comm;
  char state = '?';
  std::uint32_t ppid = 0;
  std::uint32_t flags = 0;       // field 9: the task's PF_* flags (PF_EXITING 0x4)
  std::uint64_t startTicks = 0;  // field 22

  // Exiting or dead: PF_EXITING is set before the task lets go of its memory, files and
  // working directory, and never cleared.
  bool exiting() const { return state == 'Z' || state == 'X' || (flags & kPfExiting) != 0; }

  static constexpr std::uint32_t kPfExiting = 0x4;
};

// Parses the text of /proc/PID/stat: pure, so tests feed it synthetic text.
std::optional<ProcStat> parseStat(std::string_view text);

// Reads `procRoot`/PID/stat. The error's code tells a process that is gone (ENOENT, or ESRCH
// when it went while the file was read) from a file that could not be read or parsed (EINVAL).
[[nodiscard]] Result<ProcStat> readProcStat(std::uint32_t pid,
                                            const std::string& procRoot = "/proc");

// The same for a process that is not wardend's own, read on a thread of its own and waited for
// 250 ms (BoundedWaits): a process stuck in execve keeps its stat's readers waiting for as long
// as it is stuck. ETIMEDOUT when not read in time.
[[nodiscard]] Result<ProcStat> readOtherProcStat(std::uint32_t pid);

}  // namespace warden::base
