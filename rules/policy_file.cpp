#include "rules/policy_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/trusted_path.h"

namespace warden::rules {
namespace {

// Policy files are small; anything bigger is a mistake, not a policy.
constexpr off_t kMaxPolicyFileSize = off_t{16} * 1024 * 1024;

Diagnostic fileError(const std::filesystem::path& file, std::string message) {
  return Diagnostic{Severity::kError, SourceLocation{file.string(), 0, 0}, std::move(message)};
}

std::string errnoText(int error) { return std::strerror(error); }

// Why a user could put another file in the place of `path`: a directory on the way to it.
std::optional<std::string> unsafeWay(const std::filesystem::path& path) {
  auto why = base::whyOthersCanRedirect(path);
  if (!why) return std::nullopt;
  return "on a path others can change: " + *why + " (chown root, chmod go-w)";
}

std::string octal(std::uint32_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", mode & 07777);
  return buffer;
}

}  // namespace

std::optional<std::string> unsafeOwnership(std::uint32_t ownerUid, std::uint32_t mode) {
  if (ownerUid != 0) {
    return "owned by uid " + std::to_string(ownerUid) + ", not root (chown root)";
  }
  if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "writable by group or others, mode " + octal(mode) + " (chmod go-w)";
  }
  return std::nullopt;
}

std::expected<PolicyFile, Diagnostic> PolicyFile::open(const std::filesystem::path& file) {
  if (::geteuid() == 0) {
    if (auto why = unsafeWay(file)) {
      return std::unexpected(fileError(file, "refusing policy file " + *why));
    }
  }
  // O_NONBLOCK: a FIFO (or a device) put where a policy file was expected must not hold the
  // reading thread until someone writes to it; such a file is refused below, and for a
  // regular file the flag changes nothing.
  auto fd = base::openFile(file, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (!fd) return std::unexpected(fileError(file, "cannot open: " + errnoText(fd.error().code)));
  PolicyFile opened(file, std::move(*fd), base::FileIdentity{});
  struct stat info {};
  if (::fstat(opened.fd_.get(), &info) != 0) {
    return std::unexpected(fileError(file, "cannot stat: " + errnoText(errno)));
  }
  if (!S_ISREG(info.st_mode)) return std::unexpected(fileError(file, "not a regular file"));
  if (::geteuid() == 0) {
    if (auto why = unsafeOwnership(info.st_uid, info.st_mode)) {
      return std::unexpected(fileError(file, "refusing policy file " + *why));
    }
  }
  if (info.st_size > kMaxPolicyFileSize) {
    return std::unexpected(
        fileError(file, "file too large (" + std::to_string(info.st_size) + " bytes)"));
  }
  opened.identity_ = base::FileIdentity::of(info);
  return opened;
}

std::expected<std::string, Diagnostic> PolicyFile::read() {
  std::string text;
  text.reserve(static_cast<std::size_t>(identity_.size));
  char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(fileError(file_, "cannot read: " + errnoText(errno)));
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > static_cast<std::size_t>(kMaxPolicyFileSize)) {
      return std::unexpected(fileError(file_, "file too large"));
    }
  }
  return text;
}

std::expected<std::string, Diagnostic> readPolicyFile(const std::filesystem::path& file) {
  auto opened = PolicyFile::open(file);
  if (!opened) return std::unexpected(std::move(opened.error()));
  return opened->read();
}

std::optional<Diagnostic> checkPolicyDirectory(const std::filesystem::path& directory) {
  struct stat info {};
  if (::stat(directory.c_str(), &info) != 0) {
    return fileError(directory, "cannot open directory: " + errnoText(errno));
  }
  if (!S_ISDIR(info.st_mode)) return fileError(directory, "not a directory");
  if (::geteuid() == 0) {
    if (auto why = unsafeOwnership(info.st_uid, info.st_mode)) {
      return fileError(directory, "refusing policy directory " + *why);
    }
    if (auto why = unsafeWay(directory)) {
      return fileError(directory, "refusing policy directory " + *why);
    }
  }
  return std::nullopt;
}

}  // namespace warden::rules
