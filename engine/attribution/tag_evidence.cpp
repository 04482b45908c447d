#include "engine/attribution/tag_evidence.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <system_error>

namespace warden::engine {

bool ownedOnlyBy(const std::string& dir, std::uint32_t owner) {
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == owner &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

std::string trustedCgroupPath(const std::string& cgroupRoot, std::string_view cgroupPath,
                              std::uint32_t owner) {
  std::string trusted;
  if (cgroupRoot.empty()) return trusted;
  std::string dir = cgroupRoot;
  while (!cgroupPath.empty()) {
    const std::size_t start = cgroupPath.find_first_not_of('/');
    if (start == std::string_view::npos) break;
    cgroupPath.remove_prefix(start);
    const std::size_t end = std::min(cgroupPath.find('/'), cgroupPath.size());
    const std::string_view part = cgroupPath.substr(0, end);
    cgroupPath.remove_prefix(end);
    if (part == "." || part == ".." || !ownedOnlyBy(dir, owner)) break;
    dir.append("/").append(part);
    trusted.append("/").append(part);
  }
  return trusted;
}

bool flatpakInstalled(const std::string& flatpakRoot, const std::string& appId,
                      std::string_view path, std::uint32_t kernelDev, std::uint64_t inode,
                      std::uint64_t ctimeNs, std::uint32_t owner) {
  constexpr std::string_view kApp = "/app/";
  if (!path.starts_with(kApp) || inode == 0 || appId.empty()) return false;
  if (appId.find('/') != std::string::npos || appId.front() == '.') return false;
  const std::filesystem::path apps = std::filesystem::path(flatpakRoot) / "app";
  const std::filesystem::path appDir = apps / appId;
  if (!ownedOnlyBy(flatpakRoot, owner) || !ownedOnlyBy(apps, owner) ||
      !ownedOnlyBy(appDir, owner)) {
    return false;
  }
  const std::string_view rest = path.substr(kApp.size());
  const auto sameFile = [&](const std::filesystem::path& candidate) {
    struct stat st {};
    if (::stat(candidate.c_str(), &st) != 0 || st.st_ino != inode) return false;
    // The kernel's dev_t is major << 20 | minor.
    if (kernelDev != 0 && st.st_dev == makedev(kernelDev >> 20, kernelDev & 0xfffff)) return true;
    const std::uint64_t ctime =
        static_cast<std::uint64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
    return ctimeNs != 0 && ctime == ctimeNs;
  };
  // <arch>/<branch>/<commit>: a few of each (and the "current" and "active" links beside
  // them); the walk is bounded all the same. The directories inside an installation are
  // flatpak's (root's), which the owner checks above stand for.
  std::size_t looked = 0;
  std::error_code ec;
  for (const auto& arch : std::filesystem::directory_iterator(appDir, ec)) {
    for (const auto& branch : std::filesystem::directory_iterator(arch.path(), ec)) {
      for (const auto& commit : std::filesystem::directory_iterator(branch.path(), ec)) {
        if (++looked > 64) return false;
        if (sameFile(commit.path() / "files" / rest)) return true;
      }
    }
  }
  return false;
}

}  // namespace warden::engine
