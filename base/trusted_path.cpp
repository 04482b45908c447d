#include "base/trusted_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <system_error>
#include <vector>

namespace warden::base {
namespace {

// The kernel's own bound on the links one path resolution follows.
constexpr int kMaxLinks = 40;

std::string octal(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

std::string joined(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string parentOf(const std::string& dir) {
  const auto slash = dir.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
}

// A directory: why it is unsafe, or nullopt. `openSticky` is set when others may write it but
// only remove their own entries (the sticky bit, when `sticky` trusts it), where the entry
// taken from it must then be root's.
std::optional<std::string> unsafeDirectory(const std::string& path, const struct stat& st,
                                           Sticky sticky, bool& openSticky) {
  openSticky = false;
  if (st.st_uid != 0) {
    return path + " is owned by uid " + std::to_string(st.st_uid) + ", not root";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return std::nullopt;
  if ((st.st_mode & S_ISVTX) != 0 && sticky == Sticky::kTrusted) {
    openSticky = true;
    return std::nullopt;
  }
  return path + " is writable by group or others (mode " + octal(st.st_mode) + ")";
}

void pushFront(std::deque<std::string>& rest, const std::filesystem::path& path) {
  std::vector<std::string> parts;
  for (const auto& part : path.relative_path()) parts.push_back(part.string());
  rest.insert(rest.begin(), parts.begin(), parts.end());
}

}  // namespace

std::optional<std::string> whyOthersCanRedirect(const std::filesystem::path& path) {
  constexpr Sticky sticky = Sticky::kTrusted;  // on the way: root's entries are root's
  std::error_code error;
  const std::filesystem::path absolute =
      path.is_absolute() ? path : std::filesystem::absolute(path, error);
  if (error) return std::nullopt;
  std::deque<std::string> rest;
  pushFront(rest, absolute);

  std::string dir = "/";
  bool openSticky = false;
  struct stat st {};
  if (::lstat("/", &st) != 0) return std::nullopt;
  if (auto why = unsafeDirectory(dir, st, sticky, openSticky)) return why;
  int links = 0;
  while (!rest.empty()) {
    const std::string name = std::move(rest.front());
    rest.pop_front();
    if (name.empty() || name == ".") continue;
    if (name == "..") {
      // Back to a directory the walk came through, safe already; only its sticky bit matters.
      dir = parentOf(dir);
      if (::lstat(dir.c_str(), &st) != 0) return std::nullopt;
      (void)unsafeDirectory(dir, st, sticky, openSticky);
      continue;
    }
    const std::string next = joined(dir, name);
    if (::lstat(next.c_str(), &st) != 0) return std::nullopt;
    if (openSticky && st.st_uid != 0) {
      return next + " is owned by uid " + std::to_string(st.st_uid) +
             ", not root, in a directory anyone may write to";
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxLinks) return next + ": too many symbolic links";
      std::vector<char> target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
      const ssize_t length = ::readlink(next.c_str(), target.data(), target.size());
      if (length < 0 || static_cast<std::size_t>(length) >= target.size()) return std::nullopt;
      const std::filesystem::path to(std::string(target.data(), static_cast<std::size_t>(length)));
      if (to.is_absolute()) {
        dir = "/";
        if (::lstat("/", &st) != 0) return std::nullopt;
        (void)unsafeDirectory(dir, st, sticky, openSticky);
      }
      pushFront(rest, to);
      continue;
    }
    if (rest.empty()) return std::nullopt;          // the last component: the caller's to judge
    if (!S_ISDIR(st.st_mode)) return std::nullopt;  // not a directory: nothing opens through it
    if (auto why = unsafeDirectory(next, st, sticky, openSticky)) return why;
    dir = next;
  }
  return std::nullopt;
}

std::optional<std::string> whyOthersCanChange(const std::filesystem::path& dir, Sticky sticky) {
  if (auto why = whyOthersCanRedirect(dir)) return why;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return std::nullopt;  // nothing there: opening fails
  bool openSticky = false;
  return unsafeDirectory(dir.string(), st, sticky, openSticky);
}

}  // namespace warden::base
