#include "base/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

namespace warden::base {

Result<UniqueFd> lockFile(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return std::unexpected(errnoError("opening the lock file " + file.string()));
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return std::unexpected(errnoError("locking " + file.string()));
  }
  return fd;
}

}  // namespace warden::base
