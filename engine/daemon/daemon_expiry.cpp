// Daemon: rules that expire by themselves (`expires`), on the control thread.
#include <chrono>

#include "base/clock.h"
#include "base/logging.h"
#include "engine/daemon/daemon.h"
#include "engine/daemon/rule_expiry.h"
#include "rules/compiled_policy.h"

namespace warden::engine {
namespace {

std::chrono::sys_seconds wallNow() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace

std::optional<std::int64_t> Daemon::expiryAtMs() const {
  if (!nextExpiry_) return std::nullopt;
  // The wall clock decides (`expires` is a date); the poll waits on the monotonic one, so
  // the distance is taken now, on every turn of the loop: a clock step is seen at the next.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      *nextExpiry_ - std::chrono::system_clock::now());
  const auto nowMs = static_cast<std::int64_t>(base::monotonicNs() / 1'000'000);
  return nowMs + std::max<std::int64_t>(0, left.count());
}

void Daemon::expireRules() {
  const auto now = wallNow();
  base::logInfo("a rule expired at ", rules::formatUtc(*nextExpiry_), ": reloading");
  nextExpiry_.reset();
  reload();
  if (refusal_.empty()) return;
  // The files were refused, so the policy in force stays, but not with a rule past its time.
  const auto current = policy_.current();
  rules::Policy policy = current->policy->policy();
  const bool pruned = pruneExpired(policy, now);
  nextExpiry_ = policy.nextExpiry;
  if (!pruned) return;
  auto compiled = rules::CompiledPolicy::compile(std::move(policy), current->revision());
  if (!compiled) {
    base::logError("removing expired rules from the policy in force: ",
                   compiled.error().front().format());
    return;
  }
  auto snapshot = std::make_shared<PolicySnapshot>();
  snapshot->policy = std::move(*compiled);
  snapshot->loadedAtNs = current->loadedAtNs;
  publishPolicy(std::move(snapshot));
  base::logWarning("expired rules removed from policy revision ", current->revision(),
                   ", which stays in force while the files are refused");
}

}  // namespace warden::engine
