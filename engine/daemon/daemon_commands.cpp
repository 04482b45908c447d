// What the control socket asks of the daemon (ControlCommands): status, explain, reload, hits.
// Run on the control thread, like the rest of Daemon.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/logging.h"
#include "base/version.h"
#include "engine/attribution/attributor.h"
#include "engine/attribution/bpf_attribution.h"
#include "engine/daemon/config_names.h"
#include "engine/daemon/daemon.h"
#include "engine/daemon/queue_status.h"
#include "engine/verdict/process_explanation.h"
#include "engine/verdict/redecide.h"
#include "rules/compiled_policy.h"

namespace warden::engine {

std::uint64_t Daemon::sampleQueues(std::vector<KernelQueueStats>& kernel) {
  // The counter first, then the queues: a packet is counted by its rule before it takes an id.
  const auto sent = NftTable::queuedPackets();
  kernel.clear();
  for (const auto& worker : workers_) {
    kernel.push_back(kernelQueueStats(worker->queueNumber()).value_or(KernelQueueStats{}));
  }
  return sent ? undecided_.sample(*sent, kernel) : undecided_.last();
}

nlohmann::json Daemon::status() {
  using nlohmann::json;
  std::vector<KernelQueueStats> kernel;
  const std::uint64_t passed = sampleQueues(kernel);
  QueueStatus queues;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    queues.add(workers_[i]->queueNumber(), workers_[i]->counters(), kernel[i]);
  }
  json totals = queues.totals();
  // Passed by the kernel without a decision: a full queue failing open (see UndecidedPasses).
  totals["passed_undecided"] = passed;
  // Counted by the table itself (rule 1d), not by a worker: such packets are never queued.
  totals["invalid"] = NftTable::invalidPackets().value_or(0);
  totals["foreign_source"] = NftTable::foreignSourcePackets().value_or(0);  // rule 1f's
  json log = {{"enabled", logWriter_ != nullptr}, {"db", config_.logDb.string()}};
  if (logWriter_) {
    const db::LogCounters c = logWriter_->counters();
    log.update({{"written", c.written},
                {"dropped", c.dropped},
                {"failed", c.failed},
                {"backlog", c.backlog},
                {"expired", c.expired}});
    if (auto problem = logWriter_->lastError()) log["error"] = *problem;
  } else {
    log["error"] = logProblem_;
  }
  const auto snapshot = policy_.current();
  json status = {
      {"running", true},
      {"version", base::kWardenVersion},
      {"pid", getpid()},
      {"started_at_ns", startedAtNs_},
      {"mode", modeName(config_)},
      {"fail", failName(config_)},
      {"invalid", config_.dropInvalid ? "drop" : "accept"},
      {"method", attributor_ ? toString(attributor_->method()) : "none"},
      {"attribution", attributor_ ? attributor_->statusJson() : json::object()},
      {"queue_method", method_ == QueueMethod::kNative ? "native" : "nft_compat"},
      {"queues", queues.queues()},
      {"totals", std::move(totals)},
      {"dns",
       {{"enabled", config_.dns},
        {"hosts", hosts_ ? hosts_->entries() : 0},
        {"capacity", hosts_ ? hosts_->capacity() : 0},
        {"pending_queries", dnsQueries_ ? dnsQueries_->pending(base::monotonicNs()) : 0}}},
      {"log", std::move(log)},
      {"control", controlStatus()},
      {"prompt", promptStatus()},
      {"kernel_verdicts", heldStatus()},
      {"policy",
       {{"revision", snapshot->revision()},
        {"loaded_at_ns", snapshot->loadedAtNs},
        {"config", configFile_.string()},
        {"profiles", snapshot->policy->policy().profiles.size()}}},
  };
  return status;
}

