#include "cli/suggest_command.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <iostream>
#include <memory>
#include <set>

#include "base/clock.h"
#include "base/file_identity.h"
#include "base/unique_fd.h"
#include "cli/config_files.h"
#include "cli/file_digest.h"
#include "cli/json_output.h"
#include "cli/new_files.h"
#include "cli/policy_in_force.h"
#include "cli/suggest_draft.h"
#include "cli/suggest_toml.h"
#include "cli/time_text.h"
#include "db/hash_cache.h"
#include "db/log_query.h"
#include "rules/policy.h"

namespace warden::cli {
namespace {

// The executable's SHA-256 as the file is now: wardend's cache when it holds this version
// of the file (same device, inode, size, mtime, ctime), else computed here (root reads it).
void pinHash(ProfileDraft& draft, db::Database& db) {
  struct stat st {};
  if (::stat(draft.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    draft.sha256Note = draft.path + " was not a readable file when warden suggest ran";
    return;
  }
  // A program on a filesystem whose bytes can change unseen is never matched by sha256
  // (base::unpinnedImageFilesystem): nothing to pin, and root's read of a FUSE file is
  // whatever its server chooses to give root.
  if (base::UniqueFd at(::open(draft.path.c_str(), O_PATH | O_CLOEXEC)); at) {
    if (const char* unpinned =
            base::unpinnedImageFilesystem(base::filesystemTypeOfFd(at.get()).value_or(0))) {
      draft.sha256Note = draft.path + " is on " + unpinned +
                         ", where no sha256 key holds (its bytes can change unseen): not pinned";
      return;
    }
  }
  const std::string when = "the file at that path as it was on disk when warden suggest ran";
  if (auto cache = db::HashCache::create(db)) {
    if (auto cached = cache->lookup(base::FileIdentity::of(st)); cached && *cached) {
      draft.sha256 = **cached;
      draft.sha256Note = "sha256 of " + when + " (found in wardend's hash cache)";
      return;
    }
  }
  auto digest = sha256File(draft.path);
  if (!digest) {
    draft.sha256Note = digest.error().message;
    return;
  }
  draft.sha256 = std::move(*digest);
  draft.sha256Note = "sha256 of " + when + " (hashed by warden suggest)";
}

std::string header(const std::string& database, std::size_t rows, std::optional<std::int64_t> since,
                   std::int64_t nowNs) {
  std::string text = "# Drafted by `warden suggest` from " + std::to_string(rows) +
                     " rows of the verdict log " + database + "\n";
  text += "# (learn mode, refused flows, and flows of programs without a profile), " +
          (since ? "from " + isoTime(*since) : std::string("from its first row")) + " to " +
          isoTime(nowNs) + ".\n";
  text +=
      "# Review before use: these rules allow what the program did while it was observed,\n"
      "# not what it should do. Check with `warden check`, then put it into the profiles "
      "directory.\n";
  return text;
}

}  // namespace

int runSuggest(const std::filesystem::path& configPath, const SuggestOptions& options,
               std::ostream& out, std::ostream& err) {
  const bool json = options.json;
  const std::int64_t nowNs = base::realtimeNs();
  std::optional<std::int64_t> since;
  if (options.since) {
    auto bound = parseTimeBound(*options.since, nowNs);
    if (!bound) return reportFailure({ExitCode::kUsage, bound.error()}, json, out, err);
    since = *bound;
  }
  auto config = readConfig(configPath, err);
  if (!config) return reportFailure(config.error(), json, out, err);
  auto policy = policyInForce(configPath, *config);
  if (!policy) return reportFailure(policy.error(), json, out, err);
  std::set<std::string> names;
  for (const ProfileView& profile : policy->profiles) names.insert(profile.name);
  // Names a draft may not take: the profiles', and every file of the profiles directory by its
  // stem (a draft "40-apt.toml" moved in, with `mv` as the header says, would replace the
  // shipped 40-apt.toml whatever profile it holds).
  std::set<std::string> taken = names;
  std::error_code listing;
  for (const auto& entry : std::filesystem::directory_iterator(config->profilesDir, listing)) {
    if (entry.path().extension() == ".toml") taken.insert(entry.path().stem().string());
  }
  auto db = openLogDatabase(*config);
  if (!db) return reportFailure(db.error(), json, out, err);

  PolicyDrafter drafter(taken);
  // Programs that got a profile since some of their rows were logged: by the policy files
  // (the rules themselves are not stored with a revision). Unreadable files claim nothing.
  if (auto files = rules::loadPolicy(*config)) {
    for (const rules::Profile& profile : files->profiles) {
      for (const rules::Match& match : profile.matches) {
        if (!match.path) continue;
        drafter.claim(*match.path, profile.name, profile.rules,
                      profile.defaultAction.value_or(files->config.defaultAction));
      }
    }
  }
  auto scanned = db::scanDraftableRows(*db, since, std::nullopt,
                                       [&](const db::LogEntry& row) { drafter.add(row); });
  if (!scanned) {
    return reportFailure({ExitCode::kError, scanned.error().message()}, json, out, err);
  }

  std::vector<ProfileDraft> drafts;
  for (ProfileDraft& draft : drafter.finish()) {
    if (options.profile && draft.name != *options.profile) continue;
    if (draft.kind == DraftKind::kAddition && !names.contains(draft.name)) {
      err << "warden: note: profile " << draft.name
          << " refused flows but is no longer in the policy; nothing drafted for it\n";
      continue;
    }
    if (!writable(draft)) {
      err << "warden: note: " << draft.name
          << ": its path, a tag or a host name is not UTF-8 and cannot be written in TOML; "
             "nothing drafted for it\n";
      continue;
    }
    if (draft.kind == DraftKind::kNewProfile) pinHash(draft, *db);
    drafts.push_back(std::move(draft));
  }

  const std::string head = header(config->logDb.string(), drafter.rowsUsed(), since, nowNs);
  std::vector<NewFile> files;
  for (const ProfileDraft& draft : drafts)
    files.push_back({draft.fileName(), draftToml(draft, head)});

  if (options.out && !files.empty()) {
    const std::vector<std::filesystem::path> policyDirs{config->profilesDir,
                                                        configPath.parent_path()};
    if (auto ok = writeNewFiles(*options.out, files, policyDirs); !ok) {
      return reportFailure(ok.error(), json, out, err);
    }
  }
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = 0; i < drafts.size(); ++i) {
      nlohmann::json draft = draftJson(drafts[i]);
      draft["toml"] = files[i].content;
      if (options.out) draft["written"] = (*options.out / files[i].name).string();
      list.push_back(std::move(draft));
    }
    out << jsonLine({{"rows", drafter.rowsUsed()},
                     {"since", since ? nlohmann::json(isoTime(*since)) : nlohmann::json()},
                     {"until", isoTime(nowNs)},
                     {"drafts", std::move(list)}})
        << '\n';
    return toInt(ExitCode::kOk);
  }
  if (drafts.empty()) {
    (options.out ? err : out) << "# Nothing to suggest: no learn-mode or refused flows of a "
                                 "described process in the verdict log"
                              << (since ? " since " + isoTime(*since) : std::string()) << ".\n";
    return toInt(ExitCode::kOk);
  }
  if (options.out) {
    for (std::size_t i = 0; i < drafts.size(); ++i) {
      out << "wrote " << (*options.out / files[i].name).string() << " ("
          << (drafts[i].kind == DraftKind::kAddition ? "additions to profile " : "new profile ")
          << drafts[i].name << ", " << drafts[i].rules.size()
          << (drafts[i].rules.size() == 1 ? " rule" : " rules") << ")\n";
    }
    out << "Review them, run `warden check`, then move them into the profiles directory.\n";
    return toInt(ExitCode::kOk);
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (i > 0) out << '\n';
    out << "# ==> " << files[i].name << " <==\n" << files[i].content;
  }
  return toInt(ExitCode::kOk);
}

