#include "engine/daemon/hook_record.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <optional>
#include <system_error>

#include "base/atomic_file.h"
#include "engine/attribution/bpf_attribution.h"

namespace warden::engine {

std::vector<std::string> HookRecord::read() const {
  std::vector<std::string> cgroups;
  std::ifstream in(file_);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) cgroups.push_back(line);
  }
  return cgroups;
}

base::Result<void> HookRecord::write(const std::vector<std::string>& cgroups) const {
  std::error_code ignored;  // a directory that cannot be made fails the write, which says so
  std::filesystem::create_directories(file_.parent_path(), ignored);
  std::string text;
  for (const auto& cgroup : cgroups) text += cgroup + "\n";
  return base::replaceFile(file_, text, S_IRUSR | S_IWUSR);
}

base::Result<int> detachStaleHooks(const HookRecord& record, std::vector<std::string> more,
                                   const std::string& own) {
  const std::vector<std::string> recorded = record.read();
  std::vector<std::string> cgroups = recorded;
  cgroups.insert(cgroups.end(), more.begin(), more.end());
  std::ranges::sort(cgroups);
  const auto [first, last] = std::ranges::unique(cgroups);
  cgroups.erase(first, last);

  std::vector<std::string> left;
  if (!own.empty()) left.push_back(own);
  std::optional<base::Error> failure;
  int detached = 0;
  for (const std::string& cgroup : cgroups) {
    if (cgroup.empty()) continue;
    auto done = BpfAttribution::detachStaleHooks(cgroup);
    if (done) {
      detached += *done;
    } else if (done.error().code != ENOENT) {
      if (!failure) failure = done.error();
      if (cgroup != own) left.push_back(cgroup);
    }
  }
  if (left != recorded) {
    if (auto written = record.write(left); !written && !failure) failure = written.error();
  }
  if (failure) return std::unexpected(*failure);
  return detached;
}

}  // namespace warden::engine
