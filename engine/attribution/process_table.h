#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "engine/attribution/process_description.h"

namespace warden::engine {

// The processes warden knows, keyed by pid + start time (a reused pid is a new key and never
// sees the old process's identity). Fed by one writer (the process tracker thread: exec, fork
// and exit events, /proc scans); read by the verdict path.
//
// A key can hold more than one image: a process that connects and then calls execve keeps its
// earlier description for the flows recorded before, told apart by the executable's
// (device, inode) the kernel recorded with each flow.
//
// Exited processes stay for `exitedTtl` so that the flows they left in flight are still
// described, but never more than `maxExited` of them: past that the oldest exit is dropped
// (a storm of short-lived processes keeps only the latest exits, which are the ones whose
// flows can still be waiting for a verdict). The table never holds more than `maxEntries`
// keys (exited ones are dropped first, oldest exit first; then the oldest running ones, which
// /proc can describe again). Every drop for a bound is counted in `evicted`.
//
// Thread-safety: all members are safe to call concurrently. Lookups take a shared lock and
// return shared_ptrs to immutable descriptions; writers take the lock exclusively, briefly.
class ProcessTable {
 public:
  // The defaults hold a machine's running processes and about 5 s of exits at the rate of a
  // parallel build (200 a second), in well under 40 MB (SPEC section 10; bench/storm).
  struct Limits {
    std::size_t maxEntries = 8192;
    std::size_t maxExited = 1024;
    std::uint64_t exitedTtlNs = 30'000'000'000ull;  // 30 s
    std::size_t maxImagesPerProcess = 4;
  };

  struct Stats {
    std::size_t entries = 0;
    std::size_t exited = 0;
    std::uint64_t evicted = 0;  // dropped for the bound, not by expiry
    std::uint64_t expired = 0;
    std::uint64_t pidReuses = 0;  // a new process took a pid the table still knew
  };

  ProcessTable() : ProcessTable(Limits{}) {}
  explicit ProcessTable(Limits limits);

  // Inserts or replaces the description of info->key. An image other than the current one (by
  // device+inode, or a later exec generation of the same file) becomes the current one and the
  // old one is kept as an earlier image; one of an earlier generation than the current one
  // (a flow recorded before an exec, described late) is kept as an earlier image, in place of
  // one of that generation. A description that names no generation (a /proc scan's) replaces
  // the current one of the same file.
  void upsert(std::shared_ptr<const ProcessDescription> info);
  // The process ended at `timeNs` (boot-time ns). Unknown keys are ignored.
  void markExited(const ProcessKey& key, std::uint64_t timeNs);
  // Drops exited entries older than the TTL at `nowNs`; returns how many.
  std::size_t expire(std::uint64_t nowNs);

  // The current description of `key`, or null.
  std::shared_ptr<const ProcessDescription> find(const ProcessKey& key) const;
  // The description of `key` whose image is (kernelDev, inode) at exec generation `execId`, as
  // a flow record names it (see describesImage). Null when the process is known only with
  // another image or generation: a fork copy whose exec event is not handled yet must not
  // stand in for what the process runs now, even when it exec'd the same file.
  std::shared_ptr<const ProcessDescription> find(const ProcessKey& key, std::uint32_t kernelDev,
                                                 std::uint64_t inode,
                                                 std::uint64_t execId = 0) const;
  // A description of `key` at exec generation `execId` (not 0) whose image the kernel named
  // (from an exec or fork event, or a socket call's record) and is not (kernelDev, inode):
  // what a record of that generation naming another image contradicts. Null when none.
  std::shared_ptr<const ProcessDescription> otherImageAt(const ProcessKey& key,
                                                         std::uint32_t kernelDev,
                                                         std::uint64_t inode,
                                                         std::uint64_t execId) const;
  // The process that forked `key`, and its generation then, when a description of `key` made
  // at or soon after its fork (its fork event, or a record that named the exec generation it
  // forked from) names another parent than (ppid, parentStartTicks): the process that started
  // it exited and another adopted it (a subreaper, a pid namespace's init), or it was cloned
  // with CLONE_PARENT. nullopt when none does.
  struct Forker {
    ProcessKey key;
    std::uint64_t execId = 0;
  };
  std::optional<Forker> forkedByAnother(const ProcessKey& key, std::uint32_t ppid,
                                        std::uint64_t parentStartTicks) const;
  // The parent's generation when it forked `key` (ProcessDescription::forkExecId), from any
  // description of it that names one and the same parent; 0 when none does.
  std::uint64_t forkGeneration(const ProcessKey& key, std::uint32_t ppid,
                               std::uint64_t parentStartTicks) const;
  // The most recent process the table knows under `pid`, running or not.
  std::shared_ptr<const ProcessDescription> findByPid(std::uint32_t pid) const;
  bool exited(const ProcessKey& key) const;

