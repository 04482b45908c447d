#include "rules/profile_selector.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <tuple>

namespace warden::rules {

namespace {

// RE2's DFA budget for the combined cmdline set; past it, matching falls back to trying
// the patterns one by one (still correct, slower).
constexpr std::int64_t kRegexSetMemory = 64 << 20;

RE2::Options regexOptions() {
  RE2::Options options;
  options.set_log_errors(false);
  return options;
}

re2::StringPiece piece(std::string_view text) { return {text.data(), text.size()}; }

// FNV-1a, which can be read off after any prefix.
constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t fnvStep(std::uint64_t hash, char c) {
  return (hash ^ static_cast<unsigned char>(c)) * kFnvPrime;
}

std::uint64_t pathHash(std::string_view text) {
  std::uint64_t hash = kFnvOffset;
  for (const char c : text) hash = fnvStep(hash, c);
  return hash;
}

}  // namespace

struct ProfileSelector::RegexSet {
  RegexSet() : set(setOptions(), RE2::UNANCHORED) {}
  static RE2::Options setOptions() {
    RE2::Options options = regexOptions();
    options.set_max_mem(kRegexSetMemory);
    return options;
  }
  RE2::Set set;
};

namespace {

// Per worker thread, reused by every select() so that steady state allocates nothing
// here: which regexes matched the current cmdline, by generation stamp.
struct RegexScratch {
  std::vector<int> hits;
  std::vector<std::uint64_t> stamps;  // by regex id; == generation: matched this time
  std::uint64_t generation = 0;
};

RegexScratch& regexScratch() {
  thread_local RegexScratch scratch;
  return scratch;
}

}  // namespace

std::size_t ProfileSelector::DigestHash::operator()(const Sha256& digest) const {
  std::size_t value = 0;
  std::memcpy(&value, digest.data(), sizeof value);  // a digest is uniformly distributed
  return value;
}

// The state of one select(): the best candidate so far and what was computed lazily.
class ProfileSelector::Search {
 public:
  Search(const ProfileSelector& selector, const ProcessInfo& process)
      : selector_(selector), process_(process) {}

  // Takes the first candidate of `bucket` that beats the best so far and holds.
  void consider(const Bucket& bucket) {
    for (const std::uint32_t index : bucket) {
      const Candidate& candidate = selector_.candidates_[index];
      if (!beats(candidate)) return;
      if (holds(candidate)) {
        best_ = &candidate;
        return;
      }
    }
  }

  bool couldBeat(int score) const { return best_ == nullptr || score >= best_->score; }

  const Sha256* digest() {
    if (!digestAsked_) {
      digestAsked_ = true;
      if (process_.sha256) {
        DigestAnswer answer = process_.sha256();
        digest_ = answer.digest;
        digestPending_ = answer.pending;
      }
    }
    return digest_ ? &*digest_ : nullptr;
  }

  const Candidate* best() const { return best_; }
  bool digestPending() const { return digestPending_; }
  // Whether a match that needs the unread part of a cut command line or environment ranks
  // before the best one that holds: then the winner cannot be told.
  bool undeterminedWins() const {
    return undetermined_ != nullptr && (best_ == nullptr || ranksBefore(*undetermined_, *best_));
  }

  // Runs every cmdline regex of the policy over the cmdline in one RE2::Set pass, once.
  // Returns the ids that matched, or nothing if the set could not be used (then each
  // regex is tried on its own).
  const std::vector<int>* regexHits() {
    if (!regexesRun_) runRegexes();
    return setUsable_ ? &regexScratch().hits : nullptr;
  }

 private:
  static bool ranksBefore(const Candidate& a, const Candidate& b) {
    return std::tuple(-a.score, a.profile, a.matchIndex) <
           std::tuple(-b.score, b.profile, b.matchIndex);
  }

  bool beats(const Candidate& c) const { return best_ == nullptr || ranksBefore(c, *best_); }

