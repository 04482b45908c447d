#pragma once

#include <cstddef>
#include <cstdint>

struct stat;

namespace warden::base {

// What tells one version of a file from another without reading it (SPEC section 5): the values
// of stat(2). Any change of size, mtime or ctime is another version; chmod and chown change
// ctime, so nothing cached for a file (its hash, its parse) outlives an ownership change.
struct FileIdentity {
  std::uint64_t device = 0;  // st_dev (userspace encoding)
  std::uint64_t inode = 0;
  std::int64_t size = 0;
  std::int64_t mtimeNs = 0;
  std::int64_t ctimeNs = 0;

  static FileIdentity of(const struct ::stat& st);
  bool operator==(const FileIdentity&) const = default;
};

struct FileIdentityHash {
  std::size_t operator()(const FileIdentity& id) const noexcept {
    std::uint64_t h = id.device * 0x9e3779b97f4a7c15ull ^ id.inode;
    h ^= static_cast<std::uint64_t>(id.size) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= static_cast<std::uint64_t>(id.mtimeNs) + (h << 6) + (h >> 2);
    h ^= static_cast<std::uint64_t>(id.ctimeNs) + (h << 6) + (h >> 2);
    return static_cast<std::size_t>(h);
  }
};

}  // namespace warden::base