  // Waits until `key` has a complete description or `timeout` passes; returns what is there
  // then. For callers that may wait (never the verdict path in steady state).
  std::shared_ptr<const ProcessDescription> waitComplete(const ProcessKey& key,
                                                         std::chrono::microseconds timeout,
                                                         std::uint32_t kernelDev = 0,
                                                         std::uint64_t inode = 0,
                                                         std::uint64_t execId = 0) const;

  // Executable paths of the ancestors of `key`, parent first, at most `depth`. When the walk
  // stops at an ancestor the table does not hold, `missing` (if given) names it; otherwise
  // it is left {0, 0}. Each ancestor's path is that of the image it ran when it forked the
  // one below it (`parentExecId` for the parent, then each description's forkExecId), not of
  // one it exec'd since: "" when the table no longer holds that image, or the ancestor is
  // known to have exec'd since. Where the generation is not known (0), its current image,
  // unless that was exec'd after the process below it started (`childStartNs` for the
  // first; 0: not known): then "" too.
  // `missingGeneration` (if given): the generation of `missing` that the walk wanted (0: any).
  // `cut` (if given): whether the walk stopped at `depth` with more ancestors above.
  // An ancestor adopted since its fork (forkedByAnother) is followed to the process that
  // forked it, not to its adopter.
  std::vector<std::string> ancestorPaths(std::uint32_t ppid, std::uint64_t parentStartTicks,
                                         std::size_t depth = 16, ProcessKey* missing = nullptr,
                                         std::uint64_t parentExecId = 0,
                                         std::uint64_t* missingGeneration = nullptr,
                                         std::uint64_t childStartNs = 0, bool* cut = nullptr) const;

  Stats stats() const;
  const Limits& limits() const { return limits_; }
  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const ProcessDescription> current;
    std::vector<std::shared_ptr<const ProcessDescription>> earlier;  // most recent first
    bool exited = false;
    std::uint64_t exitTimeNs = 0;
    std::uint64_t insertedSeq = 0;
  };

  void evictForBoundLocked();
  // forkedByAnother's answer from an entry (under the caller's lock).
  static std::optional<Forker> forkerOtherThan(const Entry& entry, std::uint32_t ppid,
                                               std::uint64_t parentStartTicks);
  // Puts `earlier` first among entry's earlier images, within maxImagesPerProcess: the last
  // one goes, which is the oldest unless `earlier` is older still (a flow of it waits now).
  void keepEarlierLocked(Entry& entry, std::shared_ptr<const ProcessDescription> earlier);
  // Drops the oldest exited entries while more than `maxExited` have exited.
  void evictExitedLocked();
  // Drops `key`'s entry and its pid's index when that still names it.
  void eraseLocked(std::unordered_map<ProcessKey, Entry, ProcessKeyHash>::iterator it);

  const Limits limits_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<ProcessKey, Entry, ProcessKeyHash> entries_;  // guarded by mutex_
  std::unordered_map<std::uint32_t, ProcessKey> byPid_;            // latest key of each pid; mutex_
  std::deque<std::pair<ProcessKey, std::uint64_t>> exitOrder_;     // (key, exit ns); mutex_
  std::size_t exitedCount_ = 0;                                    // mutex_
  std::uint64_t seq_ = 0;                                          // mutex_
  Stats counters_;                                                 // mutex_ (evicted...)

  // waitComplete() sleepers; notified on every upsert.
  mutable std::mutex waitMutex_;
  mutable std::condition_variable completed_;
};

// The userspace dev_t (as in st_dev) of the kernel's internal encoding (major << 20 | minor)
// that BPF programs read from super_block->s_dev.
std::uint64_t deviceFromKernel(std::uint32_t kernelDev);

// Whether `info` describes the image (kernelDev, inode); a zero kernelDev on either side
// (/proc-only descriptions) compares the inode alone.
bool sameImage(const ProcessDescription& info, std::uint32_t kernelDev, std::uint64_t inode);

// Whether `info` may describe the flows a record names with the image (kernelDev, inode) and
// exec generation `execId` (warden_owner.exec_id). An inode of 0 on either side (sock_diag
// records, descriptions without an image) leaves the image open; an execId of 0 (a record
// without one) leaves the generation open. A description without a generation (a /proc scan's)
// does not describe a known one: an exec of the same file under another command line keeps
// pid, start time and image, and /proc cannot tell which exec it showed.
bool describesImage(const ProcessDescription& info, std::uint32_t kernelDev, std::uint64_t inode,
                    std::uint64_t execId);

}  // namespace warden::engine
