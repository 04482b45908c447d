#include "engine/verdict/prompt_broker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "base/clock.h"

namespace warden::engine {
namespace {

// The same connection: protocol and both ends (a SYN sent again, a second datagram).
bool sameFlow(const rules::Flow& a, const rules::Flow& b) {
  return a.ipProto == b.ipProto && a.direction == b.direction && a.local == b.local &&
         a.remote == b.remote && a.localPort == b.localPort && a.remotePort == b.remotePort;
}

}  // namespace

PromptTarget promptTargetOf(const std::string& exe, std::uint32_t exeKernelDev,
                            std::uint64_t exeInode, const rules::Flow& flow) {
  PromptTarget target;
  target.exe = exe;
  target.exeKernelDev = exeKernelDev;
  target.exeInode = exeInode;
  target.direction = flow.direction;
  target.ipProto = flow.ipProto;
  target.port = flow.direction == rules::Direction::kOut ? flow.remotePort : flow.localPort;
  // A name covers every address it resolves to; without one, the address is the destination.
  if (!flow.host.empty()) {
    target.host = std::string(flow.host);
  } else {
    target.remote = flow.remote;
  }
  return target;
}

base::Result<std::unique_ptr<PromptBroker>> PromptBroker::create(std::size_t workers) {
  std::vector<base::UniqueFd> wake;
  for (std::size_t i = 0; i < workers; ++i) {
    auto fd = base::makeEventFd(EFD_NONBLOCK | EFD_CLOEXEC, "creating a prompt eventfd");
    if (!fd) return std::unexpected(fd.error());
    wake.push_back(std::move(*fd));
  }
  auto events = base::makeEventFd(EFD_NONBLOCK | EFD_CLOEXEC, "creating a prompt eventfd");
  if (!events) return std::unexpected(events.error());
  return std::unique_ptr<PromptBroker>(new PromptBroker(std::move(wake), std::move(*events)));
}

PromptBroker::PromptBroker(std::vector<base::UniqueFd> wake, base::UniqueFd events)
    : wake_(std::move(wake)), events_(std::move(events)), resolutions_(wake_.size()) {}

void PromptBroker::signal(const base::UniqueFd& fd) {
  const std::uint64_t one = 1;
  // Fails only with the counter at its maximum: then it is readable anyway.
  (void)!write(fd.get(), &one, sizeof one);
}

void PromptBroker::drain(const base::UniqueFd& fd) {
  std::uint64_t count = 0;
  (void)!read(fd.get(), &count, sizeof count);
}

std::optional<rules::Action> PromptBroker::recall(const PromptTarget& target) {
  std::lock_guard lock(mutex_);
  for (auto it = remembered_.rbegin(); it != remembered_.rend(); ++it) {
    if (it->target == target) {
      ++counters_.remembered;
      return it->action;
    }
  }
  return std::nullopt;
}

PromptBroker::AskResult PromptBroker::ask(std::size_t slot, PromptQuestion& question,
                                          std::uint32_t hold) {
  std::lock_guard lock(mutex_);
  for (const Open& open : open_) {
    if (sameFlow(open.question.flow, question.flow)) {
      ++counters_.duplicates;
      return {Asked::kDuplicate};
    }
  }
  // The packets of a flow whose question was closed lately (a denied SYN sent again) are
  // decided as the flow was, not asked about again.
  const std::uint64_t now = base::monotonicNs();
  while (!recentFlows_.empty() && now - recentFlows_.front().closedNs > kRecentFlowNs) {
    recentFlows_.pop_front();
  }
  recentCount_.store(recentFlows_.size(), std::memory_order_release);
  for (auto it = recentFlows_.rbegin(); it != recentFlows_.rend(); ++it) {
    if (!sameFlow(it->flow, question.flow)) continue;
    if (it->outcome == PromptOutcome::kAnswered) return {Asked::kAnswered, it->action};
    return {Asked::kLapsed};
  }
  // Checked under the lock: setClients(0) releases what is open under it too, so no question
  // is left behind by a client that leaves now.
  if (!active()) return {Asked::kNoClient};
  if (open_.size() >= hold) {
    ++counters_.holdFull;
    return {Asked::kFull};
  }
  question.id = nextId_++;
  ++counters_.questions;
  open_.push_back({question, slot});
  pendingEvents_.push_back({PromptEvent::Kind::kAsked, question, PromptOutcome::kTimedOut});
  signal(events_);
  return {Asked::kHeld};
}

void PromptBroker::takeResolutions(std::size_t slot, std::vector<PromptResolution>& out) {
  drain(wake_[slot]);
  std::lock_guard lock(mutex_);
  auto& mine = resolutions_[slot];
  out.insert(out.end(), mine.begin(), mine.end());
  mine.clear();
}

std::optional<PromptResolution> PromptBroker::close(std::size_t slot, std::uint64_t id,
                                                    PromptOutcome outcome) {
  std::lock_guard lock(mutex_);
  const auto it = std::find_if(open_.begin(), open_.end(),
                               [id](const Open& open) { return open.question.id == id; });
  if (it == open_.end()) {
    // Resolved meanwhile: that resolution stands.
    auto& mine = resolutions_[slot];
    const auto found = std::find_if(mine.begin(), mine.end(),
                                    [id](const PromptResolution& r) { return r.id == id; });
    if (found == mine.end()) return std::nullopt;
    const PromptResolution resolution = *found;
    mine.erase(found);
    return resolution;
  }
  if (outcome == PromptOutcome::kTimedOut) ++counters_.timeouts;
  noteClosedLocked(*it, outcome, rules::Action::kAllow);
  if (outcome == PromptOutcome::kReleased) ++counters_.released;
  PromptEvent event{PromptEvent::Kind::kClosed, {}, outcome};
  event.question.id = id;
  open_.erase(it);
  pendingEvents_.push_back(std::move(event));
  signal(events_);
  return PromptResolution{id, outcome, rules::Action::kAllow};
}

void PromptBroker::noteClosedLocked(const Open& open, PromptOutcome outcome, rules::Action action) {
  if (closed_.size() >= kClosedKept) closed_.pop_front();
  closed_.emplace_back(open.question.id, outcome);
  if (recentFlows_.size() >= kRecentFlows) recentFlows_.pop_front();
  recentFlows_.push_back({open.question.flow, outcome, action, base::monotonicNs()});
  recentCount_.store(recentFlows_.size(), std::memory_order_release);
}

void PromptBroker::resolveLocked(std::size_t at, PromptOutcome outcome, rules::Action action) {
  const Open& open = open_[at];
  noteClosedLocked(open, outcome, action);
  resolutions_[open.slot].push_back({open.question.id, outcome, action});
  signal(wake_[open.slot]);
  open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(at));
}

