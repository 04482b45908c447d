#pragma once

#include <cstddef>
#include <expected>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "rules/config.h"
#include "rules/diagnostic.h"
#include "rules/policy.h"
#include "rules/policy_file.h"

namespace warden::rules {

// Loads policies (see loadPolicy) and remembers each profile file it parsed, so that the
// next load parses only the files that changed (by device, inode, size, mtime and ctime):
// a reload after editing one profile costs that file, not the whole directory. Every
// file is still opened and checked on every load. Not thread-safe: one owner, the
// daemon's control thread.
class PolicyLoader {
 public:
  std::expected<Policy, Diagnostics> load(const std::filesystem::path& configFile,
                                          Diagnostics* warnings = nullptr);
  std::expected<Policy, Diagnostics> load(Config config, Diagnostics* warnings = nullptr);

  // How many profile files the last load had to parse (the rest came from the cache).
  std::size_t filesParsed() const { return filesParsed_; }

 private:
  struct CachedFile {
    FileIdentity identity;
    std::vector<Profile> profiles;
    Diagnostics warnings;
  };

  // Adds the file's profiles to `policy` and its findings to `diagnostics`; false on error.
  bool loadProfileFile(const std::filesystem::path& file, Policy& policy, Diagnostics& diagnostics,
                       std::map<std::string, CachedFile>& nextCache);

  std::map<std::string, CachedFile> cache_;
  std::size_t filesParsed_ = 0;
};

}  // namespace warden::rules
