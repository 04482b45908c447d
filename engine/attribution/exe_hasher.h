#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/bounded_waits.h"
#include "base/clock.h"
#include "base/error.h"
#include "engine/attribution/process_description.h"

namespace warden::engine {

class DeadlinedProcReader;

// Where hashes outlive the daemon (the database's executable-hash table). Calls may block;
// they are made only off the verdict path. Implementations decide their own thread-safety:
// ImageHashLru calls them with its lock released, possibly from several threads.
class HashStore {
 public:
  virtual ~HashStore() = default;
  virtual std::optional<std::string> load(const base::FileIdentity& image) = 0;
  virtual void save(const base::FileIdentity& image, std::string_view sha256Hex) = 0;
};

// Executable hashes by image identity (device, inode, size, mtime, ctime): a bounded LRU in
// memory in front of an optional HashStore. Thread-safe.
class ImageHashLru {
 public:
  explicit ImageHashLru(std::size_t capacity = 4096, HashStore* store = nullptr);

  // Memory first; on a miss the store (what it has is kept in memory). Null when unknown.
  std::optional<std::string> find(const base::FileIdentity& image);
  // Memory only: never blocks on the store (for the verdict path).
  std::optional<std::string> findInMemory(const base::FileIdentity& image);
  void insert(const base::FileIdentity& image, const std::string& sha256Hex);

  std::size_t size() const;
  std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  void insertLocked(const base::FileIdentity& image, const std::string& sha256Hex);

  using Lru = std::list<std::pair<base::FileIdentity, std::string>>;
  const std::size_t capacity_;
  HashStore* store_;
  mutable std::mutex mutex_;
  Lru lru_;  // most recent first; guarded by mutex_
  std::unordered_map<base::FileIdentity, Lru::iterator, base::FileIdentityHash> index_;  // mutex_
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
};

// What hashing a process's image needs of its description: small enough for the matcher's
// sha256 callback to carry in every description.
struct ImageRef {
  ProcessKey key;
  base::FileIdentity image;
  bool imageKnown = false;
  std::int64_t imageFsType = 0;
  std::shared_ptr<ImageHandle> handle;
  std::uint32_t uid = 0;  // the process's real uid: whose hashes wait (base::BoundedWaits)

  static ImageRef of(const ProcessDescription& info) {
    return ImageRef{info.key,         info.image,       info.imageKnown,
                    info.imageFsType, info.imageHandle, info.uid};
  }
};

// Hashes running images on demand (base/sha256.h, as `warden hash` does), through the cache.
// Thread-safe (the cache is; hashing itself uses only the caller's descriptors). hashOf() reads
// files: the verdict path and the tracker use hashWithin(), which waits as long as they choose.
class ExeHasher {
 public:
  // Larger images are not hashed (no sha256 key matches them): hashing can run on a queue
  // worker, and an image with a sparse tail of gigabytes, which costs its maker nothing, held
  // a worker for seconds while new flows queued past it (found by attack). The largest
  // programs (browsers) are a few hundred megabytes.
  static constexpr std::int64_t kMaxHashedBytes = std::int64_t{512} << 20;

  using Clock = std::int64_t (*)();  // realtime ns: what a hash is cached once settled against
  explicit ExeHasher(ImageHashLru& cache, Clock now = base::realtimeNs)
      : cache_(cache), now_(now) {}

  // The hash of the image `fd` refers to; cached by the identity fstat gives once that settled
  // (FileIdentity::settledAt). An error for an image on a filesystem unpinnedImageFilesystem
  // names, which is neither read nor cached.
  [[nodiscard]] base::Result<std::string> hashImage(int fd);

  // The hash of what `info` runs: through its held image handle when it has one, else
  // through /proc/PID/exe (under `procRoot`) when that is still the same image. A replaced
  // or deleted file is hashed as what runs, since both descriptors reach the running inode.
  [[nodiscard]] base::Result<std::string> hashOf(const ImageRef& info,
                                                 const std::string& procRoot = "/proc");
  [[nodiscard]] base::Result<std::string> hashOf(const ProcessDescription& info,
                                                 const std::string& procRoot = "/proc") {
    return hashOf(ImageRef::of(info), procRoot);
  }

  // hashOf() on a hashing thread, waited for at most `wait` (0: not at all): nullopt when the
  // hash is not known by then. It goes on, and is cached when done; until then no other hash of
  // that image starts (asking again gives nullopt at once), nor more than 2 of one user's, 16 in
  // all. A user can make an image of 512 MiB at no cost (a sparse file): on a queue worker its
  // hash held new flows for a second each, while the queue filled and `fail` passed them.
  [[nodiscard]] std::optional<base::Result<std::string>> hashWithin(
      const ImageRef& info, std::chrono::milliseconds wait, const std::string& procRoot = "/proc");
  // Waits for the hashes under way (each ends by itself, 512 MiB at most) and starts no more:
  // before what they read through (readProcThrough) goes.
  void stop() { hashes_.reset(); }
  base::BoundedWaits::Counters hashCounters() const {
    return hashes_ ? hashes_->counters() : base::BoundedWaits::Counters{};
  }

  ImageHashLru& cache() { return cache_; }

  // /proc/PID/exe is opened through `reader` (borrowed; set before any hashOf): with its
  // deadline, on the queue worker too. Without it, directly.
  void readProcThrough(const DeadlinedProcReader& reader) { reader_ = &reader; }

 private:
  ImageHashLru& cache_;
  Clock now_;
  const DeadlinedProcReader* reader_ = nullptr;
  std::unique_ptr<base::BoundedWaits> hashes_ =
      std::make_unique<base::BoundedWaits>(base::BoundedWaits::Options{
          .deadline = std::chrono::milliseconds(50),
          .maxStuck = 16,
          .maxStuckPerUser = 2,
          .joinAtExit = true,
      });
};

}  // namespace warden::engine
