#include "cli/new_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "base/trusted_path.h"
#include "base/unique_fd.h"

namespace warden::cli {
namespace {

Failure failure(const std::filesystem::path& path, std::string_view what, int error) {
  return {exitCodeForErrno(error),
          "cannot " + std::string(what) + " " + path.string() + ": " + std::strerror(error)};
}

Outcome<void> writeAll(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(failure(path, "write", errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// One file: a temporary next to it, then a rename that refuses to replace anything.
Outcome<void> writeOne(int dirFd, const std::filesystem::path& dir, const NewFile& file) {
  const std::filesystem::path target = dir / file.name;
  const std::string temp = "." + file.name + ".tmp." + std::to_string(::getpid());
  auto opened = base::openAt(dirFd, temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW);
  if (!opened) return std::unexpected(failure(dir / temp, "create", opened.error().code));
  const base::UniqueFd fd = std::move(*opened);
  const auto discard = [&] { ::unlinkat(dirFd, temp.c_str(), 0); };
  // fchmod, not the open's mode: the umask must not decide what wardend accepts.
  if (::fchmod(fd.get(), 0644) != 0) {
    const int error = errno;
    discard();
    return std::unexpected(failure(dir / temp, "set the mode of", error));
  }
  if (auto ok = writeAll(fd.get(), file.content, dir / temp); !ok) {
    discard();
    return ok;
  }
  if (::fsync(fd.get()) != 0) {
    const int error = errno;
    discard();
    return std::unexpected(failure(dir / temp, "fsync", error));
  }
  if (::renameat2(dirFd, temp.c_str(), dirFd, file.name.c_str(), RENAME_NOREPLACE) != 0) {
    const int error = errno;
    discard();
    if (error == EEXIST) {
      return std::unexpected(
          Failure{ExitCode::kError, target.string() + " appeared meanwhile; it was left alone"});
    }
    return std::unexpected(failure(target, "create", error));
  }
  return {};
}

}  // namespace

Outcome<void> writeNewFiles(const std::filesystem::path& given, const std::vector<NewFile>& files,
                            const std::vector<std::filesystem::path>& refused) {
  // "review/" and "review/." name the same directory, and a trailing slash makes the kernel
  // follow a symbolic link whatever O_NOFOLLOW says: opened by its last name from its parent.
  std::filesystem::path dir = given.lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();
  const std::filesystem::path parent = dir.has_parent_path() ? dir.parent_path() : ".";
  const std::string name = dir.filename().string();
  if (name.empty() || name == "." || name == "..") {
    return std::unexpected(
        Failure{ExitCode::kUsage, given.string() + ": name the directory the drafts go in"});
  }
  auto parentOpened = base::openFile(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!parentOpened) {
    return std::unexpected(failure(parent, "open directory", parentOpened.error().code));
  }
  if (::mkdirat(parentOpened->get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
    return std::unexpected(failure(dir, "create directory", errno));
  }
  // Not through a symbolic link: a user who made `dir` one (`review -> /etc/warden/profiles.d`)
  // would have root's drafts put in force (found by attack).
  base::UniqueFd dirFd(
      ::openat(parentOpened->get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dirFd) {
    const int error = errno;
    struct stat link {};
    if (::fstatat(parentOpened->get(), name.c_str(), &link, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(link.st_mode)) {
      return std::unexpected(Failure{
          ExitCode::kError, dir.string() + " is a symbolic link: name the directory itself"});
    }
    return std::unexpected(failure(dir, "open directory", error));
  }
  struct stat opens {};
  if (::fstat(dirFd.get(), &opens) != 0) return std::unexpected(failure(dir, "stat", errno));
  if (::geteuid() == 0) {
    // Root's drafts, read and then copied into the policy: nobody else may change them in
    // between (found by attack: a user made the directory first, and owned what root wrote).
    if (auto why = base::whyOthersCanChange(dir, base::Sticky::kRefused)) {
      return std::unexpected(Failure{
          ExitCode::kError, "not writing root's drafts where others can change them: " + *why});
    }
  }
  for (const auto& other : refused) {
    struct stat st {};
    if (::stat(other.c_str(), &st) == 0 && st.st_dev == opens.st_dev && st.st_ino == opens.st_ino) {
      return std::unexpected(Failure{
          ExitCode::kError, dir.string() + " is " + other.string() +
                                ", whose files are in force as soon as they are there: drafts "
                                "go elsewhere, to be read first"});
    }
  }

  std::string existing;
  for (const NewFile& file : files) {
    struct stat st {};
    if (::fstatat(dirFd.get(), file.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      existing += "\n  " + (dir / file.name).string();
    } else if (errno != ENOENT) {
      return std::unexpected(failure(dir / file.name, "check", errno));
    }
  }
  if (!existing.empty()) {
    return std::unexpected(
        Failure{ExitCode::kError, "not overwriting what exists; nothing was written:" + existing});
  }
  std::vector<std::string> written;
  for (const NewFile& file : files) {
    if (auto ok = writeOne(dirFd.get(), dir, file); !ok) {
      for (const std::string& name : written) ::unlinkat(dirFd.get(), name.c_str(), 0);
      ::fsync(dirFd.get());
      return ok;
    }
    written.push_back(file.name);
  }
  if (::fsync(dirFd.get()) != 0) return std::unexpected(failure(dir, "fsync", errno));
  return {};
}

}  // namespace warden::cli
