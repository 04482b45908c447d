#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "rules/address.h"
#include "rules/flow.h"
#include "rules/verdict.h"

namespace warden::engine {

// What an until-restart answer covers: one executable and one destination (the host name
// when DNS gave one, else the address), protocol, direction and port.
struct PromptTarget {
  std::string exe;
  // The image the kernel ran (its record's superblock device and inode): an until-restart
  // answer is recalled for that file only, not for another a user bind-mounts at the path in
  // a mount namespace of its own.
  std::uint32_t exeKernelDev = 0;
  std::uint64_t exeInode = 0;
  rules::Direction direction = rules::Direction::kOut;
  std::uint8_t ipProto = 0;
  std::uint16_t port = 0;  // the remote port (out) or the local port (in)
  std::string host;        // empty: `remote` names the destination
  rules::IpAddress remote;

  bool operator==(const PromptTarget&) const = default;
};

// The target of `flow` for a process running `exe`, the image of that kernel device and inode.
PromptTarget promptTargetOf(const std::string& exe, std::uint32_t exeKernelDev,
                            std::uint64_t exeInode, const rules::Flow& flow);

// One question: a new flow of a process that no profile matches, its first packet held.
struct PromptQuestion {
  std::uint64_t id = 0;  // given by the broker
  PromptTarget target;
  rules::Flow flow;  // host left empty (see target.host)
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
  std::string user;
  std::vector<std::string> argv;
  std::string parent;  // the parent's executable; empty when not known
  std::vector<std::string> tags;
  // Whether target.exe is the host's file at that path (ProcessDescription::pathOnHost), and
  // then that file's identity (st_dev, st_ino): what a rule written from the answer must name,
  // and nothing a user swaps in at that path while the question waits.
  bool exeOnHost = false;
  std::uint64_t exeDevice = 0;
  std::uint64_t exeInode = 0;
  std::int64_t exeCtimeNs = 0;   // its st_ctim in ns, when known (0: not)
  std::uint64_t deadlineNs = 0;  // monotonic: when the engine verdict is given instead
  std::uint16_t queue = 0;
};

// How long an answer holds.
enum class PromptScope : std::uint8_t {
  kOnce,          // this flow only
  kUntilRestart,  // remembered in wardend's memory for the same executable and destination
};

// Why a held flow was let go.
enum class PromptOutcome : std::uint8_t {
  kAnswered,  // an answer came: its action
  kReleased,  // the last prompt client left (or wardend stops): the engine verdict
  kTimedOut,  // nobody answered in time: the engine verdict
};

// What a worker learns of one of its questions.
struct PromptResolution {
  std::uint64_t id = 0;
  PromptOutcome outcome = PromptOutcome::kReleased;
  rules::Action action = rules::Action::kAllow;  // kAnswered only
};

// What the control thread tells prompt clients.
struct PromptEvent {
  enum class Kind : std::uint8_t { kAsked, kClosed };
  Kind kind = Kind::kAsked;
  PromptQuestion question;  // kAsked; kClosed: only the id
  PromptOutcome outcome = PromptOutcome::kTimedOut;
};

struct PromptCounters {
  std::uint64_t questions = 0;          // flows held and asked about
  std::uint64_t answers = 0;            // answered in time
  std::uint64_t timeouts = 0;           // not answered in time: engine verdict
  std::uint64_t released = 0;           // let go with the engine verdict as the last client left
  std::uint64_t holdFull = 0;           // not held, [prompt] hold reached: engine verdict
  std::uint64_t duplicates = 0;         // later packets of a held flow, dropped
  std::uint64_t remembered = 0;         // flows decided by an until-restart answer, no question
  std::uint64_t rememberedEntries = 0;  // until-restart answers kept now
};

// Between the queue workers, which hold the first packet of a flow whose process no profile
// matches while a `warden prompt` client is connected, and the control thread, which serves
// those clients. The worker keeps the packet and its deadline; the broker keeps the open
// questions, the answers given, and who must be told what, and wakes the side concerned
// (each worker has an eventfd, the control thread one too).
//
// Thread-safety: every method may be called from any thread (one mutex); active() and
// hasRemembered() are lock-free, so that flows decided while nobody prompts pay nothing.
class PromptBroker {
 public:
  // One eventfd per worker slot, and one for the control thread.
  [[nodiscard]] static base::Result<std::unique_ptr<PromptBroker>> create(std::size_t workers);

  // Until-restart answers kept at most; the oldest goes first.
  static constexpr std::size_t kMaxRemembered = 4096;

