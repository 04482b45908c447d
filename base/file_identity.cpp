#include "base/file_identity.h"

#include <sys/stat.h>

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

}  // namespace warden::base