  // Every key of the match, cheapest first; a key needing a missing attribute fails. A key
  // over the unread part of a cut command line, environment or ancestry fails nothing: a
  // match whose other keys hold is then undetermined, and noted instead of taken.
  bool holds(const Candidate& candidate) {
    const Match& m = *candidate.match;
    const ProcessInfo& p = process_;
    if (m.path && p.path != m.path) return false;
    if (m.uid && p.uid != m.uid) return false;
    if (m.user && p.user != m.user) return false;
    if (m.parentPath &&
        (!p.ancestors || p.ancestors->empty() || p.ancestors->front() != *m.parentPath)) {
      return false;
    }
    bool undetermined = false;
    if (m.ancestorPath &&
        (!p.ancestors || std::ranges::find(*p.ancestors, *m.ancestorPath) == p.ancestors->end())) {
      if (!p.ancestors || !p.ancestorsCut) return false;
      undetermined = true;  // perhaps above the ancestors kept
    }
    if (!m.env.empty()) {
      if (!p.env) return false;
      for (const EnvRequirement& requirement : m.env) {
        const auto it = p.env->find(requirement.name);
        if (it == p.env->end()) {
          if (!p.envCut) return false;
          undetermined = true;
        } else if (requirement.value && !p.envConflicts.empty() &&
                   std::ranges::find(p.envConflicts, requirement.name) != p.envConflicts.end()) {
          undetermined = true;  // set twice, to different values
        } else if (requirement.value && it->second != *requirement.value) {
          return false;
        }
      }
    }
    if (!m.tags.empty()) {
      if (!p.tags) return false;
      for (const std::string& tag : m.tags) {
        if (std::ranges::find(*p.tags, tag) != p.tags->end()) continue;
        if (!p.scriptTagCut || !tag.starts_with("script:")) return false;
        undetermined = true;
      }
    }
    if (candidate.glob && (!p.path || !candidate.glob->matches(*p.path))) return false;
    if (candidate.regex) {
      if (p.cmdline && p.cmdlineCut) {
        if (!matchesBeforeTheCut(candidate)) undetermined = true;
      } else if (!regexMatches(candidate)) {
        return false;
      }
    }
    if (!m.sha256.empty()) {
      const Sha256* actual = digest();
      if (!actual || std::ranges::find(m.sha256, *actual) == m.sha256.end()) return false;
    }
    if (undetermined) {
      if (undetermined_ == nullptr || ranksBefore(candidate, *undetermined_)) {
        undetermined_ = &candidate;
      }
      return false;
    }
    return true;
  }

  // Over a command line read in part: a match that ends before the end of what was read is in
  // the whole command line too (what follows cannot undo it: RE2 has no lookahead, and `$` or
  // `\b` there would have needed the end or the next byte). One that does not tells nothing.
  bool matchesBeforeTheCut(const Candidate& candidate) const {
    const re2::StringPiece text = piece(*process_.cmdline);
    re2::StringPiece found;
    return candidate.regex->Match(text, 0, text.size(), RE2::UNANCHORED, &found, 1) &&
           found.data() + found.size() < text.data() + text.size();
  }

  bool regexMatches(const Candidate& candidate) {
    if (!process_.cmdline) return false;
    if (regexHits() != nullptr) return regexScratch().stamps[candidate.regexId] == generation_;
    return RE2::PartialMatch(piece(*process_.cmdline), *candidate.regex);
  }

  void runRegexes() {
    regexesRun_ = true;
    if (!selector_.regexSet_ || !process_.cmdline) return;
    RegexScratch& scratch = regexScratch();
    generation_ = ++scratch.generation;
    if (scratch.stamps.size() < selector_.regexes_.size()) {
      scratch.stamps.resize(selector_.regexes_.size());
    }
    RE2::Set::ErrorInfo error{};
    // Match allocates a small bookkeeping set per call (RE2's API); nothing else here does.
    if (!selector_.regexSet_->set.Match(piece(*process_.cmdline), &scratch.hits, &error) &&
        error.kind != RE2::Set::kNoError) {
      return;  // out of DFA memory: each regex on its own
    }
    for (const int hit : scratch.hits) scratch.stamps[hit] = generation_;
    setUsable_ = true;
  }

