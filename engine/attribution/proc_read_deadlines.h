#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

namespace warden::engine {

// Runs reads of other processes' /proc entries on reader threads of its own, and waits for each
// until a deadline. A read of /proc/PID waits in the kernel for as long as PID makes it: a
// process stuck in execve holds its exec_update_lock (its own FUSE server never answers the
// FLUSH of a close-on-exec file), and its stat, exe, cwd, root, environ, maps and io wait for
// it, killably only; a FUSE page mapped over its argv makes cmdline wait on that server. Such a
// read costs its caller the deadline, not the thread: the reader is left to the kernel, and
// until it returns no other read of that process is started, nor more than `maxStuckPerUser`
// of one user's (the owner's real uid), nor more than `maxStuck` in all. A refused or late read
// is one that told nothing: its caller goes on as if the process could not be read.
//
// Thread-safety: run() from any thread. A read must own everything it touches (copies, or
// shared_ptrs): it may run on after the call and after this object is gone.
class ProcReadDeadlines {
 public:
  struct Options {
    std::chrono::milliseconds deadline{250};
    std::size_t maxStuck = 64;
    std::size_t maxStuckPerUser = 4;
  };
  enum class Outcome {
    kDone,     // the read ended in time
    kLate,     // it did not (it goes on; the process counts as stuck until it ends)
    kRefused,  // not started: a read of the process, or too many of its user's, are stuck
  };
  struct Counters {
    std::uint64_t late = 0;     // reads that did not end by their deadline
    std::uint64_t refused = 0;  // reads not started for reads stuck before them
    std::uint64_t stuck = 0;    // reads under way past their deadline now
    std::uint64_t threads = 0;  // reader threads, idle or not
  };

  ProcReadDeadlines() : ProcReadDeadlines(Options{}) {}
  explicit ProcReadDeadlines(Options options);
  ~ProcReadDeadlines();  // joins idle readers; stuck ones are left to end on their own
  ProcReadDeadlines(const ProcReadDeadlines&) = delete;
  ProcReadDeadlines& operator=(const ProcReadDeadlines&) = delete;

  // Runs `read` (a read of process `pid`, whose real uid is `uid` when known) on a reader and
  // returns what it returned; nullopt when it was late or refused (`outcome` says which).
  template <typename Read>
  auto run(std::uint32_t pid, std::optional<std::uint32_t> uid, Read read,
           Outcome* outcome = nullptr) -> std::optional<decltype(read())> {
    using Value = decltype(read());
    auto result = std::make_shared<std::optional<Value>>();
    const Outcome ran = runErased(
        pid, uid, [read = std::move(read), result]() mutable { result->emplace(read()); });
    if (outcome) *outcome = ran;
    if (ran != Outcome::kDone) return std::nullopt;
    return std::move(*result);
  }

  Counters counters() const;

  struct Shared;  // what readers share with this object (and keep alive once it is gone)

 private:
  Outcome runErased(std::uint32_t pid, std::optional<std::uint32_t> uid,
                    std::function<void()> work);

  std::shared_ptr<Shared> shared_;
};

}  // namespace warden::engine
