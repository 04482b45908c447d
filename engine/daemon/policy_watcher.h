#pragma once

#include <filesystem>
#include <string>

#include "base/error.h"
#include "base/unique_fd.h"

namespace warden::engine {

// Watches warden.toml and the profiles directory with inotify so that any kind of change
// (write in place, rename into place, create, delete, chmod) triggers a reload. It watches
// directories, not files: editors and package managers replace files by rename, which a
// watch on the old inode would miss. Owned by the control thread; not thread-safe.
class PolicyWatcher {
 public:
  [[nodiscard]] static base::Result<PolicyWatcher> open(const std::filesystem::path& configFile,
                                                        const std::filesystem::path& profilesDir);
  PolicyWatcher(PolicyWatcher&& other) noexcept;
  PolicyWatcher& operator=(PolicyWatcher&&) = delete;

  int fd() const { return fd_.get(); }

  // Reads the pending events; true if one of them concerns the policy (warden.toml, or a
  // *.toml in the profiles directory, or the directory itself).
  bool consumeEvents();

  // Follows a profiles directory that moved with a reload.
  void watchProfiles(const std::filesystem::path& profilesDir);

 private:
  PolicyWatcher(base::UniqueFd fd, std::filesystem::path configFile)
      : fd_(std::move(fd)), configFile_(std::move(configFile)) {}

  base::UniqueFd fd_;
  std::filesystem::path configFile_;
  std::filesystem::path profilesDir_;
  int configWatch_ = -1;
  int profilesWatch_ = -1;
};

}  // namespace warden::engine
