#include "engine/attribution/exe_hasher.h"

#include <cerrno>
#include <charconv>

#include "base/sha256.h"
#include "engine/attribution/deadlined_proc_reader.h"
#include "engine/attribution/proc_reader.h"

namespace warden::engine {

ImageHashLru::ImageHashLru(std::size_t capacity, HashStore* store)
    : capacity_(capacity == 0 ? 1 : capacity), store_(store) {}

std::optional<std::string> ImageHashLru::findInMemory(const base::FileIdentity& image) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(image);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

std::optional<std::string> ImageHashLru::find(const base::FileIdentity& image) {
  if (auto hit = findInMemory(image)) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    return hit;
  }
  if (store_) {
    if (auto stored = store_->load(image)) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(mutex_);
      insertLocked(image, *stored);
      return stored;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

void ImageHashLru::insert(const base::FileIdentity& image, const std::string& sha256Hex) {
  {
    std::lock_guard lock(mutex_);
    insertLocked(image, sha256Hex);
  }
  if (store_) store_->save(image, sha256Hex);
}

void ImageHashLru::insertLocked(const base::FileIdentity& image, const std::string& sha256Hex) {
  if (auto it = index_.find(image); it != index_.end()) {
    it->second->second = sha256Hex;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(image, sha256Hex);
  index_.emplace(image, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

std::size_t ImageHashLru::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

namespace {

// An image's key among the hashes under way: 64 bits of the SHA-256 of its identity, so that
// no user can make one of their images' keys that of another user's (a late hash refuses
// every other hash of its key until it ends), as size and timestamps, theirs to set, would
// allow with a plain mix.
std::uint64_t identityKey(const base::FileIdentity& image) {
  const std::int64_t fields[] = {static_cast<std::int64_t>(image.device),
                                 static_cast<std::int64_t>(image.inode), image.size, image.mtimeNs,
                                 image.ctimeNs};
  const auto hex =
      base::sha256Hex(std::string_view(reinterpret_cast<const char*>(fields), sizeof fields));
  std::uint64_t key = 0;
  if (hex) std::from_chars(hex->data(), hex->data() + 16, key, 16);
  return key;
}

base::Error unpinnedError(const char* filesystem) {
  return base::makeError(0, std::string("the image is on ") + filesystem +
                                ", whose contents can change unseen: no hash of it is trusted");
}

}  // namespace

base::Result<std::string> ExeHasher::hashImage(int fd) {
  const auto fsType = base::filesystemTypeOfFd(fd);
  if (!fsType) return std::unexpected(base::errnoError("statfs of the image"));
  if (const char* unpinned = base::unpinnedImageFilesystem(*fsType)) {
    return std::unexpected(unpinnedError(unpinned));
  }
  auto identity = identityOfFd(fd);
  if (!identity) return std::unexpected(base::errnoError("stat of the image"));
  const std::int64_t now = now_();
  if (auto cached = cache_.find(*identity)) return *cached;
  if (identity->size > kMaxHashedBytes) {
    return std::unexpected(base::makeError(
        0, "the image is " + std::to_string(identity->size) +
               " bytes, more than wardend hashes (512 MiB): no hash of it is taken"));
  }
  // No more than the size seen: a file that grows meanwhile is not read on (after it, not
  // cached either: its identity changed).
  auto hash = base::sha256HexOfFd(fd, static_cast<std::uint64_t>(identity->size));
  if (!hash) return hash;
  // Hashed while it changed? Then the bytes belong to no single version: do not cache. Nor
  // when a write in the same timestamp tick could still leave the identity as it is.
  auto after = identityOfFd(fd);
  if (after && *after == *identity && identity->settledAt(now)) {
    cache_.insert(*identity, *hash);
  }
  return hash;
}

base::Result<std::string> ExeHasher::hashOf(const ImageRef& info, const std::string& procRoot) {
  if (const char* unpinned = base::unpinnedImageFilesystem(info.imageFsType)) {
    return std::unexpected(unpinnedError(unpinned));
  }
  // The identity alone finds a cached hash only when its filesystem was read with it.
  if (info.imageKnown && info.imageFsType != 0) {
    if (auto cached = cache_.find(info.image)) return *cached;
  }
  if (info.handle && info.handle->fd() >= 0) return hashImage(info.handle->fd());
  const ProcReader direct(procRoot);
  auto image =
      reader_ ? reader_->openImage(info.key.pid, info.uid) : direct.openImage(info.key.pid);
  if (!image) {
    return std::unexpected(base::makeError(
        image.error().code, "opening the image of pid " + std::to_string(info.key.pid)));
  }
  const int fd = image->get();
  // Still the image this description names? (The pid may have exec'd or been reused.)
  auto identity = identityOfFd(fd);
  auto stat = reader_ ? reader_->stat(info.key.pid, info.uid) : direct.stat(info.key.pid);
  if (!identity || !stat || stat->startTicks != info.key.startTicks ||
      (info.imageKnown && !(*identity == info.image))) {
    return std::unexpected(base::makeError(
        ESRCH, "pid " + std::to_string(info.key.pid) + " no longer runs the described image"));
  }
  return hashImage(fd);
}

std::optional<base::Result<std::string>> ExeHasher::hashWithin(const ImageRef& info,
                                                               std::chrono::milliseconds wait,
                                                               const std::string& procRoot) {
  // What needs no reading is answered here.
  if (const char* unpinned = base::unpinnedImageFilesystem(info.imageFsType)) {
    return std::unexpected(unpinnedError(unpinned));
  }
  // From memory only: the database's copy is looked up on the hashing thread (hashOf), not
  // on a queue worker.
  if (info.imageKnown && info.imageFsType != 0) {
    if (auto cached = cache_.findInMemory(info.image)) return *cached;
  }
  if (!hashes_) return std::nullopt;
  // One hash an image: keyed by its identity, else by its process (the high bit apart).
  const std::uint64_t key = info.imageKnown ? identityKey(info.image) & ~(std::uint64_t{1} << 63)
                                            : std::uint64_t{1} << 63 | info.key.pid;
  return hashes_->run(
      key, info.uid, [this, info, procRoot] { return hashOf(info, procRoot); }, nullptr, wait);
}

}  // namespace warden::engine
