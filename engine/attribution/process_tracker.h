#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/heartbeat.h"
#include "base/repeated_log.h"
#include "base/unique_fd.h"
#include "bpf/attribution.h"
#include "engine/attribution/deadlined_proc_reader.h"
#include "engine/attribution/environment_pool.h"
#include "engine/attribution/exe_hasher.h"
#include "engine/attribution/exec_windows.h"
#include "engine/attribution/held_images.h"
#include "engine/attribution/proc_reader.h"
#include "engine/attribution/process_table.h"

namespace warden::engine {

class BpfAttribution;

// Keeps the process table current: the one thread that reads /proc. It takes the kernel's
// exec/fork/exit events (ring buffer), completes each new process from /proc right away (so
// that even a short-lived one is described before it is gone), scans /proc once at start for
// processes already running, describes on request processes the table missed, expires exited
// ones, and, when profiles pin hashes, holds and hashes images.
//
// Thread-safety: requestDescribe(), setImageHashing() and counters are safe from any thread.
// handleRecord() and scanProc() run on the tracker thread once start() was called (tests call
// them directly on a tracker that was never started).
class ProcessTracker {
 public:
  struct Options {
    std::string procRoot = "/proc";
    // Each read of a process's /proc has a deadline (see base::BoundedWaits).
    base::BoundedWaits::Options procReads = DeadlinedProcReader::kDefaultOptions;
    std::size_t maxPendingRequests = 1024;
    std::uint64_t expireEveryNs = 1'000'000'000;
    std::size_t maxHeldImages = HeldImages::kDefaultMaxHeld;
    // After the table dropped this many descriptions, free memory goes back to the system
    // (malloc_trim): a storm's descriptions are allocated on this thread and freed wherever
    // the last reference went, and glibc keeps freed memory in its arenas otherwise.
    std::size_t trimAfterDrops = 512;
    // Told once, from the tracker thread, when it cannot go on (its poll fails): without it
    // no process is described any more, so the owner must stop the daemon.
    std::function<void(const base::Error&)> onFailure = nullptr;
    // Given, on the tracker thread, each flow a kernel-held verdict decided that is to be
    // logged (WARDEN_EVENT_HELD, which shares the ring with the process events).
    std::function<void(const warden_held_event&)> onHeldFlow = nullptr;
    // Borrowed; read around each /proc read of a process, told of each exit record, swept of
    // processes found gone. Null: the events' own (BpfAttribution), when start() is given
    // them. Without any, /proc is taken to show the generation it was read for.
    const ExecWindows* execWindows = nullptr;
    // A sweep passes over every entry, a batch at a time; it begins this long after the last
    // one did, or at once when process records were lost (exit records among them).
    std::uint64_t sweepExecWindowsEveryNs = 30'000'000'000;
    // Where tags look for what only root could have made (TagInput): the cgroup v2 mount
    // (empty: no cgroup component is trusted, so no systemd or container tag), the system-wide
    // Flatpak installation, and the owner such directories must have (tests: their own).
    std::string cgroupRoot = {};
    std::string flatpakRoot = "/var/lib/flatpak";
    std::uint32_t trustedOwner = 0;
  };

  struct Counters {
    std::atomic<std::uint64_t> execs{0};
    std::atomic<std::uint64_t> forks{0};
    std::atomic<std::uint64_t> exits{0};
    std::atomic<std::uint64_t> procCompleted{0};  // /proc read at the exec event
    std::atomic<std::uint64_t> procGone{0};       // process gone before /proc could be read
    std::atomic<std::uint64_t> scanned{0};
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> describedBeforeExec{0};  // on request, ahead of the exec event
    std::atomic<std::uint64_t> describedBeforeFork{0};  // on request, ahead of the fork event
    // /proc read for a generation it may no longer have shown (an exec under way or done
    // since): not taken.
    std::atomic<std::uint64_t> procMoved{0};
    // ... and reads exec_windows could not tell about (taken, as before the windows).
    std::atomic<std::uint64_t> execWindowUnknown{0};
    // Socket calls whose image was not the one their exec put in place (see
    // warden_exec_window): described as `imageReplaced`.
    std::atomic<std::uint64_t> imageReplaced{0};
    // exec_windows entries of processes the sweep found gone (their exit records lost, or not
    // read yet).
    std::atomic<std::uint64_t> execWindowsSwept{0};
    std::atomic<std::uint64_t> requestsDropped{0};
    std::atomic<std::uint64_t> hashed{0};
    std::atomic<std::uint64_t> hashErrors{0};
    std::atomic<std::uint64_t> badRecords{0};
  };

