#include "rules/match_overlap.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

#include "rules/glob.h"
#include "rules/policy_lint.h"

namespace warden::rules {
namespace {

// The keys that prove two matches disjoint when both name them with different values.
constexpr std::array<char, 4> kValueLetters = {'u', 'c', 'p', 'i'};

std::array<std::optional<std::string>, 4> valuesOf(const Match& match) {
  std::optional<std::string> uid;
  if (match.uid) uid = std::to_string(*match.uid);
  return {match.user, match.cmdline, match.parentPath, uid};
}

// The literal prefix of a match's glob (every path it matches starts with it), if it has a
// valid one.
std::optional<std::string> globLiteral(const Match& match) {
  if (!match.pathGlob) return std::nullopt;
  const auto glob = Glob::compile(*match.pathGlob);
  if (!glob) return std::nullopt;
  return std::string(glob->literalPrefix());
}

// Up to and with the last '/': a path or glob starting with `text` is stored under it.
std::string directoryOf(std::string_view text) {
  const auto slash = text.rfind('/');
  return std::string(slash == std::string_view::npos ? "" : text.substr(0, slash + 1));
}

// "" and every prefix of `text` that ends in '/'.
template <typename Each>
void forEachDirectory(std::string_view text, Each each) {
  each(std::string());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '/') each(std::string(text.substr(0, i + 1)));
  }
}

std::size_t totalSize(const std::vector<const std::vector<std::int64_t>*>& buckets) {
  std::size_t total = 0;
  for (const auto* bucket : buckets) total += bucket->size();
  return total;
}

}  // namespace

const OverlapIndex::Bucket* OverlapIndex::find(const std::unordered_map<std::string, Bucket>& map,
                                               const std::string& key) const {
  const auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

// Globs whose literal prefix is a prefix of `text` (a path, or another glob's literal).
void OverlapIndex::globCandidates(std::string_view text, Candidates& out) const {
  std::string prefix;
  prefix.reserve(text.size());
  for (std::size_t length = 0;; ++length) {
    if (const Bucket* bucket = find(globByLiteral_, prefix)) out.push_back(bucket);
    if (length == text.size()) break;
    prefix += text[length];
  }
}

// Every earlier match that a path or a glob does not prove disjoint from `match`.
void OverlapIndex::pathCandidates(const Match& match, Candidates& out) const {
  out.push_back(&pathless_);
  if (match.path) {
    // Same path; or no path and a glob that may match it.
    if (const Bucket* bucket = find(byPath_, *match.path)) out.push_back(bucket);
    globCandidates(*match.path, out);
    return;
  }
  // A glob: paths it may match, and globs whose literal prefixes are prefixes of one another.
  const std::string literal = *globLiteral(match);
  const std::string directory = directoryOf(literal);
  if (const Bucket* bucket = find(pathsUnder_, directory)) out.push_back(bucket);
  if (const Bucket* bucket = find(globsUnder_, directory)) out.push_back(bucket);
  globCandidates(literal, out);
}

void OverlapIndex::add(const Match& match, std::int64_t position) {
  all_.push_back(position);
  if (match.path) {
    byPath_[*match.path].push_back(position);
    forEachDirectory(*match.path,
                     [&](std::string key) { pathsUnder_[std::move(key)].push_back(position); });
  } else if (const auto literal = globLiteral(match)) {
    globByLiteral_[*literal].push_back(position);
    forEachDirectory(*literal,
                     [&](std::string key) { globsUnder_[std::move(key)].push_back(position); });
  } else {
    pathless_.push_back(position);
  }
  const auto values = valuesOf(match);
  for (std::size_t key = 0; key < values.size(); ++key) {
    if (values[key]) {
      byValue_[kValueLetters[key] + *values[key]].push_back(position);
    } else {
      lacking_[key].push_back(position);
    }
  }
}

std::int64_t OverlapIndex::addAndFindOverlap(const Match& match, std::size_t profile) {
  const auto position = static_cast<std::int64_t>(entries_.size());
  // Each key the match names gives the earlier matches it does not prove disjoint; an
  // overlapping match is among those of every key, so compare with the fewest.
  std::optional<Candidates> fewest;
  const auto offer = [&](Candidates candidates) {
    if (!fewest || totalSize(candidates) < totalSize(*fewest)) fewest = std::move(candidates);
  };
  if (match.path || globLiteral(match)) {
    Candidates candidates;
    pathCandidates(match, candidates);
    offer(std::move(candidates));
  }
  const auto values = valuesOf(match);
  for (std::size_t key = 0; key < values.size(); ++key) {
    if (!values[key]) continue;
    Candidates candidates = {&lacking_[key]};
    if (const Bucket* bucket = find(byValue_, kValueLetters[key] + *values[key])) {
      candidates.push_back(bucket);
    }
    offer(std::move(candidates));
  }
  if (!fewest) fewest = Candidates{&all_};

  std::int64_t found = position;  // none yet
  for (const Bucket* bucket : *fewest) {
    for (const std::int64_t earlier : *bucket) {
      if (earlier >= found) break;  // buckets ascend; an earlier overlap is already known
      const Entry& entry = entries_[earlier];
      if (entry.profile == profile) continue;
      ++comparisons_;
      if (mayOverlap(*entry.match, match)) {
        found = earlier;
        break;
      }
    }
  }
  entries_.push_back(Entry{&match, profile});
  add(match, position);
  return found == position ? -1 : found;
}

}  // namespace warden::rules
