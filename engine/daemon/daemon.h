#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "db/database.h"
#include "db/log_writer.h"
#include "engine/daemon/control_protocol.h"
#include "engine/daemon/control_server.h"
#include "engine/daemon/hit_records.h"
#include "engine/daemon/policy_watcher.h"
#include "engine/daemon/prompt_desk.h"
#include "engine/daemon/queue_status.h"
#include "engine/daemon/undecided_passes.h"
#include "engine/daemon/watchdog.h"
#include "engine/netfilter/nft_table.h"
#include "engine/verdict/kernel_verdicts.h"
#include "engine/verdict/policy_slot.h"
#include "engine/verdict/queue_worker.h"
#include "rules/policy_loader.h"

namespace warden::engine {

class Attributor;

// wardend: owns the queues, the table, the verdict log and the control socket, and runs the
// control thread (the caller's), which alone handles signals, reloads and control requests.
class Daemon : private ControlCommands {
 public:
  explicit Daemon(std::filesystem::path configFile);
  ~Daemon() override;

  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

 private:
  bool startUp();
  // `failed`: wardend stops because something it cannot do without failed (a queue, its own
  // loop): the table stays, as after a crash, so that its fail mode holds until the restart.
  void shutDown(bool failed = false);
  // Says loudly why wardend cannot go on; run() then stops with exit status 1.
  void fatal(const std::string& why);
  // From a thread wardend cannot go on without (a queue worker that lost its queue, the
  // process tracker): records why (the first reason wins) and wakes the control thread.
  void threadFailed(const std::string& why);
  // systemd's STATUS=: "policy revision N, M profiles, queues a-b, mode X", and the last
  // reload's refusal while the revision before it stays in force.
  std::string statusText() const;
  void notifyStatus(std::string_view more = {});
  // WATCHDOG=1 when systemd asks for it (WatchdogSec=), only while the threads it needs run.
  void startWatchdog();
  void feedWatchdog();
  // Loads, validates, stores and publishes the policy; false (and logged) if refused. With
  // `readAtStart`, its profiles go with that engine configuration (read at start, what the eBPF
  // hooks were set up with), else warden.toml is read again.
  bool loadPolicy(std::optional<rules::Config> readAtStart = std::nullopt);
  // Makes `snapshot` the policy in force: the workers' and the kernel-held verdicts'.
  void publishPolicy(std::shared_ptr<PolicySnapshot> snapshot);
  // Starts holding verdicts in the kernel when the eBPF programs can (startUp).
  void startHolding();
  // Logs a refused policy's diagnostics and keeps its first error in refusal_.
  void refuse(const rules::Diagnostics& diagnostics);
  void reload();
  // At the earliest `expires` of the policy in force: a reload, which leaves the rule out and
  // removes it from warden's own files; if that reload is refused, the policy in force
  // without the expired rules (daemon_expiry.cpp).
  void expireRules();
  // When expireRules() is due, in CLOCK_MONOTONIC milliseconds, or nothing.
  std::optional<std::int64_t> expiryAtMs() const;
  void openLog();
  // The control commands (see control_protocol.h).
  nlohmann::json status() override;
  nlohmann::json controlStatus() const;  // what the client bounds and deadlines did
  nlohmann::json promptStatus() const;   // what `warden prompt` asked and was answered
  nlohmann::json heldStatus() const;     // the kernel-held verdicts
  std::optional<nlohmann::json> explain(std::uint32_t pid) override;
  std::expected<Reloaded, std::string> reloadPolicy(bool redecide) override;
  nlohmann::json hits() override;
  // Stores the rule hit counts (when they changed, or `force`); a failure is logged.
  void storeHits(bool force);
  TablePlan tablePlan(const rules::Config& config) const;
  // Each queue's numbers from the kernel, into `kernel`, and the flows passed undecided
  // (see UndecidedPasses).
  std::uint64_t sampleQueues(std::vector<KernelQueueStats>& kernel);
  bool ownsTable() const;  // whether the table still records us as its owner

  std::filesystem::path configFile_;
  rules::PolicyLoader loader_;
  rules::Config config_;  // the configuration in force (control thread only)
  PolicySlot policy_;
  std::optional<db::Database> store_;  // revisions; the control thread's connection
  std::unique_ptr<db::LogWriter> logWriter_;
  db::LogProducer controlLog_;       // the control thread's verdict-log rows (reload --redecide)
  std::string logProblem_;           // why there is no verdict log, if there is none
  std::uint64_t localRevision_ = 0;  // revisions when no database could be opened
  HitRecorder hitRecorder_;          // rule hit counts kept in the database (control thread)
  // The earliest `expires` still ahead in the policy in force (wall-clock time).
  std::optional<std::chrono::sys_seconds> nextExpiry_;
  std::string refusal_;  // the first error of the last policy refused, until one is loaded
  std::optional<Watchdog> watchdog_;  // when systemd asks for WATCHDOG=1
  bool watchdogStarved_ = false;      // a watched thread is stale: said once, no pings
  QueueMethod method_ = QueueMethod::kXtCompat;
  // Kernel-held verdicts (null: not held). Destroyed after the attributor, whose process
  // tracker hands it the held flows' events (through heldSink_); its maps are the
  // attributor's, which it does not touch once the workers are gone and its writer stopped
  // (shutDown() stops it between the two).
  std::unique_ptr<KernelVerdicts> held_;
  std::atomic<KernelVerdicts*> heldSink_{nullptr};
  bool promptsActive_ = false;  // a `warden prompt` client was connected at the last turn
  std::unique_ptr<Attributor> attributor_;  // outlives the workers, which use it
  std::unique_ptr<HostCache> hosts_;        // names from DNS replies; outlives the workers too
  std::unique_ptr<PendingDnsQueries> dnsQueries_;  // what those replies must answer; same
  DnsConfirmerPorts dnsPorts_;  // the workers' DNS confirming sockets' ports; outlives them
  std::unique_ptr<PromptBroker> prompts_;  // flows held for `warden prompt`; outlives them too
  std::optional<PromptDesk> promptDesk_;   // its prompt clients' side (control thread)
  std::vector<std::unique_ptr<QueueWorker>> workers_;
  UndecidedPasses undecided_;
  std::optional<ControlServer> control_;
  std::optional<PolicyWatcher> watcher_;
  bool tableInstalled_ = false;
  std::string owner_;  // TableOwner::self() as recorded in the table
  base::UniqueFd signalFd_;
  // Readable once a thread wardend needs has failed (threadFailed writes it; failure_ says why).
  base::UniqueFd failedFd_;
  std::mutex failureMutex_;
  std::string failure_;  // the first such failure (guarded by failureMutex_)
  std::int64_t startedAtNs_ = 0;
};

}  // namespace warden::engine
