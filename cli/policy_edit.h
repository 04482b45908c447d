#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cli/exit_code.h"
#include "rules/config.h"
#include "rules/rule.h"

namespace warden::cli {

// What `warden allow|deny|reject` changes in the policy files (SPEC section 8): `rule` goes to
// the top of the drop-in `<profiles dir>/<PROFILE>.local.toml` of the profile a process
// running `exe` gets (created with the managed marker and `extends`; the rest of the file is
// kept byte for byte, and a rule there with the same selectors is replaced rather than left
// under the new one). With no profile for `exe`, a new profile file `<name>.toml` pins the file
// by path and sha256 and holds the rule. Before anything is written the whole policy is loaded
// with the new text in place; any error refuses the edit. Edits of one profiles directory are
// serialised by a lock file in it, and a file changed meanwhile by someone not taking it
// (an editor) refuses the edit: nothing is ever half-written (temporary file, fsync, rename).
// The file a `warden prompt` question was about (--same-file DEV:INO): stat(2)'s st_dev and
// st_ino of the executable that ran.
struct SameFile {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t ctimeNs = 0;  // st_ctim in ns when the question was asked; 0: not compared
};

struct RuleEdit {
  std::filesystem::path exe;  // resolved (resolveExecutable)
  rules::Rule rule;
  // Refuse unless `exe` is still that file, unchanged since (its ctime), before and after it
  // is read (through one descriptor, which is what is hashed), and no profile already matches
  // it (a question is asked only about a program no profile matched): a user may swap the
  // path for a link to another program, or write another program's bytes into the file,
  // while the question waits.
  std::optional<SameFile> sameFile = std::nullopt;
};

struct EditResult {
  std::string profile;
  bool createdProfile = false;
  std::filesystem::path file;
  int line = 0;                       // of the new rule's [[rule]] header
  std::vector<std::string> replaced;  // the rules it replaced (rules::describe)
  std::vector<std::string> notes;  // what the user should know (a profile the file cannot rule out)
};

[[nodiscard]] Outcome<EditResult> applyRuleEdit(const std::filesystem::path& configFile,
                                                const rules::Config& config, const RuleEdit& edit);

}  // namespace warden::cli
