#include "engine/attribution/held_images.h"

namespace warden::engine {

std::shared_ptr<ImageHandle> HeldImages::hold(const base::FileIdentity& image, base::UniqueFd fd) {
  std::lock_guard lock(mutex_);
  if (auto it = images_.find(image); it != images_.end()) {
    if (auto shared = it->second.lock()) return shared;
    images_.erase(it);
  }
  if (images_.size() >= maxHeld_) pruneLocked();
  if (images_.size() >= maxHeld_) {
    ++refused_;
    return nullptr;
  }
  auto handle = std::make_shared<ImageHandle>(std::move(fd));
  images_.emplace(image, handle);
  return handle;
}

void HeldImages::pruneLocked() {
  std::erase_if(images_, [](const auto& entry) { return entry.second.expired(); });
}

std::size_t HeldImages::held() const {
  std::lock_guard lock(mutex_);
  std::size_t live = 0;
  for (const auto& [image, handle] : images_) live += handle.expired() ? 0 : 1;
  return live;
}

std::uint64_t HeldImages::refused() const {
  std::lock_guard lock(mutex_);
  return refused_;
}

}  // namespace warden::engine
