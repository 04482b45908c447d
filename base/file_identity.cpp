#include "base/file_identity.h"

#include <sys/stat.h>
#include <sys/vfs.h>

namespace warden::base {

FileIdentity FileIdentity::of(const struct ::stat& st) {
  constexpr std::int64_t kNsPerSecond = 1'000'000'000;
  return FileIdentity{
      .device = st.st_dev,
      .inode = st.st_ino,
      .size = st.st_size,
      .mtimeNs = static_cast<std::int64_t>(st.st_mtim.tv_sec) * kNsPerSecond + st.st_mtim.tv_nsec,
      .ctimeNs = static_cast<std::int64_t>(st.st_ctim.tv_sec) * kNsPerSecond + st.st_ctim.tv_nsec,
  };
}

const char* unpinnedImageFilesystem(std::int64_t fsType) {
  // The kernel's magic numbers (include/uapi/linux/magic.h).
  switch (fsType) {
    case 0x01021994:
      return "tmpfs";
    case 0x858458f6:
      return "ramfs";
    case 0x958458f6:
      return "hugetlbfs";
    case 0x794c7630:
      return "overlayfs";
    case 0x65735546:
      return "FUSE";
    default:
      return nullptr;
  }
}

std::optional<std::int64_t> filesystemTypeOfFd(int fd) {
  struct statfs info {};
  if (fstatfs(fd, &info) != 0) return std::nullopt;
  return static_cast<std::int64_t>(info.f_type);
}

}  // namespace warden::base
