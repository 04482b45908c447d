#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "base/file_identity.h"
#include "base/unique_fd.h"
#include "engine/attribution/process_description.h"

namespace warden::engine {

// The executable images the tracker holds open so that they can be hashed after their process
// is gone or the file was replaced (profiles that pin sha256). One descriptor per image, shared
// by every process that runs it, and at most `maxHeld` images at once: a storm of processes
// running a few programs holds a few descriptors, a storm of distinct images no more than the
// bound. Past the bound an image is not held (counted in `refused`); its hash is then read
// through /proc/PID/exe while the process runs, as for a process described without a handle.
// An image is released when the last description holding it is dropped.
//
// Thread-safety: all members are safe to call concurrently.
class HeldImages {
 public:
  static constexpr std::size_t kDefaultMaxHeld = 256;

  explicit HeldImages(std::size_t maxHeld = kDefaultMaxHeld) : maxHeld_(maxHeld) {}

  // The handle of `image`: the one already held for it (then `fd` is closed), else `fd` held
  // as a new one; null when `maxHeld` images are held already.
  std::shared_ptr<ImageHandle> hold(const base::FileIdentity& image, base::UniqueFd fd);

  std::size_t held() const;
  std::size_t maxHeld() const { return maxHeld_; }
  std::uint64_t refused() const;

 private:
  // Forgets images no description holds any more.
  void pruneLocked();

  const std::size_t maxHeld_;
  mutable std::mutex mutex_;
  std::unordered_map<base::FileIdentity, std::weak_ptr<ImageHandle>, base::FileIdentityHash>
      images_;                 // guarded by mutex_
  std::uint64_t refused_ = 0;  // mutex_
};

}  // namespace warden::engine
