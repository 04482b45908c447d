#include "cli/policy_edit.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "base/atomic_file.h"
#include "base/file_identity.h"
#include "base/file_lock.h"
#include "base/sha256.h"
#include "base/unique_fd.h"
#include "cli/exe_profile.h"
#include "cli/file_digest.h"
#include "cli/table.h"
#include "rules/policy_file.h"
#include "rules/policy_loader.h"
#include "rules/profile_codec.h"
#include "rules/rule_file_text.h"
#include "rules/rule_text.h"

namespace warden::cli {
namespace {

constexpr mode_t kPolicyFileMode = 0644;

std::string errorLines(const rules::Diagnostics& diagnostics) {
  std::string text;
  for (const auto& d : diagnostics) {
    if (d.severity == rules::Severity::kError) text += "\n  " + d.format();
  }
  return text;
}

Failure writeFailure(const base::Error& error, const std::filesystem::path& directory) {
  if (error.code == EACCES || error.code == EPERM) {
    return {ExitCode::kPermissionDenied, "cannot write in " + directory.string() + ": " +
                                             std::strerror(error.code) +
                                             " (editing the policy needs root)"};
  }
  if (error.code == EROFS) {
    return {ExitCode::kError, "cannot write in " + directory.string() +
                                  ": read-only file system; nothing was changed"};
  }
  return {ExitCode::kError, error.message() + "; nothing was changed"};
}

std::optional<base::FileIdentity> identityOf(const std::filesystem::path& file) {
  struct stat info {};
  if (::lstat(file.c_str(), &info) != 0) return std::nullopt;
  return base::FileIdentity::of(info);
}

std::string newProfileText(const std::string& name, const std::filesystem::path& exe,
                           const std::string& digest, const std::string& ruleBlock) {
  return std::string(rules::kManagedMarker) +
         " (warden allow|deny|reject): edits are kept; expired rules are removed.\n"
         "name = " +
         rules::tomlString(name) +
         "\n"
         "description = " +
         rules::tomlString("made by warden for " + exe.string()) +
         "\n\n"
         "# The file as it is now: after an upgrade its hash differs and the profile no longer\n"
         "# applies (`warden hash` gives the new one).\n"
         "[[match]]\n"
         "path = " +
         rules::tomlString(exe.string()) + "\nsha256 = [" + rules::tomlString(digest) + "]\n\n" +
         ruleBlock;
}

std::string newDropInText(const std::string& profile) {
  return std::string(rules::kManagedMarker) +
         " (warden allow|deny|reject): edits are kept; expired rules are removed.\n"
         "extends = " +
         rules::tomlString(profile) + "\n\n";
}

}  // namespace

Outcome<EditResult> applyRuleEdit(const std::filesystem::path& configFile,
                                  const rules::Config& config, const RuleEdit& edit) {
  const auto isTheFile = [&](const struct stat& st) {
    const base::FileIdentity seen = base::FileIdentity::of(st);
    return seen.device == edit.sameFile->device && seen.inode == edit.sameFile->inode &&
           (edit.sameFile->ctimeNs == 0 || seen.ctimeNs == edit.sameFile->ctimeNs);
  };
  const auto notTheFile = [&] {
    return Failure{ExitCode::kError, printable(edit.exe.string()) +
                                         " is no longer the file the question was about (it was "
                                         "replaced, moved or written since); nothing was changed"};
  };
  const auto stillTheFile = [&]() -> std::optional<Failure> {
    if (!edit.sameFile) return std::nullopt;
    struct stat st {};
    if (::stat(edit.exe.c_str(), &st) == 0 && isTheFile(st)) return std::nullopt;
    return notTheFile();
  };
  if (auto failure = stillTheFile()) return std::unexpected(*failure);
  const std::filesystem::path& directory = config.profilesDir;
  auto lock = base::lockFile(directory / rules::kEditLockName);
  if (!lock) return std::unexpected(writeFailure(lock.error(), directory));

  rules::PolicyLoader loader;
  auto current = loader.load(configFile);
  if (!current) {
    return std::unexpected(
        Failure{ExitCode::kError, "the policy files have errors; fix them first (`warden check`):" +
                                      errorLines(current.error())});
  }
  std::optional<std::string> digestText;
  std::optional<Failure> digestFailure;
  // The file a question was about is hashed through one descriptor that is checked to be it,
  // unchanged, before and after: not a file swapped in at the path meanwhile.
  const auto hashTheFile = [&]() -> Outcome<std::string> {
    const base::UniqueFd fd(::open(edit.exe.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    struct stat before {};
    if (!fd || ::fstat(fd.get(), &before) != 0 || !isTheFile(before)) {
      return std::unexpected(notTheFile());
    }
    auto hex = base::sha256HexOfFd(fd.get());
    if (!hex) {
      return std::unexpected(
          Failure{ExitCode::kError, printable(edit.exe.string()) + ": " + hex.error().message()});
    }
    struct stat after {};
    if (::fstat(fd.get(), &after) != 0 ||
        base::FileIdentity::of(after) != base::FileIdentity::of(before)) {
      return std::unexpected(notTheFile());  // written while it was read
    }
    return *hex;
  };
  const auto digest = [&]() -> std::optional<rules::Sha256> {
    if (!digestText && !digestFailure) {
      auto hex = edit.sameFile ? hashTheFile() : sha256File(edit.exe);
      if (hex) digestText = *hex;
      if (!hex) digestFailure = hex.error();
    }
    return digestText ? rules::parseSha256(*digestText) : std::nullopt;
  };
  const FileProfile found = profileForFile(current->profiles, edit.exe, digest);
  if (edit.sameFile && found.profile) {
    const auto& p = current->profiles[*found.profile];
    return std::unexpected(
        Failure{ExitCode::kError, printable(edit.exe.string()) + " is now matched by profile '" +
                                      p.name + "' (" + p.file +
                                      "), which the question's program was not (its file was "
                                      "rewritten since?); nothing was changed"});
  }

  EditResult result;
  for (const std::size_t i : found.undecidable) {
    const auto& p = current->profiles[i];
    result.notes.push_back("profile '" + p.name + "' (" + p.file +
                           ") also matches this file when its cmdline, env, tags, user or "
                           "parent keys hold: processes it selects do not get this rule");
  }
  if (!found.profile && !found.undecidable.empty()) {
    return std::unexpected(
        Failure{ExitCode::kError,
                "cannot tell from " + printable(edit.exe.string()) +
                    " alone which profile a process running it gets: profile '" +
                    current->profiles[found.undecidable.front()].name +
                    "' matches it only with keys of a running process (cmdline, env, tags, user or "
                    "parent); nothing was changed. Add the rule to that profile, or a drop-in "
                    "with extends = \"" +
                    current->profiles[found.undecidable.front()].name + "\", by hand"});
  }

  const std::string block = rules::ruleText(edit.rule);
  std::string text;
  std::optional<std::string> before;  // the file's text as read, if it exists
  if (found.profile) {
    result.profile = current->profiles[*found.profile].name;
    result.file = directory / (result.profile + ".local.toml");
    if (std::filesystem::exists(std::filesystem::symlink_status(result.file))) {
      auto read = rules::readPolicyFile(result.file);
      if (!read) return std::unexpected(Failure{ExitCode::kError, read.error().format()});
      before = std::move(*read);
    }
  } else {
    result.createdProfile = true;
    result.profile = profileNameFor(edit.exe, [&](const std::string& name) {
      for (const auto& p : current->profiles) {
        if (p.name == name) return true;
      }
      return std::filesystem::exists(std::filesystem::symlink_status(directory / (name + ".toml")));
    });
    result.file = directory / (result.profile + ".toml");
    (void)digest();
    if (digestFailure) return std::unexpected(*digestFailure);
    text = newProfileText(result.profile, edit.exe, *digestText, block);
  }
  const std::optional<base::FileIdentity> identity = identityOf(result.file);
  if (before) {
    if (!rules::isManagedText(*before)) {
      return std::unexpected(Failure{
          ExitCode::kError, result.file.string() +
                                " was not written by warden (its first line is not \"" +
                                std::string(rules::kManagedMarker) +
                                "\"), and warden never rewrites a person's file; nothing was "
                                "changed"});
    }
    auto parsed = rules::parseProfileFile(*before, result.file);
    if (!parsed || !parsed->dropIn || parsed->dropIn->extends != result.profile) {
      return std::unexpected(
          Failure{ExitCode::kError, result.file.string() + " is not a drop-in extending '" +
                                        result.profile + "'; nothing was changed"});
    }
    std::vector<int> replaced;
    for (const auto& rule : parsed->dropIn->rules) {
      if (rules::sameSelectors(rule, edit.rule)) {
        replaced.push_back(rule.where.line);
        result.replaced.push_back(rules::describe(rule));
      }
    }
    auto kept = rules::removeRuleTables(*before, result.file, replaced);
    if (!kept) return std::unexpected(Failure{ExitCode::kError, errorLines(kept.error())});
    auto edited = rules::insertBeforeFirstTable(*kept, result.file, block);
    if (!edited) return std::unexpected(Failure{ExitCode::kError, errorLines(edited.error())});
    text = std::move(*edited);
  } else if (found.profile) {
    text = newDropInText(result.profile) + block;
  }

  // The whole policy with the new text in place, as wardend will load it.
  loader.setPendingFile(result.file, text);
  auto checked = loader.load(configFile);
  if (!checked) {
    return std::unexpected(
        Failure{ExitCode::kError, "the policy with this rule has errors; nothing was changed:" +
                                      errorLines(checked.error())});
  }
  auto parsed = rules::parseProfileFile(text, result.file);
  if (parsed) {
    const auto& rules = parsed->dropIn ? parsed->dropIn->rules : parsed->profiles.front().rules;
    for (const auto& rule : rules) {
      if (rules::ruleText(rule) == block) {
        result.line = rule.where.line;
        break;
      }
    }
  }
  // Someone who does not take the lock (an editor) changed the file meanwhile: theirs wins.
  if (identityOf(result.file) != identity) {
    return std::unexpected(
        Failure{ExitCode::kError, result.file.string() +
                                      " changed while warden was editing it; nothing was written. "
                                      "Run the command again"});
  }
  // Read (hashed) since the first look: still the same file.
  if (auto failure = stillTheFile()) return std::unexpected(*failure);
  if (auto written = base::replaceFile(result.file, text, kPolicyFileMode); !written) {
    return std::unexpected(writeFailure(written.error(), directory));
  }
  return result;
}

}  // namespace warden::cli