  ProcessTracker(ProcessTable& table, Options options, ExeHasher* hasher = nullptr);
  ~ProcessTracker();
  ProcessTracker(const ProcessTracker&) = delete;
  ProcessTracker& operator=(const ProcessTracker&) = delete;

  // Scans /proc, then starts the thread; `events` (may be null) supplies kernel events and
  // must outlive the tracker's thread (stop() first).
  [[nodiscard]] base::Result<void> start(BpfAttribution* events);
  void stop();

  // Verdict path: asks for a description of the process a flow record names. Never blocks
  // (a full queue drops the request and counts it).
  void requestDescribe(const warden_owner& owner);

  // Whether executable images are held open from exec and hashed in the background (when a
  // loaded profile pins sha256).
  void setImageHashing(bool enabled) { hashing_.store(enabled, std::memory_order_relaxed); }

  // One ring-buffer record (warden_event_head + body).
  void handleRecord(std::span<const std::byte> record);
  // Describes every running process from /proc (parents before children).
  void scanProc();

  const Counters& counters() const { return counters_; }
  // Beaten (monotonic ns) at every turn of the thread's loop: at least every 250 ms.
  const base::Heartbeat& heartbeat() const { return heartbeat_; }
  const HeldImages& heldImages() const { return heldImages_; }
  // Its reads of /proc, for other threads' reads of processes (they share the deadlines).
  const DeadlinedProcReader& reader() const { return reader_; }
  std::uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

 private:
  void run();
  void onExec(const warden_exec_event& event);
  void onFork(const warden_fork_event& event);
  void onExit(const warden_exit_event& event);
  // Hands what the ring holds to handleRecord.
  void readEvents();
  // Describes the processes verdicts asked for (requestDescribe), if any wait, after reading
  // the events that came before the requests.
  void serveRequests();
  void describeRequested(const warden_owner& owner);
  // Fills what depends on other processes and on the reader: user, ancestors, tags, image.
  // `tagsCopied`: a copy of its parent's description keeps the parent's tags (tag()).
  void finish(ProcessDescription& info, bool tagsCopied = false);
  // The process that forked `info`'s and its generation then, as its exec_windows entry names
  // them (a fork since the attach, read once its table record is gone); nullopt when it has
  // no such entry, or is known only to /proc's precision (its start time names no entry).
  std::optional<ProcessTable::Forker> forkerInWindow(const ProcessDescription& info) const;
  // The tags of SPEC section 5, and whether a script tag was withheld for a read in part.
  void tag(ProcessDescription& info);
  // `generation`: the image of `key` the walk wants (the one it forked the process below
  // with; 0: any). Returns whether the walk stopped at kMaxAncestors with more above.
  bool appendAncestorsFromProc(std::vector<std::string>& paths, ProcessKey key,
                               std::uint64_t childStartTicks, std::uint64_t generation) const;
  // The same, each ancestor's current image.
  bool appendAncestorsFromProcNow(std::vector<std::string>& paths, ProcessKey key,
                                  std::uint64_t childStartTicks) const;
  std::string userName(std::uint32_t uid);
  void maybeHash(const ProcessDescription& info);
  // Gives freed memory back once the table dropped trimAfterDrops descriptions since the last
  // time, or any at all 10 s after the last time (tracker thread).
  void maybeTrim();
  // What completeForGeneration made of /proc.
  enum class ProcRead {
    kRead,      // read, of the generation asked for
    kNone,      // not there (the process is gone)
    kMoved,     // not taken: the process may be at another generation (counted in procMoved)
    kReplaced,  // not taken: the call's image is not the one its generation's exec put in place
  };
  // Reads /proc into `info` (ProcReader::complete) for the exec generation `owner` names,
  // checked against exec_windows before and after, and against a later exec the table knows.
  ProcRead completeForGeneration(ProcessDescription& info, const warden_owner& owner);
  // The description of the socket call's process that its parent holds: the parent's of the
  // call's image and generation, when it is not a bare owner record. Right for a child that
  // has not exec'd since the fork that parent made (the caller checks: fork_exec_id, which is
  // 0 where the parent may have adopted it).
  std::shared_ptr<const ProcessDescription> forkParent(const warden_owner& owner) const;
  // The leading part of the process's cgroup path that only root could have named (see
  // TagInput::trustedCgroupPath); remembered by cgroup id.
  std::string trustedCgroupPath(const ProcessDescription& info);
  // The Flatpak app whose system-wide installation holds the executable, when the process's
  // scope claims one ("": none).
  std::string flatpakAppOf(const ProcessDescription& info) const;
  // Whether the exec_windows reads `before` and `after` a /proc read into `info` contradict
  // the image it showed or the one `owner` (the socket call's record) names: an executable
  // replaced without exec (warden_exec_window). Told against the image the process's last
  // exec put in place; with no exec since the attach, against the start's scan; for a child
  // that never exec'd, against its parent's. `exiting`: the process was exiting at the read.
  bool imageContradicted(const ProcessDescription& info, const warden_owner& owner,
                         const std::optional<warden_exec_window>& before,
                         const std::optional<warden_exec_window>& after, bool exiting) const;
  // Publishes the socket call's process described by its record alone, as one whose image
  // was replaced without an exec (ProcessDescription::imageReplaced): its flows get `unknown`.
  void publishReplaced(ProcessDescription info);
  // Forgets the exec_windows entries of processes that are gone, a batch at a time (tracker
  // thread): a pass over 256K entries would hold up the descriptions verdicts wait for.
  void maybeSweepExecWindows(std::uint64_t now);
  // Publishes `info` with its matcher view.
  std::shared_ptr<const ProcessDescription> publish(ProcessDescription info);

