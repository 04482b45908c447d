#include "engine/attribution/process_table.h"

#include <sys/sysmacros.h>

#include <algorithm>

namespace warden::engine {

std::uint64_t deviceFromKernel(std::uint32_t kernelDev) {
  return makedev(kernelDev >> 20, kernelDev & ((1u << 20) - 1));
}

bool sameImage(const ProcessDescription& info, std::uint32_t kernelDev, std::uint64_t inode) {
  if (info.exeInode == 0 || info.exeInode != inode) return false;
  return info.exeKernelDev == 0 || kernelDev == 0 || info.exeKernelDev == kernelDev;
}

bool describesImage(const ProcessDescription& info, std::uint32_t kernelDev, std::uint64_t inode,
                    std::uint64_t execId) {
  if (inode != 0 && info.exeInode != 0 && !sameImage(info, kernelDev, inode)) return false;
  return execId == 0 || info.execId == execId;
}

namespace {

using Description = std::shared_ptr<const ProcessDescription>;

// The most recent of an entry's earlier descriptions that `holds`.
template <typename Holds>
const Description* firstEarlier(const std::vector<Description>& earlier, Holds holds) {
  for (const auto& one : earlier) {
    if (one && holds(*one)) return &one;
  }
  return nullptr;
}

// An entry's current description, else the most recent of its earlier ones, that `holds`.
template <typename Holds>
const Description* firstHolding(const Description& current, const std::vector<Description>& earlier,
                                Holds holds) {
  if (current && holds(*current)) return &current;
  return firstEarlier(earlier, holds);
}

// Both generations known, and `info`'s the earlier one.
bool earlierGeneration(const ProcessDescription& info, const ProcessDescription& than) {
  return info.execId != 0 && than.execId != 0 && info.execId < than.execId;
}

// What an exec leaves behind: another file, or the same file exec'd anew.
bool otherImage(const ProcessDescription& a, const ProcessDescription& b) {
  if (a.exeInode != 0 && b.exeInode != 0 && !sameImage(a, b.exeKernelDev, b.exeInode)) {
    return true;
  }
  return a.execId != 0 && b.execId != 0 && a.execId != b.execId;
}

}  // namespace

ProcessTable::ProcessTable(Limits limits) : limits_(limits) {}

void ProcessTable::upsert(std::shared_ptr<const ProcessDescription> info) {
  if (!info) return;
  {
    std::unique_lock lock(mutex_);
    const ProcessKey key = info->key;
    auto [it, inserted] = entries_.try_emplace(key);
    Entry& entry = it->second;
    if (inserted) {
      entry.insertedSeq = ++seq_;
      // A new process on a pid the table knows: the old one is gone (its exit event may have
      // been lost); it keeps its own key and expires as an exited process.
      auto pid = byPid_.find(key.pid);
      if (pid != byPid_.end() && !(pid->second == key)) {
        auto old = entries_.find(pid->second);
        if (old != entries_.end() && !old->second.exited) {
          old->second.exited = true;
          old->second.exitTimeNs = info->startTimeNs;
          exitOrder_.emplace_back(old->first, info->startTimeNs);
          ++exitedCount_;
        }
        ++counters_.pidReuses;
      }
      byPid_[key.pid] = key;
    } else if (entry.current && earlierGeneration(*info, *entry.current)) {
      // A flow recorded before the exec that made the current image, described late: it takes
      // the place of the same image and generation among the earlier ones, if there.
      std::erase_if(entry.earlier, [&](const auto& earlier) {
        return earlier &&
               describesImage(*earlier, info->exeKernelDev, info->exeInode, info->execId);
      });
      keepEarlierLocked(entry, std::move(info));
      info = nullptr;
    } else if (entry.current && otherImage(*entry.current, *info)) {
      // A new image (execve): keep the earlier one for flows recorded before.
      keepEarlierLocked(entry, std::move(entry.current));
    }
    if (info) entry.current = std::move(info);
    if (inserted) {
      evictExitedLocked();
      if (entries_.size() > limits_.maxEntries) evictForBoundLocked();
    }
  }
  { std::lock_guard wake(waitMutex_); }
  completed_.notify_all();
}

void ProcessTable::keepEarlierLocked(Entry& entry,
                                     std::shared_ptr<const ProcessDescription> earlier) {
  entry.earlier.insert(entry.earlier.begin(), std::move(earlier));
  if (entry.earlier.size() + 1 > limits_.maxImagesPerProcess) {
    entry.earlier.resize(limits_.maxImagesPerProcess > 0 ? limits_.maxImagesPerProcess - 1 : 0);
  }
}

void ProcessTable::eraseLocked(std::unordered_map<ProcessKey, Entry, ProcessKeyHash>::iterator it) {
  auto pid = byPid_.find(it->first.pid);
  if (pid != byPid_.end() && pid->second == it->first) byPid_.erase(pid);
  if (it->second.exited) --exitedCount_;
  entries_.erase(it);
}

void ProcessTable::evictExitedLocked() {
  // exitOrder_ holds each exited key once, in exit order; keys already gone are skipped.
  while (exitedCount_ > limits_.maxExited && !exitOrder_.empty()) {
    const ProcessKey key = exitOrder_.front().first;
    exitOrder_.pop_front();
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.exited) continue;
    eraseLocked(it);
    ++counters_.evicted;
  }
}

