#include "rules/policy_loader.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <iterator>
#include <set>
#include <system_error>
#include <thread>
#include <tuple>
#include <unordered_map>

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
  // Ranked once, not searched for in every comparison: thousands of files may each warn.
  std::unordered_map<std::string_view, std::size_t> fileRank;
  for (std::size_t i = 0; i < fileOrder.size(); ++i) fileRank.emplace(fileOrder[i], i);
  const auto rank = [&](const Diagnostic& d) {
    const auto it = fileRank.find(d.where.file);
    return std::tuple(it == fileRank.end() ? fileOrder.size() : it->second, d.where.line,
                      d.where.column);
  };
  std::ranges::stable_sort(
      diagnostics, [&](const Diagnostic& a, const Diagnostic& b) { return rank(a) < rank(b); });
}

// Copies what one file holds into the policy being built (the cache keeps its own copy).
void take(const ProfileFile& parsed, Policy& policy, std::vector<DropIn>& dropIns,
          std::set<std::string>& managedFiles) {
  policy.profiles.insert(policy.profiles.end(), parsed.profiles.begin(), parsed.profiles.end());
  if (parsed.dropIn) dropIns.push_back(*parsed.dropIn);
  if (parsed.managed) {
    if (parsed.dropIn) managedFiles.insert(parsed.dropIn->file);
    for (const Profile& profile : parsed.profiles) managedFiles.insert(profile.file);
  }
}

// Drop-ins in load order, each put in front of the rules that follow: the first drop-in's
// rules come first, then the next one's, ..., then the profile's own.
void applyDropIns(const std::vector<DropIn>& dropIns, std::vector<Profile>& profiles,
                  Diagnostics& diagnostics) {
  if (dropIns.empty()) return;
  std::unordered_map<std::string_view, Profile*> byName;
  for (Profile& profile : profiles) byName.emplace(profile.name, &profile);
  std::unordered_map<Profile*, std::vector<Rule>> added;
  for (const DropIn& dropIn : dropIns) {
    const auto it = byName.find(dropIn.extends);
    if (it == byName.end()) {
      diagnostics.push_back(
          Diagnostic{Severity::kError, dropIn.where,
                     "drop-in extends profile '" + dropIn.extends + "', which does not exist"});
      continue;
    }
    auto& rules = added[it->second];
    rules.insert(rules.end(), dropIn.rules.begin(), dropIn.rules.end());
  }
  for (auto& [profile, rules] : added) {
    rules.insert(rules.end(), std::make_move_iterator(profile->rules.begin()),
                 std::make_move_iterator(profile->rules.end()));
    profile->rules = std::move(rules);
  }
}

// SPEC: from its `expires` on a rule is not in the policy. A person's file keeps it (warden
// never edits what a person wrote), so `warden check` says it is ignored.
void leaveOutExpired(Policy& policy, const std::set<std::string>& managedFiles,
                     std::chrono::sys_seconds now, Diagnostics& diagnostics) {
  const auto sift = [&](std::vector<Rule>& rules) {
    std::erase_if(rules, [&](const Rule& rule) {
      if (!rule.expires) return false;
      if (*rule.expires > now) {
        if (!policy.nextExpiry || *rule.expires < *policy.nextExpiry) {
          policy.nextExpiry = *rule.expires;
        }
        return false;
      }
      const bool managed = managedFiles.contains(rule.where.file);
      policy.expired.push_back({rule.where, *rule.expires, managed});
      if (!managed) {
        diagnostics.push_back(Diagnostic{Severity::kWarning, rule.where,
                                         "rule expired at " + formatUtc(*rule.expires) +
                                             " and is ignored; remove it from this file"});
      }
      return true;
    });
  };
  sift(policy.config.globalRules);
  for (Profile& profile : policy.profiles) sift(profile.rules);
}

std::chrono::sys_seconds systemNow() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace

PolicyLoader::FileLoad PolicyLoader::loadFile(const std::filesystem::path& file) const {
  FileLoad load;
  if (pending_ && pending_->first == file) {
    load.parsedNow = true;  // never cached: its identity is not the text's
    auto parsed = parseProfileFile(pending_->second, file, &load.warnings);
    if (parsed) load.parsed = std::move(*parsed);
    if (!parsed) load.errors = std::move(parsed.error());
    return load;
  }
  auto opened = PolicyFile::open(file);
  if (!opened) {
    load.errors.push_back(std::move(opened.error()));
    return load;
  }
  load.identity = opened->identity();
  if (const auto it = cache_.find(file.string());
      it != cache_.end() && it->second.identity == load.identity) {
    load.cached = true;
    return load;
  }
  load.parsedNow = true;
  auto text = opened->read();
  if (!text) {
    load.errors.push_back(std::move(text.error()));
    return load;
  }
  auto parsed = parseProfileFile(*text, file, &load.warnings);
  if (!parsed) {
    load.errors = std::move(parsed.error());
    return load;
  }
  load.parsed = std::move(*parsed);
  return load;
}

std::vector<PolicyLoader::FileLoad> PolicyLoader::loadFiles(
    const std::vector<std::filesystem::path>& files) const {
  // Threads pay off from a few dozen files on; a handful is parsed faster than they start.
  constexpr std::size_t kFilesPerThread = 32;
  constexpr std::size_t kMaxThreads = 4;
  const std::size_t threads =
      std::min({kMaxThreads, std::max<std::size_t>(1, std::thread::hardware_concurrency()),
                std::max<std::size_t>(1, files.size() / kFilesPerThread)});
  std::vector<FileLoad> loads(files.size());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < files.size();) {
      loads[i] = loadFile(files[i]);
    }
  };
  // Declared after `loads`, so destroyed (waited for) first, also when work() throws.
  std::vector<std::future<void>> helpers;
  for (std::size_t t = 1; t < threads; ++t) {
    try {
      helpers.push_back(std::async(std::launch::async, work));
    } catch (const std::system_error&) {
      break;  // no thread to be had: the others (at least this one) do the rest
    }
  }
  work();
  for (auto& helper : helpers) helper.get();  // rethrows what a helper threw
  return loads;
}

std::expected<Policy, Diagnostics> PolicyLoader::load(Config config, Diagnostics* warnings) {
  const std::string configFile = config.file.string();
  filesParsed_ = 0;
  try {
    Policy policy;
    policy.config = std::move(config);
    Diagnostics diagnostics;
    auto files = listProfileFiles(policy.config.profilesDir);
    if (!files) {
      diagnostics.push_back(std::move(files.error()));
      return std::unexpected(std::move(diagnostics));
    }
    if (pending_ && std::ranges::find(*files, pending_->first) == files->end()) {
      files->push_back(pending_->first);
      std::ranges::sort(*files, [](const auto& a, const auto& b) {
        return a.filename().string() < b.filename().string();
      });
    }
    std::vector<std::string> fileOrder = {configFile};
    if (!policy.config.globalRules.empty()) {
      fileOrder.push_back(policy.config.globalRules.front().where.file);
    }
    bool failed = false;
    std::vector<DropIn> dropIns;
    std::set<std::string> managedFiles;
    std::map<std::string, CachedFile> nextCache;
    std::vector<FileLoad> loads = loadFiles(*files);
    // In file order, whatever order the threads finished in.
    for (std::size_t i = 0; i < files->size(); ++i) {
      const std::string key = (*files)[i].string();
      fileOrder.push_back(key);
      FileLoad& load = loads[i];
      filesParsed_ += load.parsedNow ? 1 : 0;
      if (!load.errors.empty()) {
        append(diagnostics, std::move(load.errors));
        failed = true;
        continue;
      }
      if (load.parsedNow && pending_ && pending_->first == (*files)[i]) {
        append(diagnostics, load.warnings);
        take(load.parsed, policy, dropIns, managedFiles);
        continue;
      }
      if (load.cached) {
        CachedFile& cached = nextCache.emplace(key, std::move(cache_.at(key))).first->second;
        append(diagnostics, cached.warnings);
        take(cached.parsed, policy, dropIns, managedFiles);
        continue;
      }
      append(diagnostics, load.warnings);
      take(load.parsed, policy, dropIns, managedFiles);
      nextCache.emplace(
          key, CachedFile{load.identity, std::move(load.parsed), std::move(load.warnings)});
    }
    cache_ = std::move(nextCache);  // files gone from the directory are forgotten
    checkUniqueNames(policy.profiles, diagnostics);
    applyDropIns(dropIns, policy.profiles, diagnostics);
    leaveOutExpired(policy, managedFiles, now_ ? now_() : systemNow(), diagnostics);
    failed = failed || hasErrors(diagnostics);
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