void PromptBroker::setClients(std::size_t count) {
  std::lock_guard lock(mutex_);
  clients_.store(count, std::memory_order_release);
  if (count > 0) return;
  // Nobody is left to answer: nothing waits (the engine verdict, at once).
  counters_.released += open_.size();
  while (!open_.empty()) resolveLocked(open_.size() - 1, PromptOutcome::kReleased, {});
}

PromptBroker::Answered PromptBroker::answer(std::uint64_t id, rules::Action action,
                                            PromptScope scope) {
  std::lock_guard lock(mutex_);
  const auto it = std::find_if(open_.begin(), open_.end(),
                               [id](const Open& open) { return open.question.id == id; });
  if (it == open_.end()) {
    for (const auto& [closedId, outcome] : closed_) {
      if (closedId != id) continue;
      return outcome == PromptOutcome::kAnswered ? Answered::kAnsweredElsewhere
                                                 : Answered::kTooLate;
    }
    return id > 0 && id < nextId_ ? Answered::kTooLate : Answered::kNoSuchQuestion;
  }
  ++counters_.answers;
  if (scope == PromptScope::kUntilRestart) {
    std::erase_if(remembered_,
                  [&](const Remembered& entry) { return entry.target == it->question.target; });
    if (remembered_.size() >= kMaxRemembered) remembered_.pop_front();
    remembered_.push_back({it->question.target, action});
    rememberedCount_.store(remembered_.size(), std::memory_order_release);
  }
  PromptEvent event{PromptEvent::Kind::kClosed, {}, PromptOutcome::kAnswered};
  event.question.id = id;
  pendingEvents_.push_back(std::move(event));
  signal(events_);
  resolveLocked(static_cast<std::size_t>(it - open_.begin()), PromptOutcome::kAnswered, action);
  return Answered::kDone;
}

std::vector<PromptQuestion> PromptBroker::openQuestions() const {
  std::lock_guard lock(mutex_);
  std::vector<PromptQuestion> questions;
  for (const Open& open : open_) questions.push_back(open.question);
  return questions;
}

void PromptBroker::takeEvents(std::vector<PromptEvent>& out) {
  drain(events_);
  std::lock_guard lock(mutex_);
  for (PromptEvent& event : pendingEvents_) out.push_back(std::move(event));
  pendingEvents_.clear();
}

PromptCounters PromptBroker::counters() const {
  std::lock_guard lock(mutex_);
  PromptCounters counters = counters_;
  counters.rememberedEntries = remembered_.size();
  return counters;
}

}  // namespace warden::engine