nlohmann::json Daemon::heldStatus() const {
  if (!held_) {
    return {{"enabled", false},
            {"reason", !config_.kernelVerdicts ? "kernel_verdicts = false"
                                               : "needs eBPF attribution (restart to start)"}};
  }
  const HeldSummary s = held_->summary();
  const BpfCounters c = attributor_->bpf()->counters();
  nlohmann::json held = {{"enabled", s.enabled},
                         {"entries", s.entries},
                         {"stored", s.stored},
                         {"capacity", s.capacity},
                         {"ttl", s.ttlS},
                         {"written", s.written},
                         {"write_errors", s.writeErrors},
                         {"hits",
                          {{"allow", c[WARDEN_CTR_HELD_ALLOW]},
                           {"deny", c[WARDEN_CTR_HELD_DENY]},
                           {"reject", c[WARDEN_CTR_HELD_REJECT]}}},
                         {"invalidations",
                          {{"reload", s.reloads},
                           {"dns", s.dnsForgotten},
                           {"stale", c[WARDEN_CTR_HELD_STALE]},
                           {"expired", c[WARDEN_CTR_HELD_EXPIRED]}}},
                         {"logged", s.logged},
                         {"unlogged", s.unlogged + c[WARDEN_CTR_HELD_EVENTS_LOST]},
                         {"not_held_log_full", s.logFull},
                         {"state_errors", s.epochErrors}};
  if (!s.enabled && s.epochErrors > 0) {
    held["reason"] = "the kernel refused the held-verdict state; off until the next reload";
  }
  return held;
}

nlohmann::json Daemon::controlStatus() const {
  const ControlCounters& c = control_->counters();
  return {{"clients", control_->clients()},
          {"max_clients", control_->limits().maxClients},
          {"answered", c.answered},
          {"request_late", c.requestLate},
          {"request_too_long", c.requestTooLong},
          {"answer_not_taken", c.answerNotTaken},
          {"evicted", c.evicted}};
}

nlohmann::json Daemon::hits() {
  const auto snapshot = policy_.current();
  if (held_) held_->creditHits(snapshot->policy->hits());
  return {{"revision", snapshot->revision()}, {"hits", hitsJson(snapshot->policy->hits())}};
}

void Daemon::storeHits(bool force) {
  if (!store_) return;
  if (held_) held_->creditHits(policy_.current()->policy->hits());
  if (auto stored = hitRecorder_.store(*store_, policy_.current()->policy->hits(), force);
      !stored) {
    base::logError("storing the rule hit counts: ", stored.error().message());
  }
}

nlohmann::json Daemon::promptStatus() const {
  const PromptCounters c = prompts_->counters();
  return {{"clients", control_->promptClients()},
          {"held", prompts_->openQuestions().size()},
          {"timeout", config_.promptTimeoutS},
          {"hold", config_.promptHold},
          {"questions", c.questions},
          {"answers", c.answers},
          {"timeouts", c.timeouts},
          {"released", c.released},
          {"hold_full", c.holdFull},
          {"duplicates_dropped", c.duplicates},
          {"remembered_decisions", c.remembered},
          {"remembered_answers", c.rememberedEntries}};
}

std::optional<nlohmann::json> Daemon::explain(std::uint32_t pid) {
  if (!attributor_) return std::nullopt;
  return explainProcess(*attributor_, pid, *policy_.current()->policy, held_.get());
}

std::expected<ControlCommands::Reloaded, std::string> Daemon::reloadPolicy(bool redecide) {
  const auto before = policy_.current();
  reload();
  const auto after = policy_.current();
  if (after == before) {
    return std::unexpected("reload refused: " + (refusal_.empty()
                                                     ? std::string("the configuration has errors")
                                                     : refusal_));
  }
  Reloaded reloaded{.revision = after->revision(), .redecide = std::nullopt};
  if (!redecide) return reloaded;
  // The table was re-asserted by reload(), so the rules that hold revoked flows are in place.
  auto counts =
      redecideAccepted(*after, MarkBits{config_.markMask}, *attributor_, hosts_.get(), controlLog_);
  if (!counts) {
    base::logError("redecide: ", counts.error().message());
    return std::unexpected(
        "reloaded revision " + std::to_string(after->revision()) +
        ", but deciding the accepted flows again failed: " + counts.error().message());
  }
  base::logInfo("redecided ", counts->examined, " accepted flows under policy revision ",
                after->revision(), ": ", counts->kept, " kept (", counts->learned,
                " only by learn mode), ", counts->denied, " denied, ", counts->rejected,
                " rejected, ", counts->gone, " gone, ", counts->failed, " failed");
  reloaded.redecide = counts->toJson();
  return reloaded;
}

}  // namespace warden::engine
