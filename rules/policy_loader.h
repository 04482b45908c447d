#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rules/config.h"
#include "rules/diagnostic.h"
#include "rules/policy.h"
#include "rules/policy_file.h"
#include "rules/profile_codec.h"

namespace warden::rules {

// Loads policies (see loadPolicy) and remembers each profile file it parsed, so that the
// next load parses only the files that changed (by device, inode, size, mtime and ctime):
// a reload after editing one profile costs that file, not the whole directory. Every
// file is still opened and checked on every load. Many files are read and parsed on a few
// threads at once (a start-up or a reload of a large policy is mostly TOML parsing); the
// result does not depend on it. Not thread-safe: one owner, the daemon's control thread.
class PolicyLoader {
 public:
  std::expected<Policy, Diagnostics> load(const std::filesystem::path& configFile,
                                          Diagnostics* warnings = nullptr);
  std::expected<Policy, Diagnostics> load(Config config, Diagnostics* warnings = nullptr);

  // How many profile files the last load had to parse (the rest came from the cache).
  std::size_t filesParsed() const { return filesParsed_; }

  // Loads `text` as profiles.d file `file` (which need not exist yet) in place of what is on
  // disk, from the next load on: a command checks the whole policy with the file it is about
  // to write before writing it.
  void setPendingFile(std::filesystem::path file, std::string text) {
    pending_.emplace(std::move(file), std::move(text));
  }

  // The clock that decides which rules have expired (tests set their own).
  void setClock(std::function<std::chrono::sys_seconds()> now) { now_ = std::move(now); }

 private:
  struct CachedFile {
    base::FileIdentity identity;
    ProfileFile parsed;
    Diagnostics warnings;
  };

  // What one profile file gave this load: found unchanged in the cache, or parsed now.
  struct FileLoad {
    base::FileIdentity identity;
    bool cached = false;
    bool parsedNow = false;  // read and parsed now (successfully or not)
    ProfileFile parsed;      // parsed now
    Diagnostics warnings;    // parsed now
    Diagnostics errors;      // not empty: the file is refused
  };

  // Opens `file` and parses it unless the cache holds this version. Only reads cache_, so
  // several threads may load files at once.
  FileLoad loadFile(const std::filesystem::path& file) const;
  std::vector<FileLoad> loadFiles(const std::vector<std::filesystem::path>& files) const;

  std::map<std::string, CachedFile> cache_;
  std::function<std::chrono::sys_seconds()> now_;
  std::optional<std::pair<std::filesystem::path, std::string>> pending_;
  std::size_t filesParsed_ = 0;
};

}  // namespace warden::rules
