#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/bounded_waits.h"
#include "base/error.h"
#include "base/proc_stat.h"
#include "base/unique_fd.h"
#include "engine/attribution/proc_reader.h"
#include "engine/attribution/process_description.h"

namespace warden::engine {

// ProcReader's reads of a process, each run by base::BoundedWaits: a read the process keeps
// waiting (see there) tells what one of a process that could not be read tells (gone, none,
// an error ETIMEDOUT), after the deadline or at once. Each is charged to the process's real
// uid: the caller's, from the kernel, or read first from its status (which no exec under way
// makes wait), so that one user's stuck processes cannot take every user's reads.
//
// Thread-safety: as base::BoundedWaits (any thread); copies share their readers.
class DeadlinedProcReader {
 public:
  // (By default each late read counts against its user for a minute after it ended.)
  explicit DeadlinedProcReader(std::string root = "/proc",
                               base::BoundedWaits::Options options = kDefaultOptions);
  static constexpr base::BoundedWaits::Options kDefaultOptions{.userChargeAfterEnd =
                                                                   std::chrono::minutes(1)};

  const ProcReader& unbounded() const { return reader_; }
  // /proc's own directory: no process makes it wait.
  std::vector<std::uint32_t> listPids() const { return reader_.listPids(); }

  base::Result<base::ProcStat> stat(std::uint32_t pid,
                                    std::optional<std::uint32_t> uid = std::nullopt) const;
  // False also when it could not be told in time.
  bool gone(std::uint32_t pid, std::uint64_t startTicks) const;
  // ProcReader::complete, charged to info.uid when `uidKnown`. Nothing of `info` changes unless
  // the read ended in time.
  bool complete(ProcessDescription& info, base::ProcStat* lastStat, bool uidKnown) const;
  std::optional<std::string> exePath(std::uint32_t pid, std::uint64_t startTicks) const;
  // The process's real uid (its status: which no exec under way makes wait) is read first.
  std::optional<ProcessDescription> describe(std::uint32_t pid) const;
  std::vector<std::uint64_t> socketInodes(std::uint32_t pid) const;
  // Its socket inodes and its start (stat), in one read: nullopt when gone or not read in time.
  struct Sockets {
    std::vector<std::uint64_t> inodes;
    std::uint64_t startTicks = 0;
  };
  std::optional<Sockets> sockets(std::uint32_t pid) const;
  [[nodiscard]] base::Result<base::UniqueFd> openImage(std::uint32_t pid,
                                                       std::optional<std::uint32_t> uid) const;
  bool seesHostFile(std::uint32_t pid, std::optional<std::uint32_t> uid, const std::string& path,
                    std::optional<std::string> cwd = std::nullopt) const;
  // ProcReader::cwdIs; false when not told in time.
  bool cwdIs(std::uint32_t pid, std::optional<std::uint32_t> uid, std::uint32_t mountId,
             std::uint64_t inode) const;

  base::BoundedWaits::Counters counters() const { return deadlines_->counters(); }

 private:
  std::optional<std::uint32_t> uidOf(std::uint32_t pid) const;

  ProcReader reader_;
  std::shared_ptr<base::BoundedWaits> deadlines_;
};

}  // namespace warden::engine
