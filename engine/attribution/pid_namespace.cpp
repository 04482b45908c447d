#include "engine/attribution/pid_namespace.h"

#include <sys/stat.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

namespace warden::engine {

std::optional<std::vector<std::uint32_t>> parseNsPids(std::string_view status) {
  constexpr std::string_view kKey = "NSpid:";
  std::size_t at = 0;
  while (at < status.size() && status.compare(at, kKey.size(), kKey) != 0) {
    const std::size_t next = status.find('\n', at);
    if (next == std::string_view::npos) return std::nullopt;
    at = next + 1;
  }
  if (at >= status.size()) return std::nullopt;
  std::string_view line = status.substr(at + kKey.size());
  line = line.substr(0, line.find('\n'));
  std::vector<std::uint32_t> pids;
  const char* p = line.data();
  const char* end = line.data() + line.size();
  while (p < end) {
    if (*p == ' ' || *p == '\t') {
      ++p;
      continue;
    }
    std::uint32_t pid = 0;
    const auto [next, ec] = std::from_chars(p, end, pid);
    if (ec != std::errc() || (next < end && *next != ' ' && *next != '\t')) return std::nullopt;
    pids.push_back(pid);
    p = next;
  }
  if (pids.empty()) return std::nullopt;
  return pids;
}

base::Result<PidNamespace> procPidNamespace(const std::string& procRoot) {
  const std::string nsPath = procRoot + "/self/ns/pid";
  struct stat st {};
  if (stat(nsPath.c_str(), &st) != 0) return std::unexpected(base::errnoError("stat " + nsPath));
  if (st.st_ino > std::numeric_limits<std::uint32_t>::max()) {
    return std::unexpected(base::makeError(
        0, nsPath + ": inode " + std::to_string(st.st_ino) + " is wider than a namespace's"));
  }
  const std::string statusPath = procRoot + "/self/status";
  std::ifstream in(statusPath);
  if (!in) return std::unexpected(base::errnoError("reading " + statusPath));
  std::ostringstream text;
  text << in.rdbuf();
  // One number: this /proc is of wardend's own namespace. More: of an ancestor's, whose pids
  // come first. (No line at all: a kernel without nested numbering shown; trust ns/pid.)
  if (auto pids = parseNsPids(text.str()); pids && pids->size() != 1) {
    std::string shown;
    for (std::uint32_t pid : *pids) shown += (shown.empty() ? "" : " ") + std::to_string(pid);
    return std::unexpected(base::makeError(
        0, procRoot + " belongs to an ancestor of wardend's pid namespace (NSpid " + shown +
               "): its pids are not the ones wardend would attribute flows to; mount a /proc "
               "of wardend's own namespace (unshare --mount-proc, a container's own /proc)"));
  }
  return PidNamespace{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint32_t>(st.st_ino)};
}

}  // namespace warden::engine