Command addSuggestCommand(CLI::App& app, std::string& configPath) {
  CLI::App* suggest = addSubcommand(
      app, "suggest",
      "Profiles drafted from the verdict log (learn mode and refused flows), for review",
      configPath);
  suggest->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  auto options = std::make_shared<SuggestOptions>();
  const CLI::Validator time(
      [](std::string& text) {
        auto bound = parseTimeBound(text, base::realtimeNs());
        return bound ? std::string() : bound.error();
      },
      "", "time");
  suggest
      ->add_option("--since", options->since,
                   "only flows from this time on, in the forms of `warden log --since` (1h, "
                   "today, 2026-05-01 14:00); default: the whole log")
      ->check(time)
      ->type_name("TIME");
  suggest->add_option("--profile", options->profile,
                      "only the draft of this name: additions to profile P, or the new profile "
                      "drafted as P");
  suggest
      ->add_option("--out", options->out,
                   "write one file per draft into DIR (NAME.toml, NAME.suggested.toml for "
                   "additions), made if missing; nothing is written if any of them exists")
      ->type_name("DIR");
  suggest->add_flag("--json", options->json,
                    "the drafts as one JSON document (each with its TOML text)");
  return {suggest, [&configPath, options] {
            return runSuggest(configPath, *options, std::cout, std::cerr);
          }};
}

}  // namespace warden::cli
