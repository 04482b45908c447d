#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace warden::testing {

// A fresh private directory under $TMPDIR (or /tmp), removed with everything in it when the
// test ends. A machine where it cannot be made cannot run the tests: that stops them at once.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "warden-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror(("mkdtemp " + pattern).c_str());
      std::abort();
    }
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::filesystem::path& path() const { return path_; }
  // `name` (relative to the directory); nothing is created.
  std::filesystem::path file(const std::filesystem::path& name) const { return path_ / name; }

  // Writes `text` to `name` (relative to the directory, parents created) with mode 0644.
  std::filesystem::path write(const std::filesystem::path& name, std::string_view text) const {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
    ::chmod(file.c_str(), 0644);
    return file;
  }

  // Lets other users in (mode 0755): for programs a test runs under another identity.
  void openToOthers() const { ::chmod(path_.c_str(), 0755); }

 private:
  std::filesystem::path path_;
};

}  // namespace warden::testing