void ProcessTable::evictForBoundLocked() {
  while (entries_.size() > limits_.maxEntries) {
    // Oldest exit first.
    bool evicted = false;
    while (!exitOrder_.empty()) {
      const ProcessKey key = exitOrder_.front().first;
      exitOrder_.pop_front();
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second.exited) {
        eraseLocked(it);
        ++counters_.evicted;
        evicted = true;
        break;
      }
    }
    if (evicted) continue;
    // No exited process left: the running one inserted first (it can be read again).
    auto oldest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.insertedSeq < b.second.insertedSeq; });
    if (oldest == entries_.end()) return;
    eraseLocked(oldest);
    ++counters_.evicted;
  }
}

void ProcessTable::markExited(const ProcessKey& key, std::uint64_t timeNs) {
  std::unique_lock lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.exited) return;
  it->second.exited = true;
  it->second.exitTimeNs = timeNs;
  exitOrder_.emplace_back(key, timeNs);
  ++exitedCount_;
  evictExitedLocked();
}

std::size_t ProcessTable::expire(std::uint64_t nowNs) {
  std::unique_lock lock(mutex_);
  std::size_t removed = 0;
  while (!exitOrder_.empty()) {
    const auto [key, exitNs] = exitOrder_.front();
    if (exitNs + limits_.exitedTtlNs > nowNs) break;
    exitOrder_.pop_front();
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.exited) continue;
    eraseLocked(it);
    ++removed;
  }
  counters_.expired += removed;
  return removed;
}

std::shared_ptr<const ProcessDescription> ProcessTable::find(const ProcessKey& key) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second.current;
}

std::shared_ptr<const ProcessDescription> ProcessTable::find(const ProcessKey& key,
                                                             std::uint32_t kernelDev,
                                                             std::uint64_t inode,
                                                             std::uint64_t execId) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  const Entry& entry = it->second;
  if (!entry.current) return nullptr;
  const auto* found = firstHolding(entry.current, entry.earlier, [&](const auto& info) {
    return describesImage(info, kernelDev, inode, execId);
  });
  return found ? *found : nullptr;
}

std::shared_ptr<const ProcessDescription> ProcessTable::otherImageAt(const ProcessKey& key,
                                                                     std::uint32_t kernelDev,
                                                                     std::uint64_t inode,
                                                                     std::uint64_t execId) const {
  if (execId == 0 || inode == 0) return nullptr;
  std::shared_lock lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  const auto* found = firstHolding(it->second.current, it->second.earlier, [&](const auto& info) {
    return info.execId == execId && info.exeInode != 0 && !sameImage(info, kernelDev, inode);
  });
  return found ? *found : nullptr;
}

std::optional<ProcessTable::Forker> ProcessTable::forkerOtherThan(const Entry& entry,
                                                                  std::uint32_t ppid,
                                                                  std::uint64_t parentStartTicks) {
  const auto* found = firstHolding(entry.current, entry.earlier, [&](const auto& info) {
    return (info.source == ProcessSource::kForkEvent || info.forkExecId != 0) &&
           (info.ppid != ppid || info.parentStartTicks != parentStartTicks);
  });
  if (found) {
    return Forker{.key = ProcessKey{(*found)->ppid, (*found)->parentStartTicks},
                  .execId = (*found)->forkExecId};
  }
  // No record of the fork is held any more, but the kernel's entry named the forker.
  const ProcessKey parent{ppid, parentStartTicks};
  found = firstHolding(entry.current, entry.earlier, [&](const auto& info) {
    return info.forkedBy.pid != 0 && info.forkedBy != parent;
  });
  if (!found) return std::nullopt;
  return Forker{.key = (*found)->forkedBy, .execId = (*found)->forkedByExecId};
}

