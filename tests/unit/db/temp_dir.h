#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace warden::db::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "warden-db-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? std::filesystem::path(pattern)
                                                 : std::filesystem::path();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace warden::db::testing
