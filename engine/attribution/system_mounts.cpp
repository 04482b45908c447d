#include "engine/attribution/system_mounts.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace warden::engine {
namespace {

constexpr const char* kTracefs = "/sys/kernel/tracing";

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string_view digits = field.substr(i + 1, 3);
      if (digits.find_first_not_of("01234567") == std::string_view::npos) {
        out.push_back(
            static_cast<char>((digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

}  // namespace

std::optional<std::string> findMountPoint(std::string_view mountinfo, std::string_view fsType) {
  // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
  std::istringstream lines{std::string(mountinfo)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mountPoint, field;
    if (!(fields >> id >> parent >> devno >> root >> mountPoint)) continue;
    while (fields >> field && field != "-") {
    }
    std::string type;
    if (field == "-" && fields >> type && type == fsType) return unescape(mountPoint);
  }
  return std::nullopt;
}

base::Result<std::string> cgroup2MountPoint() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return std::unexpected(base::errnoError("reading /proc/self/mountinfo"));
  std::ostringstream text;
  text << in.rdbuf();
  auto found = findMountPoint(text.str(), "cgroup2");
  if (!found) return std::unexpected(base::makeError(ENOENT, "finding the cgroup2 mount"));
  return *found;
}

base::Result<std::string> resolveAttachCgroup(std::string_view configured) {
  if (configured != "auto") return std::string(configured);
  auto mounted = cgroup2MountPoint();
  if (mounted || mounted.error().code != ENOENT) return mounted;
  for (const char* target : {"/sys/fs/cgroup", "/run/warden/cgroup2"}) {
    std::error_code ignored;
    std::filesystem::create_directories(target, ignored);
    if (mount("cgroup2", target, "cgroup2", 0, nullptr) == 0) return std::string(target);
  }
  return std::unexpected(base::errnoError("mounting cgroup2 (none is mounted here)"));
}

base::Result<bool> ensureTracefs() {
  struct stat st {};
  const std::string events = std::string(kTracefs) + "/events";
  if (stat(events.c_str(), &st) == 0) return false;
  if (mount("tracefs", kTracefs, "tracefs", 0, nullptr) != 0) {
    return std::unexpected(base::errnoError(std::string("mounting tracefs on ") + kTracefs));
  }
  return true;
}

}  // namespace warden::engine
