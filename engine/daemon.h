#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/control_server.h"
#include "engine/nft_table.h"
#include "engine/policy_store.h"
#include "engine/queue_worker.h"
#include "rules/config.h"

namespace warden::engine {

class Attributor;

// wardend: owns the queues, the table and the control socket, and runs the control thread
// (the caller's), which alone handles signals, reloads and control requests.
class Daemon {
 public:
  explicit Daemon(rules::Config config);
  ~Daemon();

  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

 private:
  bool startUp();
  void shutDown();
  void reload();
  std::string handleRequest(std::string_view request);
  std::string statusJson() const;
  TablePlan tablePlan(const rules::Config& config) const;
  void publish(rules::Config config);

  rules::Config config_;  // the configuration in force (control thread only)
  PolicyStore policy_;
  std::uint64_t revision_ = 0;
  QueueMethod method_ = QueueMethod::kXtCompat;
  std::unique_ptr<Attributor> attributor_;  // outlives the workers, which use it
  std::vector<std::unique_ptr<QueueWorker>> workers_;
  std::optional<ControlServer> control_;
  bool tableInstalled_ = false;
  int signalFd_ = -1;
  std::int64_t startedAtNs_ = 0;
};

}  // namespace warden::engine
