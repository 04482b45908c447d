#include "cli/exe_profile.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "cli/table.h"
#include "rules/profile_codec.h"
#include "rules/profile_selector.h"

namespace warden::cli {
namespace {

bool isExecutableFile(const std::filesystem::path& file) {
  struct stat info {};
  return ::stat(file.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(file.c_str(), X_OK) == 0;
}

// Keys that only a running process has.
bool needsLiveProcess(const rules::Match& match) {
  return match.cmdline || !match.env.empty() || !match.tags.empty() || match.user || match.uid ||
         match.parentPath || match.ancestorPath;
}

bool hasFileKey(const rules::Match& match) {
  return match.path || match.pathGlob || !match.sha256.empty();
}

}  // namespace

Outcome<std::filesystem::path> resolveExecutable(std::string_view exe,
                                                 std::string_view pathVariable) {
  std::filesystem::path file(exe);
  if (exe.empty()) return std::unexpected(Failure{ExitCode::kUsage, "EXE must not be empty"});
  if (exe.find('/') == std::string_view::npos) {
    std::optional<std::filesystem::path> found;
    for (std::size_t begin = 0; begin <= pathVariable.size() && !found;) {
      const std::size_t end = std::min(pathVariable.find(':', begin), pathVariable.size());
      const std::string_view directory = pathVariable.substr(begin, end - begin);
      const std::filesystem::path candidate =
          std::filesystem::path(directory.empty() ? "." : directory) / file;
      if (isExecutableFile(candidate)) found = candidate;
      begin = end + 1;
    }
    if (!found) {
      return std::unexpected(
          Failure{ExitCode::kError, printable(exe) + ": no such program in PATH"});
    }
    file = *found;
  }
  char resolved[PATH_MAX];
  if (::realpath(file.c_str(), resolved) == nullptr) {
    const int error = errno;
    return std::unexpected(
        Failure{exitCodeForErrno(error), printable(file.string()) + ": " + std::strerror(error)});
  }
  file = resolved;
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return std::unexpected(
        Failure{ExitCode::kError, printable(file.string()) + ": not a regular file"});
  }
  if ((info.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
    return std::unexpected(
        Failure{ExitCode::kError, printable(file.string()) + ": not executable"});
  }
  return file;
}

FileProfile profileForFile(const std::vector<rules::Profile>& profiles,
                           const std::filesystem::path& exe,
                           const std::function<std::optional<rules::Sha256>()>& digest) {
  // Asked at most once, whichever selector asks.
  std::optional<std::optional<rules::Sha256>> known;
  rules::ProcessInfo process;
  process.path = exe.string();
  process.sha256 = [&]() {
    if (!known) known = digest();
    return *known;
  };
  FileProfile result;
  const rules::ProfileSelector selector(profiles);
  const rules::ProfileSelection selection = selector.select(process);
  if (selection.profile >= 0) result.profile = static_cast<std::size_t>(selection.profile);

  // The same profiles with only the matches that need a live process, those keys left out:
  // whichever then holds is a profile the file alone cannot rule out.
  std::vector<rules::Profile> undecided;
  std::vector<std::size_t> origin;
  for (std::size_t i = 0; i < profiles.size(); ++i) {
    rules::Profile stripped;
    stripped.name = profiles[i].name;
    for (const rules::Match& match : profiles[i].matches) {
      if (!needsLiveProcess(match) || !hasFileKey(match)) continue;
      rules::Match fileKeys;
      fileKeys.path = match.path;
      fileKeys.pathGlob = match.pathGlob;
      fileKeys.sha256 = match.sha256;
      stripped.matches.push_back(std::move(fileKeys));
    }
    if (stripped.matches.empty()) continue;
    // One selector per profile: each that holds is wanted, not only the most specific.
    const rules::ProfileSelector one(std::vector<rules::Profile>{stripped});
    if (one.select(process).profile >= 0 && result.profile != i) result.undecidable.push_back(i);
  }
  return result;
}

void unreserved(std::string& name) {
  for (const std::string_view suffix : {".local", ".suggested"}) {
    if (name.ends_with(suffix)) name[name.size() - suffix.size()] = '-';
  }
}

std::string profileNameFor(const std::filesystem::path& exe,
                           const std::function<bool(const std::string&)>& taken) {
  std::string base = exe.filename().string();
  for (char& c : base) {
    if (!rules::isValidProfileName(std::string(1, 'a') + c)) c = '-';
  }
  if (base.empty() || !rules::isValidProfileName(base.substr(0, 1))) base = "app-" + base;
  if (base.size() > 100) base.resize(100);
  unreserved(base);
  std::string name = base;
  for (int n = 2; taken(name); ++n) name = base + "-" + std::to_string(n);
  return name;
}

}  // namespace warden::cli
