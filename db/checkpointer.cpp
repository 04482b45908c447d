#include "db/checkpointer.h"

#include <pthread.h>

#include <utility>

namespace warden::db {
namespace {

constexpr std::chrono::milliseconds kBusyTimeout{200};

}  // namespace

base::Result<std::unique_ptr<Checkpointer>> Checkpointer::start(const std::filesystem::path& path,
                                                                std::chrono::milliseconds interval,
                                                                ErrorSink onError) {
  // A short busy timeout: the final TRUNCATE waits for readers, and shutdown must not.
  auto db = Database::open(path, {.access = Access::kReadWrite, .busyTimeout = kBusyTimeout});
  if (!db) return std::unexpected(std::move(db.error()));
  std::unique_ptr<Checkpointer> checkpointer(
      new Checkpointer(std::move(*db), interval, std::move(onError)));
  checkpointer->thread_ = std::thread([raw = checkpointer.get()] { raw->run(); });
  return checkpointer;
}

Checkpointer::Checkpointer(Database db, std::chrono::milliseconds interval, ErrorSink onError)
    : db_(std::move(db)), interval_(interval), onError_(std::move(onError)) {}

Checkpointer::~Checkpointer() { stop(); }

void Checkpointer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::run() {
  pthread_setname_np(pthread_self(), "wardend-ckpt");
  for (;;) {
    bool last = false;
    {
      std::unique_lock lock(mutex_);
      last = cv_.wait_for(lock, interval_, [this] { return stopping_; });
    }
    // PASSIVE never waits for the writer or readers; it copies what it can. At the end the
    // writer is gone, and TRUNCATE also gives the WAL file's space back.
    auto ok = db_.exec(last ? "PRAGMA wal_checkpoint(TRUNCATE)" : "PRAGMA wal_checkpoint(PASSIVE)",
                       "checkpoint the WAL");
    if (ok) {
      checkpoints_.fetch_add(1, std::memory_order_relaxed);
    } else if (onError_) {
      onError_(ok.error());
    }
    if (last) return;
  }
}

}  // namespace warden::db
