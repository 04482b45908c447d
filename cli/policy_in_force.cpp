#include "cli/policy_in_force.h"

#include <sys/stat.h>

#include "cli/config_files.h"
#include "cli/control_client.h"
#include "db/policy_store.h"
#include "rules/policy.h"

namespace warden::cli {
namespace {

bool modifiedAtOrBefore(const std::filesystem::path& path, std::int64_t ns) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return false;
  const std::int64_t modified =
      static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  return modified <= ns;
}

Outcome<rules::Policy> loadFiles(const std::filesystem::path& configPath) {
  auto policy = rules::loadPolicy(configPath);
  if (policy) return std::move(*policy);
  std::string message = "the policy files have errors (`warden check` lists them all):";
  for (const auto& diagnostic : policy.error()) {
    if (diagnostic.severity == rules::Severity::kError) message += "\n  " + diagnostic.format();
  }
  return std::unexpected(Failure{ExitCode::kError, std::move(message)});
}

Outcome<PolicyView> viewOfFilesNow(const std::filesystem::path& configPath, std::string note) {
  auto files = loadFiles(configPath);
  if (!files) return std::unexpected(std::move(files.error()));
  PolicyView view = viewOfFiles(*files);
  view.notes.push_back(std::move(note));
  return view;
}

bool sameFile(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec);
}

}  // namespace

bool filesUnchangedSince(const rules::Config& config, std::int64_t ns) {
  if (!modifiedAtOrBefore(config.file, ns)) return false;
  // Adding, removing or renaming a profile file changes the directory.
  if (!modifiedAtOrBefore(config.profilesDir, ns)) return false;
  auto files = rules::listProfileFiles(config.profilesDir);
  if (!files) return false;
  for (const auto& file : *files) {
    if (!modifiedAtOrBefore(file, ns)) return false;
  }
  return true;
}

Outcome<PolicyView> policyInForce(const std::filesystem::path& configPath,
                                  const rules::Config& config) {
  auto answer = askDaemon(config.controlSocket, "status");
  if (!answer) {
    if (answer.error().code != ExitCode::kDaemonDown) {
      return std::unexpected(std::move(answer.error()));
    }
    return viewOfFilesNow(configPath,
                          answer.error().message + "; showing the policy files as they are now");
  }
  const auto revision =
      answer->value(nlohmann::json::json_pointer("/status/policy/revision"), std::int64_t{0});

  auto db = openLogDatabase(config);
  if (!db) {
    return viewOfFilesNow(configPath, "wardend runs policy revision " + std::to_string(revision) +
                                          ", but its database cannot be read (" +
                                          db.error().message + "); showing the policy files");
  }
  auto record = db::loadRevision(*db, revision);
  if (!record) return std::unexpected(Failure{ExitCode::kError, record.error().message()});
  const std::optional<db::PolicyRecord>& stored = *record;
  if (!stored) {
    return viewOfFilesNow(configPath, "wardend runs policy revision " + std::to_string(revision) +
                                          ", which is not in " + config.logDb.string() +
                                          " (is wardend running without its database?); "
                                          "showing the policy files");
  }

  PolicyView view = viewOfRevision(*stored);
  if (!sameFile(view.configPath, configPath)) {
    view.notes.push_back("wardend loaded " + view.configPath + ", not " + configPath.string() +
                         "; [[match]] details are not shown");
    return view;
  }
  if (!filesUnchangedSince(config, view.loadedAtNs)) {
    view.notes.push_back("the policy files changed after revision " +
                         std::to_string(view.revision) +
                         " was loaded (`warden reload` applies them); [[match]] details are not "
                         "shown");
    return view;
  }
  if (auto files = rules::loadPolicy(configPath)) addFileDetails(view, *files);
  return view;
}

Outcome<PolicyView> policyInForce(const std::filesystem::path& configPath, std::ostream& err) {
  auto config = readConfig(configPath, err);
  if (!config) return std::unexpected(config.error());
  auto view = policyInForce(configPath, *config);
  if (view) {
    for (const auto& note : view->notes) err << "warden: note: " << note << '\n';
  }
  return view;
}

}  // namespace warden::cli
