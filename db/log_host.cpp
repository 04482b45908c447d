#include "db/log_host.h"

#include <cstring>
#include <utility>

namespace warden::db {

static_assert(LogHost::kMaxLength <= UINT8_MAX);
static_assert(sizeof(LogHost) == 64, "the size LogHost's comment counts with");

LogHost::LogHost(LogHost&& other) noexcept
    : spill_(std::move(other.spill_)), length_(std::exchange(other.length_, 0)) {
  if (!spill_) std::memcpy(text_.data(), other.text_.data(), length_);
}

LogHost& LogHost::operator=(const LogHost& other) {
  if (this != &other) assign(other.view());
  return *this;
}

LogHost& LogHost::operator=(LogHost&& other) noexcept {
  if (this != &other) {
    spill_ = std::move(other.spill_);
    length_ = std::exchange(other.length_, 0);
    if (!spill_) std::memcpy(text_.data(), other.text_.data(), length_);
  }
  return *this;
}

void LogHost::assign(std::string_view name) {
  name = name.substr(0, kMaxLength);
  // memmove: `name` may be this host's own text. Never with an empty view: its data() may be
  // null (a flow without a host name), and memmove from null is undefined even for 0 bytes.
  if (name.size() <= kInline) {
    if (!name.empty()) std::memmove(text_.data(), name.data(), name.size());
    spill_.reset();
  } else {
    // Always the longest size, so that a host assigned another long name keeps its buffer
    // (rows themselves are built anew for every flow: each long name costs one allocation).
    if (!spill_) spill_ = std::make_unique_for_overwrite<char[]>(kMaxLength);
    std::memmove(spill_.get(), name.data(), name.size());
  }
  length_ = static_cast<std::uint8_t>(name.size());
}

}  // namespace warden::db
