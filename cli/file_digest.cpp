#include "cli/file_digest.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "base/sha256.h"
#include "base/unique_fd.h"

namespace warden::cli {
namespace {

Failure fileFailure(const std::filesystem::path& file, int error) {
  return {exitCodeForErrno(error), "cannot read " + file.string() + ": " + std::strerror(error)};
}

}  // namespace

Outcome<std::string> sha256File(const std::filesystem::path& file) {
  auto opened = base::openFile(file, O_RDONLY | O_NOCTTY);
  if (!opened) return std::unexpected(fileFailure(file, opened.error().code));
  const base::UniqueFd fd = std::move(*opened);
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) return std::unexpected(fileFailure(file, errno));
  if (!S_ISREG(info.st_mode)) {
    return std::unexpected(Failure{ExitCode::kError, file.string() + " is not a regular file"});
  }
  // The engine's own hashing, so that the line printed is the one its matcher compares.
  auto digest = base::sha256HexOfFd(fd.get());
  if (!digest) {
    const base::Error& error = digest.error();
    if (error.source == base::Error::Source::kErrno && error.code != 0) {
      return std::unexpected(fileFailure(file, error.code));
    }
    return std::unexpected(Failure{ExitCode::kError, error.message()});
  }
  return std::move(*digest);
}

}  // namespace warden::cli
