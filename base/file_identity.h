#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

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

  // Whether any write from `nowRealtimeNs` on is sure to change this identity: its ctime is
  // kSettledAfterNs or more in the past, longer than the coarsest timestamps a filesystem
  // keeps (whole seconds: ext4 with 128-byte inodes, ext3; FAT's two). Until then a write in
  // the same tick leaves every value the same (found by attack: a pinned program rewritten
  // in the second it was hashed ran under its hash): what is cached by identity is cached
  // only once it settled (the "racy git" rule).
  static constexpr std::int64_t kSettledAfterNs = 2'000'000'000;
  bool settledAt(std::int64_t nowRealtimeNs) const {
    return ctimeNs <= nowRealtimeNs - kSettledAfterNs;
  }
};

// Why an image on a filesystem of statfs(2) type `fsType` has no trustworthy hash: the name
// of a filesystem whose file contents can change while every value its identity (device,
// inode, size, mtime, ctime) is made of stays the same, or can differ between two readers.
// Null for the others. Found by attack (tests/integration/test_image_trust.py):
//   tmpfs (also /dev/shm and memfd), ramfs, hugetlbfs: a write through a shared mapping of a
//     page already mapped changes no timestamp (shmem has no page_mkwrite), so a copy of a
//     pinned binary, hashed when it ran, could be rewritten and run again under its hash;
//   overlayfs: the upper layer's file can be written beside the overlay (a user's overlay
//     in a user namespace over a tmpfs upper layer is the case above);
//   FUSE: its server answers each reader with the bytes it likes (the kernel's exec one
//     program, wardend's read another).
// Any user can make a file on the first three, and on the last two in a namespace of their
// own or with fusermount: a sha256 key never matches what runs from them.
const char* unpinnedImageFilesystem(std::int64_t fsType);

// statfs(2) f_type of the filesystem `fd` is on; nullopt when it could not be read.
std::optional<std::int64_t> filesystemTypeOfFd(int fd);

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