  // ---- queue workers ----
  enum class Asked : std::uint8_t {
    kHeld,       // the question is out: the worker holds the packet until it is resolved
    kDuplicate,  // the same flow is held already: this packet (a SYN sent again) is dropped
    kNoClient,   // nobody prompts (any more): decide now
    kFull,       // `hold` flows are held already: decide now
    kAnswered,   // the same flow was answered lately (a SYN sent again): that action decides
    kLapsed,     // the same flow's question lately timed out or was released: decide now
  };
  struct AskResult {
    Asked asked = Asked::kNoClient;
    rules::Action action = rules::Action::kAllow;  // kAnswered
  };
  // How long a closed question's flow is remembered, so that its SYNs sent again are decided
  // alike instead of asked again (TCP gives up after about two minutes).
  static constexpr std::uint64_t kRecentFlowNs = 150'000'000'000ull;
  static constexpr std::size_t kRecentFlows = 256;
  // Whether a prompt client is connected.
  bool active() const { return clients_.load(std::memory_order_acquire) > 0; }
  bool hasRemembered() const { return rememberedCount_.load(std::memory_order_acquire) > 0; }
  // Whether some question was closed lately (see kRecentFlowNs): ask() may know the flow.
  bool hasRecentFlows() const { return recentCount_.load(std::memory_order_acquire) > 0; }
  // The until-restart answer for `target`, if one was given.
  std::optional<rules::Action> recall(const PromptTarget& target);
  // Asks `question` for worker `slot`; sets its id when held. At most `hold` flows are held.
  AskResult ask(std::size_t slot, PromptQuestion& question, std::uint32_t hold);
  // What became of `slot`'s questions since it last asked (appended to `out`); clears the
  // slot's eventfd.
  void takeResolutions(std::size_t slot, std::vector<PromptResolution>& out);
  // The worker lets a question go on its own (its deadline passed, or it stops): clients are
  // told, and an answer that comes later is refused. Should the question have been resolved
  // since the worker took its resolutions, that resolution is returned (and taken) instead.
  std::optional<PromptResolution> close(std::size_t slot, std::uint64_t id, PromptOutcome outcome);
  int wakeFd(std::size_t slot) const { return wake_[slot].get(); }

  // ---- control thread ----
  // The number of connected prompt clients; at 0 every open question is released at once.
  void setClients(std::size_t count);
  enum class Answered : std::uint8_t {
    kDone,               // the held flow gets this answer's verdict
    kAnsweredElsewhere,  // another answer came first
    kTooLate,            // it timed out or was released: the engine verdict was given
    kNoSuchQuestion,
  };
  Answered answer(std::uint64_t id, rules::Action action, PromptScope scope);
  // The questions still open, oldest first (for a client that connects now).
  std::vector<PromptQuestion> openQuestions() const;
  // What happened since the last call (appended to `out`); clears the control eventfd.
  void takeEvents(std::vector<PromptEvent>& out);
  int eventFd() const { return events_.get(); }
  PromptCounters counters() const;

 private:
  struct Open {
    PromptQuestion question;
    std::size_t slot = 0;
  };
  struct Remembered {
    PromptTarget target;
    rules::Action action = rules::Action::kAllow;
  };

  PromptBroker(std::vector<base::UniqueFd> wake, base::UniqueFd events);
  static constexpr std::size_t kClosedKept = 1024;
  // Under mutex_: records how question `at` of open_ was closed (answered: with `action`).
  void noteClosedLocked(const Open& open, PromptOutcome outcome, rules::Action action);
  // Under mutex_: resolves open question `at` for its worker and wakes it.
  void resolveLocked(std::size_t at, PromptOutcome outcome, rules::Action action);
  static void signal(const base::UniqueFd& fd);
  static void drain(const base::UniqueFd& fd);

  std::vector<base::UniqueFd> wake_;  // per worker slot
  base::UniqueFd events_;
  std::atomic<std::size_t> clients_{0};
  std::atomic<std::size_t> rememberedCount_{0};
  std::atomic<std::size_t> recentCount_{0};
  mutable std::mutex mutex_;
  // Guarded by mutex_:
  std::uint64_t nextId_ = 1;
  std::vector<Open> open_;                                  // oldest first
  std::vector<std::vector<PromptResolution>> resolutions_;  // per worker slot
  std::vector<PromptEvent> pendingEvents_;
  std::deque<Remembered> remembered_;  // oldest first
  // How the latest questions were closed, so that a late answer is told why (bounded).
  std::deque<std::pair<std::uint64_t, PromptOutcome>> closed_;
  struct RecentFlow {
    rules::Flow flow;
    PromptOutcome outcome = PromptOutcome::kTimedOut;
    rules::Action action = rules::Action::kAllow;
    std::uint64_t closedNs = 0;  // base::monotonicNs
  };
  std::deque<RecentFlow> recentFlows_;  // oldest first, at most kRecentFlows
  PromptCounters counters_;
};

}  // namespace warden::engine
