#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rules/diagnostic.h"
#include "rules/glob.h"
#include "rules/process_info.h"
#include "rules/profile.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace warden::rules {

// Which profile a process gets and through which [[match]] (SPEC section 4 step 4).
struct ProfileSelection {
  std::int32_t profile = -1;  // index into the profiles, -1: none
  std::int32_t match = -1;    // index of the winning [[match]] within that profile
  int score = 0;
  // The image's digest was asked for and is not known yet (DigestAnswer::pending): another
  // profile might have won. Decided `unknown`, and never remembered.
  bool digestPending = false;
  // A [[match]] that would win if what was not read of the command line or environment, or
  // not kept of the ancestry (ProcessInfo::cmdlineCut, envCut, ancestorsCut), agreed with it:
  // which profile the process has cannot be told. Decided `unknown` (SPEC section 4: missing
  // data never more permissive than knowing), and remembered: what the process was started
  // with does not change.
  bool attributeCut = false;

  bool unsettled() const { return digestPending || attributeCut; }
};

// Finds the most specific profile for a process. Candidates come from indexes, so a
// decision touches only the matches that can hold: exact paths by hash, globs by their
// literal directory, cmdline regexes through one RE2::Set pass, hashes by digest; only
// matches with none of those keys are tried one by one. Immutable once built; select()
// is safe from any number of threads and allocates nothing after warm-up.
class ProfileSelector {
 public:
  explicit ProfileSelector(const std::vector<Profile>& profiles);
  ~ProfileSelector();
  ProfileSelector(const ProfileSelector&) = delete;
  ProfileSelector& operator=(const ProfileSelector&) = delete;

  ProfileSelection select(const ProcessInfo& process) const;
  bool usesSha256() const { return usesSha256_; }
  // The matches whose glob or regex failed to compile (each left out): a policy with any is
  // refused (see CompiledPolicy::compile).
  const Diagnostics& errors() const { return errors_; }

 private:
  struct Candidate {
    const Match* match;
    std::int32_t profile;
    std::int32_t matchIndex;
    int score;
    std::optional<Glob> glob;
    const re2::RE2* regex = nullptr;
    std::int32_t regexId = -1;
  };
  using Bucket = std::vector<std::uint32_t>;  // candidate indexes, best first
  struct DigestHash {
    std::size_t operator()(const Sha256& digest) const;
  };
  template <typename Key, typename Hash = std::hash<Key>>
  using Index = std::unordered_map<Key, Bucket, Hash, std::equal_to<>>;
  class Search;
  struct RegexSet;  // RE2::Set, which cannot be declared here

  void sortBucket(Bucket& bucket) const;

  std::vector<Candidate> candidates_;
  std::vector<std::unique_ptr<re2::RE2>> regexes_;  // one per distinct pattern
  std::unique_ptr<RegexSet> regexSet_;              // all of regexes_, or null
  // Keyed by pathHash() of the path or of the glob's directory prefix, so that one pass
  // over a process's path yields the keys of its path and of every directory above it.
  // A collision only adds candidates, which holds() then rejects.
  Index<std::uint64_t> byPath_;
  Index<std::uint64_t> byGlobDirectory_;
  std::vector<Bucket> byRegex_;  // by regex id
  int regexBucketBest_ = 0;      // the highest score in byRegex_, 0 if empty
  Index<Sha256, DigestHash> bySha256_;
  int sha256BucketBest_ = 0;  // the highest score in bySha256_
  Bucket rest_;
  bool usesSha256_ = false;
  Diagnostics errors_;
};

}  // namespace warden::rules