  const ProfileSelector& selector_;
  const ProcessInfo& process_;
  const Candidate* best_ = nullptr;
  const Candidate* undetermined_ = nullptr;  // the first-ranked undetermined match
  bool regexesRun_ = false;
  bool setUsable_ = false;
  std::uint64_t generation_ = 0;
  bool digestAsked_ = false;
  bool digestPending_ = false;
  std::optional<Sha256> digest_;
};

ProfileSelector::~ProfileSelector() = default;

ProfileSelector::ProfileSelector(const std::vector<Profile>& profiles) {
  std::map<std::string_view, std::int32_t> regexIds;
  for (std::size_t p = 0; p < profiles.size(); ++p) {
    const auto& matches = profiles[p].matches;
    for (std::size_t i = 0; i < matches.size(); ++i) {
      const Match& match = matches[i];
      Candidate candidate{&match, static_cast<std::int32_t>(p), static_cast<std::int32_t>(i),
                          match.specificity(), std::nullopt};
      // Validated when the profile was read, with the same compilers; should one fail here
      // all the same (a policy built without validation), the policy is refused: a match
      // left out would silently never hold.
      if (match.pathGlob) {
        auto glob = Glob::compile(*match.pathGlob);
        if (!glob) {
          errors_.push_back(Diagnostic{Severity::kError, match.where,
                                       "path_glob does not compile: " + glob.error()});
          continue;
        }
        candidate.glob = std::move(*glob);
      }
      if (match.cmdline) {
        const auto [it, added] = regexIds.emplace(*match.cmdline, regexes_.size());
        if (added) regexes_.push_back(std::make_unique<RE2>(piece(*match.cmdline), regexOptions()));
        candidate.regexId = it->second;
        candidate.regex = regexes_[it->second].get();
        if (!candidate.regex->ok()) {
          errors_.push_back(
              Diagnostic{Severity::kError, match.where,
                         "cmdline regex does not compile: " + candidate.regex->error()});
          continue;
        }
      }
      usesSha256_ = usesSha256_ || !match.sha256.empty();
      candidates_.push_back(std::move(candidate));
    }
  }
  byRegex_.resize(regexes_.size());
  for (std::uint32_t index = 0; index < candidates_.size(); ++index) {
    const Candidate& c = candidates_[index];
    if (c.match->path) {
      byPath_[pathHash(*c.match->path)].push_back(index);
    } else if (c.glob) {
      byGlobDirectory_[pathHash(c.glob->directoryPrefix())].push_back(index);
    } else if (c.regex) {
      byRegex_[c.regexId].push_back(index);
      regexBucketBest_ = std::max(regexBucketBest_, c.score);
    } else if (!c.match->sha256.empty()) {
      for (const Sha256& digest : c.match->sha256) bySha256_[digest].push_back(index);
      sha256BucketBest_ = std::max(sha256BucketBest_, c.score);
    } else {
      rest_.push_back(index);
    }
  }
  for (auto& [path, bucket] : byPath_) sortBucket(bucket);
  for (auto& [directory, bucket] : byGlobDirectory_) sortBucket(bucket);
  for (auto& [digest, bucket] : bySha256_) sortBucket(bucket);
  for (auto& bucket : byRegex_) sortBucket(bucket);
  sortBucket(rest_);

  // One set over every distinct cmdline regex; set index == regex id.
  if (!regexes_.empty()) {
    regexSet_ = std::make_unique<RegexSet>();
    bool complete = true;
    for (const auto& regex : regexes_) {
      std::string error;
      complete = complete && regexSet_->set.Add(piece(regex->pattern()), &error) >= 0;
    }
    if (!complete || !regexSet_->set.Compile()) regexSet_.reset();
  }
}

void ProfileSelector::sortBucket(Bucket& bucket) const {
  std::ranges::sort(bucket, [this](std::uint32_t a, std::uint32_t b) {
    const Candidate& x = candidates_[a];
    const Candidate& y = candidates_[b];
    return std::tuple(-x.score, x.profile, x.matchIndex) <
           std::tuple(-y.score, y.profile, y.matchIndex);
  });
}

ProfileSelection ProfileSelector::select(const ProcessInfo& process) const {
  Search search(*this, process);
  if (process.path) {
    // Exact paths score higher than globs: trying them first lets most glob buckets stop
    // at their first candidate. The order does not change the result, only the work.
    constexpr std::size_t kKeptGlobBuckets = 16;
    std::array<const Bucket*, kKeptGlobBuckets> globBuckets{};
    std::size_t kept = 0;
    std::uint64_t hash = kFnvOffset;
    for (const char c : *process.path) {
      hash = fnvStep(hash, c);
      if (c != '/' || byGlobDirectory_.empty()) continue;
      if (const auto it = byGlobDirectory_.find(hash); it != byGlobDirectory_.end()) {
        if (kept < globBuckets.size()) {
          globBuckets[kept++] = &it->second;
        } else {
          search.consider(it->second);
        }
      }
    }
    if (const auto it = byPath_.find(hash); it != byPath_.end()) search.consider(it->second);
    for (std::size_t i = 0; i < kept; ++i) search.consider(*globBuckets[i]);
  }
  if (!bySha256_.empty() && search.couldBeat(sha256BucketBest_)) {
    if (const Sha256* digest = search.digest()) {
      if (const auto it = bySha256_.find(*digest); it != bySha256_.end()) {
        search.consider(it->second);
      }
    }
  }
  if (regexBucketBest_ > 0 && process.cmdline && search.couldBeat(regexBucketBest_)) {
    if (process.cmdlineCut) {
      // Every regex match is looked at: what was read may end before a match would (holds()
      // takes one that ends before the cut, and notes the others as undetermined).
      for (const Bucket& bucket : byRegex_) search.consider(bucket);
    } else if (const std::vector<int>* hits = search.regexHits()) {
      for (const int id : *hits) search.consider(byRegex_[id]);
    } else {
      for (std::size_t id = 0; id < byRegex_.size(); ++id) {
        if (!byRegex_[id].empty() && RE2::PartialMatch(piece(*process.cmdline), *regexes_[id])) {
          search.consider(byRegex_[id]);
        }
      }
    }
  }
  if (!rest_.empty() && search.couldBeat(candidates_[rest_.front()].score)) search.consider(rest_);
  if (search.digestPending()) return ProfileSelection{.digestPending = true};
  if (search.undeterminedWins()) return ProfileSelection{.attributeCut = true};
  const Candidate* best = search.best();
  if (best == nullptr) return {};
  return ProfileSelection{best->profile, best->matchIndex, best->score};
}

}  // namespace warden::rules
