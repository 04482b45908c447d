#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "bpf/attribution.h"

namespace warden::engine {

// The exec_windows map (bpf/attribution.h) as the process tracker uses it: a process's window
// read around each /proc read of it, forgotten once its exit record is read, and listed so
// that entries of processes found gone can be swept. BpfAttribution is the real one; tests
// give their own.
//
// Thread-safety: the tracker calls it from its one thread.
class ExecWindows {
 public:
  virtual ~ExecWindows() = default;

  // What the map holds for process `tgid` started at `startNs`: a zeroed window when it has
  // no entry and none was ever lost (the process has not exec'd since the programs were
  // attached); nullopt when that cannot be told (a lost entry, a failed read).
  virtual std::optional<warden_exec_window> execWindow(std::uint32_t tgid,
                                                       std::uint64_t startNs) const = 0;
  // Deletes the process's entry (it has ended).
  virtual void forgetExecWindow(const warden_exec_window_key& key) const = 0;
  // Up to `max` of the processes the map holds an entry for, in the map's order, from the one
  // after `after` (null: from the first; one no longer there: from the first too).
  virtual std::vector<warden_exec_window_key> execWindowKeys(const warden_exec_window_key* after,
                                                             std::size_t max) const = 0;
};

}  // namespace warden::engine