std::optional<ProcessTable::Forker> ProcessTable::forkedByAnother(
    const ProcessKey& key, std::uint32_t ppid, std::uint64_t parentStartTicks) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return forkerOtherThan(it->second, ppid, parentStartTicks);
}

std::uint64_t ProcessTable::forkGeneration(const ProcessKey& key, std::uint32_t ppid,
                                           std::uint64_t parentStartTicks) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  const auto* found = firstHolding(it->second.current, it->second.earlier, [&](const auto& info) {
    return info.forkExecId != 0 && info.ppid == ppid && info.parentStartTicks == parentStartTicks;
  });
  return found ? (*found)->forkExecId : 0;
}

std::shared_ptr<const ProcessDescription> ProcessTable::findByPid(std::uint32_t pid) const {
  std::shared_lock lock(mutex_);
  auto key = byPid_.find(pid);
  if (key == byPid_.end()) return nullptr;
  auto it = entries_.find(key->second);
  return it == entries_.end() ? nullptr : it->second.current;
}

bool ProcessTable::exited(const ProcessKey& key) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.exited;
}

std::shared_ptr<const ProcessDescription> ProcessTable::waitComplete(
    const ProcessKey& key, std::chrono::microseconds timeout, std::uint32_t kernelDev,
    std::uint64_t inode, std::uint64_t execId) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock wait(waitMutex_);
  for (;;) {
    auto info = find(key, kernelDev, inode, execId);
    if (info && info->complete) return info;
    if (completed_.wait_until(wait, deadline) == std::cv_status::timeout) {
      return find(key, kernelDev, inode, execId);
    }
  }
}

std::vector<std::string> ProcessTable::ancestorPaths(std::uint32_t ppid,
                                                     std::uint64_t parentStartTicks,
                                                     std::size_t depth, ProcessKey* missing,
                                                     std::uint64_t parentExecId,
                                                     std::uint64_t* missingGeneration,
                                                     std::uint64_t childStartNs, bool* cut) const {
  std::vector<std::string> paths;
  std::shared_lock lock(mutex_);
  ProcessKey key{ppid, parentStartTicks};
  std::uint64_t generation = parentExecId;
  if (missing) *missing = ProcessKey{};
  while (paths.size() < depth && key.pid != 0) {
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.current) {
      if (missing) *missing = key;
      if (missingGeneration) *missingGeneration = generation;
      break;
    }
    const Entry& entry = it->second;
    // The image it forked with: a process that forks and then execs a trusted program must
    // not lend that program to the child.
    const ProcessDescription* info = entry.current.get();
    if (generation != 0 && info->execId != generation) {
      if (const auto* then = firstEarlier(
              entry.earlier, [&](const auto& one) { return one.execId == generation; })) {
        info = then->get();
      } else if (info->execId != 0) {
        info = nullptr;  // exec'd since, and that image is no longer held
      }
    } else if (generation == 0 && childStartNs != 0 && info->execTimeNs > childStartNs) {
      info = nullptr;  // this image came after the process below started: not its forker
    }
    const ProcessDescription& known = info ? *info : *entry.current;
    paths.push_back(info && info->pathOnHost ? info->path : std::string());
    ProcessKey above{known.ppid, known.parentStartTicks};
    generation = known.forkExecId;
    // Adopted since its fork, it names its adopter as its parent: the walk goes on from the
    // process that forked it. Else any program run as a subreaper or a pid namespace's init
    // would be lent to what the orphans it adopts start once they exec again.
    if (known.forkExecId == 0) {
      if (const auto forker = forkerOtherThan(entry, known.ppid, known.parentStartTicks)) {
        above = forker->key;
        generation = forker->execId;
      }
    }
    if (above.pid == key.pid) break;
    key = above;
    childStartNs = known.startTimeNs;
  }
  if (cut) *cut = paths.size() >= depth && key.pid != 0;
  return paths;
}

ProcessTable::Stats ProcessTable::stats() const {
  std::shared_lock lock(mutex_);
  Stats stats = counters_;
  stats.entries = entries_.size();
  stats.exited = exitedCount_;
  return stats;
}

std::size_t ProcessTable::size() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

}  // namespace warden::engine
