#include "engine/daemon/queue_status.h"

#include <fstream>
#include <sstream>
#include <string_view>
#include <utility>

namespace warden::engine {

std::optional<KernelQueueStats> kernelQueueStats(std::uint16_t number) {
  std::ifstream in("/proc/net/netfilter/nfnetlink_queue");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    unsigned queue = 0, portId = 0, total = 0, mode = 0, range = 0;
    KernelQueueStats stats;
    // queue_number peer_portid queue_total copy_mode copy_range queue_dropped
    // queue_user_dropped id_sequence 1
    if (fields >> queue >> portId >> total >> mode >> range >> stats.queueDropped >>
            stats.userDropped >> stats.idSequence &&
        queue == number) {
      stats.waiting = total;
      return stats;
    }
  }
  return std::nullopt;
}

void QueueStatus::add(std::uint16_t number, const QueueCounters& counters,
                      const KernelQueueStats& kernel) {
  nlohmann::json queue = {{"queue", number},
                          {"queue_drops", kernel.queueDropped + kernel.userDropped},
                          {"waiting", kernel.waiting}};
  for (std::size_t i = 0; i < kQueueCounterFields.size(); ++i) {
    const QueueCounterField& field = kQueueCounterFields[i];
    const std::uint64_t value = (counters.*field.member).load();
    if (field.peakNs) {
      queue[field.key] = value / 1000;
    } else {
      queue[field.key] = value;
      totals_[i] += value;
    }
  }
  queueDrops_ += kernel.queueDropped + kernel.userDropped;
  queues_.push_back(std::move(queue));
}

nlohmann::json QueueStatus::totals() const {
  nlohmann::json totals = {{"queue_drops", queueDrops_}};
  for (std::size_t i = 0; i < kQueueCounterFields.size(); ++i) {
    if (!kQueueCounterFields[i].peakNs) totals[kQueueCounterFields[i].key] = totals_[i];
  }
  return totals;
}

std::string QueueStatus::stoppedSummary() const {
  // The first counter named leads; the others follow it in brackets.
  std::string lead, rest;
  for (std::size_t i = 0; i < kQueueCounterFields.size(); ++i) {
    const std::string_view words = kQueueCounterFields[i].stoppedWords;
    if (words.empty()) continue;
    std::string part = std::to_string(totals_[i]) + " " + std::string(words);
    if (lead.empty()) {
      lead = std::move(part);
    } else {
      rest += (rest.empty() ? "" : ", ") + part;
    }
  }
  return lead + " (" + rest + ")";
}

}  // namespace warden::engine
