#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

namespace warden::base {

// Runs calls the kernel may keep waiting on threads of its own, and waits for each until a
// deadline. Two kinds use it: reads of another process's /proc, which wait for as long as that
// process makes them (one stuck in execve holds its exec_update_lock: its own FUSE server never
// answers the FLUSH of a close-on-exec file, and its stat, exe, cwd, root, environ, maps and io
// wait for it, killably only; a FUSE page mapped over its argv can make cmdline wait on that
// server), and hashes of executable images (up to 512 MiB, which a user makes as a sparse file
// at no cost). A call costs its caller the deadline, not the thread: it goes on alone, and until
// it returns no other call of the same key (the process, or the image) is started, nor more
// than `maxStuckPerUser` of one user's (the owner's real uid), nor more than `maxStuck` in all.
// A refused or late call is one that told nothing yet.
//
// Thread-safety: run() from any thread. A call must own everything it touches (copies, or
// shared_ptrs) unless `joinAtExit`: it may run on after run() returned, and after this object
// is gone.
class BoundedWaits {
 public:
  struct Options {
    std::chrono::milliseconds deadline{250};
    std::size_t maxStuck = 64;
    std::size_t maxStuckPerUser = 4;
    // The destructor waits for late calls too: for calls that end by themselves (hashes of
    // bounded size), which may then touch what outlives this object only.
    bool joinAtExit = false;
    // How long a late call still counts against its user's maxStuckPerUser once it ended: so
    // that a user whose processes let their readers go and get stuck again (each a deadline
    // of the caller's) gets no more than maxStuckPerUser late calls in that time.
    std::chrono::milliseconds userChargeAfterEnd{0};
  };
  enum class Outcome {
    kDone,     // the call ended in time
    kLate,     // it did not (it goes on; its key counts as stuck until it ends)
    kRefused,  // not started: a call of its key, or too many of its user's, are stuck
  };
  struct Counters {
    std::uint64_t late = 0;     // calls that did not end by their deadline
    std::uint64_t refused = 0;  // calls not started for calls stuck before them
    std::uint64_t stuck = 0;    // calls under way past their deadline now
    std::uint64_t threads = 0;  // its threads, idle or not
  };

  BoundedWaits() : BoundedWaits(Options{}) {}
  explicit BoundedWaits(Options options);
  ~BoundedWaits();  // joins idle threads; late calls' are left to end on their own
  BoundedWaits(const BoundedWaits&) = delete;
  BoundedWaits& operator=(const BoundedWaits&) = delete;

  // Runs `call` (keyed by `key`: a pid, or an image; of the user `uid` when known) on a thread
  // of its own and returns what it returned; nullopt when it was late or refused (`outcome`
  // says which). `wait`: instead of the deadline (0: the caller does not wait at all).
  template <typename Call>
  auto run(std::uint64_t key, std::optional<std::uint32_t> uid, Call call,
           Outcome* outcome = nullptr, std::optional<std::chrono::milliseconds> wait = {})
      -> std::optional<decltype(call())> {
    using Value = decltype(call());
    auto result = std::make_shared<std::optional<Value>>();
    const Outcome ran = runErased(
        key, uid, [call = std::move(call), result]() mutable { result->emplace(call()); }, wait);
    if (outcome) *outcome = ran;
    if (ran != Outcome::kDone) return std::nullopt;
    return std::move(*result);
  }

  Counters counters() const;

  struct Shared;  // what readers share with this object (and keep alive once it is gone)

 private:
  Outcome runErased(std::uint64_t key, std::optional<std::uint32_t> uid, std::function<void()> work,
                    std::optional<std::chrono::milliseconds> wait);

  std::shared_ptr<Shared> shared_;
};

}  // namespace warden::base
