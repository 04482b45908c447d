#include "base/bounded_waits.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

namespace warden::base {
namespace {

struct Job {
  std::function<void()> work;
  std::uint64_t key = 0;
  std::optional<std::uint32_t> uid;
  // Guarded by Shared::mutex.
  bool done = false;
  bool late = false;  // its caller gave up waiting: the process counts as stuck until it ends
  std::condition_variable ended;
};

struct Reader {
  std::thread thread;
  std::condition_variable given;  // a job, or closing
  std::shared_ptr<Job> job;       // guarded by Shared::mutex
};

}  // namespace

struct BoundedWaits::Shared {
  explicit Shared(Options o) : options(o) {}

  const Options options;
  std::mutex mutex;
  // Guarded by mutex.
  std::vector<std::shared_ptr<Reader>> idle;
  std::vector<std::shared_ptr<Reader>> all;
  std::unordered_map<std::uint64_t, std::size_t> stuckKeys;
  std::unordered_map<std::uint32_t, std::size_t> stuckUsers;
  std::size_t stuck = 0;
  std::uint64_t late = 0;
  std::uint64_t refused = 0;
  bool closing = false;

  // Late calls that ended but still count against their user (Options::userChargeAfterEnd),
  // by when they stop: in that order, as all are held as long.
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint32_t>> charges;

  void unstick(const Job& job) {
    --stuck;
    if (auto it = stuckKeys.find(job.key); it != stuckKeys.end() && --it->second == 0) {
      stuckKeys.erase(it);
    }
    if (!job.uid) return;
    if (options.userChargeAfterEnd.count() > 0) {
      charges.emplace_back(std::chrono::steady_clock::now() + options.userChargeAfterEnd, *job.uid);
    } else {
      uncharge(*job.uid);
    }
  }

  void uncharge(std::uint32_t uid) {
    if (auto it = stuckUsers.find(uid); it != stuckUsers.end() && --it->second == 0) {
      stuckUsers.erase(it);
    }
  }

  void expireCharges() {
    const auto now = std::chrono::steady_clock::now();
    while (!charges.empty() && charges.front().first <= now) {
      uncharge(charges.front().second);
      charges.pop_front();
    }
  }
};

namespace {

void serve(std::shared_ptr<BoundedWaits::Shared> shared, std::shared_ptr<Reader> self) {
  std::unique_lock lock(shared->mutex);
  for (;;) {
    self->given.wait(lock, [&] { return self->job || shared->closing; });
    if (!self->job) return;
    const std::shared_ptr<Job> job = self->job;
    lock.unlock();
    job->work();
    job->work = nullptr;  // what the read captured goes here, not under the lock
    lock.lock();
    self->job.reset();
    job->done = true;
    if (job->late) {
      shared->unstick(*job);
    } else {
      job->ended.notify_one();
    }
    if (shared->closing) return;  // detached when the owner went
    shared->idle.push_back(self);
  }
}

}  // namespace

BoundedWaits::BoundedWaits(Options options) : shared_(std::make_shared<Shared>(options)) {}

BoundedWaits::~BoundedWaits() {
  std::vector<std::shared_ptr<Reader>> joined;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->closing = true;
    for (auto& reader : shared_->all) {
      if (reader->job && !shared_->options.joinAtExit) {
        reader->thread.detach();  // waits in the kernel: it ends when its process lets it
      } else {
        reader->given.notify_one();
        joined.push_back(reader);
      }
    }
    shared_->all.clear();
    shared_->idle.clear();
  }
  for (auto& reader : joined) reader->thread.join();
}

BoundedWaits::Outcome BoundedWaits::runErased(std::uint64_t key, std::optional<std::uint32_t> uid,
                                              std::function<void()> work,
                                              std::optional<std::chrono::milliseconds> wait) {
  Shared& s = *shared_;
  std::unique_lock lock(s.mutex);
  s.expireCharges();
  const auto userStuck = [&] {
    if (!uid) return false;
    const auto it = s.stuckUsers.find(*uid);
    return it != s.stuckUsers.end() && it->second >= s.options.maxStuckPerUser;
  };
  if (s.stuckKeys.contains(key) || userStuck() || s.stuck >= s.options.maxStuck) {
    ++s.refused;
    return Outcome::kRefused;
  }
  std::shared_ptr<Reader> reader;
  if (!s.idle.empty()) {
    reader = std::move(s.idle.back());
    s.idle.pop_back();
  } else {
    reader = std::make_shared<Reader>();
    try {
      reader->thread = std::thread(serve, shared_, reader);
    } catch (const std::system_error&) {  // no thread to be had: nothing read
      ++s.refused;
      return Outcome::kRefused;
    }
    s.all.push_back(reader);
  }
  auto job = std::make_shared<Job>();
  job->work = std::move(work);
  job->key = key;
  job->uid = uid;
  reader->job = job;
  reader->given.notify_one();
  const auto deadline = std::chrono::steady_clock::now() + wait.value_or(s.options.deadline);
  if (job->ended.wait_until(lock, deadline, [&] { return job->done; })) return Outcome::kDone;
  job->late = true;
  ++s.late;
  ++s.stuck;
  ++s.stuckKeys[key];
  if (uid) ++s.stuckUsers[*uid];
  return Outcome::kLate;
}

BoundedWaits::Counters BoundedWaits::counters() const {
  std::lock_guard lock(shared_->mutex);
  return Counters{.late = shared_->late,
                  .refused = shared_->refused,
                  .stuck = shared_->stuck,
                  .threads = shared_->all.size()};
}

}  // namespace warden::base
