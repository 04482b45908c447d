#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/unique_fd.h"

namespace warden::base {

Result<void> replaceFile(const std::filesystem::path& file, std::string_view text, mode_t mode) {
  const std::filesystem::path directory =
      file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  std::string temp = (directory / ("." + file.filename().string() + ".XXXXXX")).string();
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) return std::unexpected(errnoError("creating a temporary file in " + directory.string()));
  // Removed unless the rename below took it.
  struct Cleanup {
    const std::string* path;
    ~Cleanup() {
      if (path) ::unlink(path->c_str());
    }
  } cleanup{&temp};
  if (::fchmod(fd.get(), mode) != 0) return std::unexpected(errnoError("chmod " + temp));
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(errnoError("writing " + temp));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return std::unexpected(errnoError("fsync " + temp));
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    return std::unexpected(errnoError("renaming " + temp + " to " + file.string()));
  }
  cleanup.path = nullptr;
  // The rename itself survives a crash once the directory is on disk.
  UniqueFd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir && ::fsync(dir.get()) != 0 && errno != EINVAL) {
    return std::unexpected(errnoError("fsync " + directory.string()));
  }
  return {};
}

}  // namespace warden::base
