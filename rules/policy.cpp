#include "rules/policy.h"

#include <algorithm>
#include <map>
#include <system_error>
#include <tuple>

#include "rules/config_draft.h"
#include "rules/policy_file.h"
#include "rules/policy_lint.h"
#include "rules/profile_codec.h"

namespace warden::rules {
namespace {

void append(Diagnostics& to, Diagnostics&& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

std::string formatLocation(const SourceLocation& where) {
  return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
}

// Profile names are unique across files; the later one is the error.
void checkUniqueNames(const std::vector<Profile>& profiles, Diagnostics& diagnostics) {
  std::map<std::string_view, const Profile*> seen;
  for (const Profile& profile : profiles) {
    const auto [it, inserted] = seen.emplace(profile.name, &profile);
    if (!inserted) {
      diagnostics.push_back(Diagnostic{Severity::kError, profile.where,
                                       "duplicate profile name '" + profile.name +
                                           "' (first defined at " +
                                           formatLocation(it->second->where) + ")"});
    }
  }
}

// Diagnostics in the order a user reads them: file by file in load order, top to bottom.
void sortDiagnostics(Diagnostics& diagnostics, const std::vector<std::string>& fileOrder) {
  const auto rank = [&](const Diagnostic& d) {
    const auto it = std::ranges::find(fileOrder, d.where.file);
    return std::tuple(it - fileOrder.begin(), d.where.line, d.where.column);
  };
  std::ranges::stable_sort(
      diagnostics, [&](const Diagnostic& a, const Diagnostic& b) { return rank(a) < rank(b); });
}

}  // namespace

std::expected<std::vector<std::filesystem::path>, Diagnostic> listProfileFiles(
    const std::filesystem::path& directory) {
  if (auto problem = checkPolicyDirectory(directory)) return std::unexpected(std::move(*problem));
  std::error_code error;
  std::vector<std::filesystem::path> files;
  std::filesystem::directory_iterator it(directory, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const auto& path = it->path();
    const std::string name = path.filename().string();
    if (name.starts_with('.') || path.extension() != ".toml") continue;
    std::error_code typeError;
    if (it->is_directory(typeError)) continue;
    files.push_back(path);
  }
  if (error) {
    return std::unexpected(Diagnostic{Severity::kError, SourceLocation{directory.string(), 0, 0},
                                      "cannot list directory: " + error.message()});
  }
  std::ranges::sort(files, [](const auto& a, const auto& b) {
    return a.filename().string() < b.filename().string();
  });
  return files;
}

std::expected<Policy, Diagnostics> loadPolicy(Config config, Diagnostics* warnings) {
  const std::string configFile = config.file.string();
  try {
    Policy policy{std::move(config), {}};
    Diagnostics diagnostics;
    auto files = listProfileFiles(policy.config.profilesDir);
    if (!files) {
      diagnostics.push_back(std::move(files.error()));
      return std::unexpected(std::move(diagnostics));
    }
    std::vector<std::string> fileOrder = {configFile};
    if (!policy.config.globalRules.empty()) {
      fileOrder.push_back(policy.config.globalRules.front().where.file);
    }
    bool failed = false;
    for (const auto& file : *files) {
      fileOrder.push_back(file.string());
      auto text = readPolicyFile(file);
      if (!text) {
        diagnostics.push_back(std::move(text.error()));
        failed = true;
        continue;
      }
      Diagnostics fileWarnings;
      auto profiles = parseProfiles(*text, file, &fileWarnings);
      if (!profiles) {
        append(diagnostics, std::move(profiles.error()));
        failed = true;
        continue;
      }
      append(diagnostics, std::move(fileWarnings));
      for (auto& profile : *profiles) policy.profiles.push_back(std::move(profile));
    }
    const std::size_t before = diagnostics.size();
    checkUniqueNames(policy.profiles, diagnostics);
    failed = failed || diagnostics.size() != before;
    if (failed || warnings) append(diagnostics, lintPolicy(policy));
    sortDiagnostics(diagnostics, fileOrder);
    if (failed) return std::unexpected(std::move(diagnostics));
    if (warnings) append(*warnings, std::move(diagnostics));
    return policy;
  } catch (const std::exception& e) {
    return std::unexpected(
        Diagnostics{Diagnostic{Severity::kError, SourceLocation{configFile, 0, 0}, e.what()}});
  }
}

std::expected<Policy, Diagnostics> loadPolicy(const std::filesystem::path& configFile,
                                              Diagnostics* warnings) {
  auto text = readPolicyFile(configFile);
  if (!text) return std::unexpected(Diagnostics{std::move(text.error())});
  ConfigDraft draft = readConfigDraft(*text, configFile);
  Diagnostics all = std::move(draft.diagnostics);
  if (draft.failed) {
    // Still read the profiles, for one run to report every error; the result is refused.
    if (draft.config && draft.profilesDirKnown) {
      Diagnostics profileWarnings;
      auto policy = loadPolicy(std::move(*draft.config), &profileWarnings);
      append(all, policy ? std::move(profileWarnings) : std::move(policy.error()));
    }
    return std::unexpected(std::move(all));
  }
  auto policy = loadPolicy(std::move(*draft.config), warnings);
  if (!policy) {
    append(all, std::move(policy.error()));
    return std::unexpected(std::move(all));
  }
  if (warnings) warnings->insert(warnings->begin(), all.begin(), all.end());
  return policy;
}

}  // namespace warden::rules