  ProcessTable& table_;
  Options options_;
  ExeHasher* hasher_;
  DeadlinedProcReader reader_;
  Counters counters_;
  base::Heartbeat heartbeat_;
  std::atomic<bool> hashing_{false};
  HeldImages heldImages_;
  EnvironmentPool environments_;   // tracker thread only (and scanProc before it starts)
  std::uint64_t dropsAtTrim_ = 0;  // tracker thread only
  std::uint64_t trimmedAtNs_ = 0;  // tracker thread only
  std::atomic<std::uint64_t> trims_{0};

  std::mutex requestsMutex_;
  std::vector<warden_owner> requests_;        // guarded by requestsMutex_
  std::atomic<bool> requestsWaiting_{false};  // requests_ is not empty (checked per record)
  base::UniqueFd wakeFd_;                     // eventfd: requests waiting, or stop
  std::optional<base::Error> wakeFdError_;    // why there is no wakeFd_
  std::atomic<bool> stopping_{false};
  BpfAttribution* events_ = nullptr;
  std::unordered_map<std::uint32_t, std::string> userNames_;  // tracker thread only; bounded
  std::uint64_t lastExpireNs_ = 0;
  // The exec_windows sweep: when the last pass began, whether one is under way and the key
  // its next batch follows (none: from the first), when its last batch ran, and the lost
  // record count it last saw.
  std::uint64_t lastSweepNs_ = 0;
  bool sweeping_ = false;
  std::optional<warden_exec_window_key> sweepAfter_;
  std::uint64_t lastSweepBatchNs_ = 0;
  std::uint64_t eventsLostSeen_ = 0;
  base::RepeatedLog eventErrors_;  // the tracker thread's: reading exec/exit events failed
  base::RepeatedLog replacedLog_{base::LogLevel::kWarning};  // publishReplaced's (its thread)
  // trustedCgroupPath()'s answers by cgroup id (a cgroup's id is never reused); emptied when
  // it reaches kMaxTrustedCgroups. Tracker thread only.
  std::unordered_map<std::uint64_t, std::string> trustedCgroups_;
  // The image of each process the start's scan found (the starting thread's, then the
  // tracker thread's), until its exit is read.
  std::unordered_map<ProcessKey, base::FileIdentity, ProcessKeyHash> scanImages_;
  std::thread thread_;
};

// The matcher's view of a description (see ProcessDescription::match); `hasher` null: no hashes;
// `environments` (may be null) shares the environment with earlier descriptions that have it.
std::shared_ptr<const rules::ProcessInfo> matchView(const ProcessDescription& info,
                                                    ExeHasher* hasher,
                                                    const std::string& procRoot = "/proc",
                                                    EnvironmentPool* environments = nullptr);

}  // namespace warden::engine
