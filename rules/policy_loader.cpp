#include "rules/policy_loader.h"

#include <algorithm>
#include <iterator>
#include <tuple>

#include "rules/config_draft.h"
#include "rules/policy_lint.h"
#include "rules/profile_codec.h"

namespace warden::rules {
namespace {

void append(Diagnostics& to, Diagnostics&& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

void append(Diagnostics& to, const Diagnostics& from) {
  to.insert(to.end(), from.begin(), from.end());
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

bool PolicyLoader::loadProfileFile(const std::filesystem::path& file, Policy& policy,
                                   Diagnostics& diagnostics,
                                   std::map<std::string, CachedFile>& nextCache) {
  auto opened = PolicyFile::open(file);
  if (!opened) {
    diagnostics.push_back(std::move(opened.error()));
    return false;
  }
  const std::string key = file.string();
  if (const auto it = cache_.find(key);
      it != cache_.end() && it->second.identity == opened->identity()) {
    CachedFile& cached = nextCache.emplace(key, std::move(it->second)).first->second;
    append(diagnostics, cached.warnings);
    policy.profiles.insert(policy.profiles.end(), cached.profiles.begin(), cached.profiles.end());
    return true;
  }
  ++filesParsed_;
  auto text = opened->read();
  if (!text) {
    diagnostics.push_back(std::move(text.error()));
    return false;
  }
  Diagnostics warnings;
  auto profiles = parseProfiles(*text, file, &warnings);
  if (!profiles) {
    append(diagnostics, std::move(profiles.error()));
    return false;
  }
  append(diagnostics, warnings);
  policy.profiles.insert(policy.profiles.end(), profiles->begin(), profiles->end());
  nextCache.emplace(key, CachedFile{opened->identity(), std::move(*profiles), std::move(warnings)});
  return true;
}

std::expected<Policy, Diagnostics> PolicyLoader::load(Config config, Diagnostics* warnings) {
  const std::string configFile = config.file.string();
  filesParsed_ = 0;
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
    std::map<std::string, CachedFile> nextCache;
    for (const auto& file : *files) {
      fileOrder.push_back(file.string());
      failed = !loadProfileFile(file, policy, diagnostics, nextCache) || failed;
    }
    cache_ = std::move(nextCache);  // files gone from the directory are forgotten
    const std::size_t before = diagnostics.size();
    checkUniqueNames(policy.profiles, diagnostics);
    failed = failed || diagnostics.size() != before;
    if (failed || warnings) append(diagnostics, lintPolicy(policy));
    sortDiagnostics(diagnostics, fileOrder);
    if (failed) return std::unexpected(std::move(diagnostics));
    if (warnings) append(*warnings, std::move(diagnostics));
    return policy;
  } catch (const std::exception& e) {
    cache_.clear();
    return std::unexpected(
        Diagnostics{Diagnostic{Severity::kError, SourceLocation{configFile, 0, 0}, e.what()}});
  }
}

std::expected<Policy, Diagnostics> PolicyLoader::load(const std::filesystem::path& configFile,
                                                      Diagnostics* warnings) {
  auto text = readPolicyFile(configFile);
  if (!text) return std::unexpected(Diagnostics{std::move(text.error())});
  ConfigDraft draft = readConfigDraft(*text, configFile);
  Diagnostics all = std::move(draft.diagnostics);
  if (draft.failed) {
    // Still read the profiles, for one run to report every error; the result is refused.
    if (draft.config && draft.profilesDirKnown) {
      Diagnostics profileWarnings;
      auto policy = load(std::move(*draft.config), &profileWarnings);
      append(all, policy ? std::move(profileWarnings) : std::move(policy.error()));
    }
    return std::unexpected(std::move(all));
  }
  auto policy = load(std::move(*draft.config), warnings);
  if (!policy) {
    append(all, std::move(policy.error()));
    return std::unexpected(std::move(all));
  }
  if (warnings) warnings->insert(warnings->begin(), all.begin(), all.end());
  return policy;
}

}  // namespace warden::rules
