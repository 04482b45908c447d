#include "rules/profile.h"

namespace warden::rules {

int Match::specificity() const {
  int score = 0;
  if (!sha256.empty()) score += kSha256Score;
  if (path) score += kPathScore;
  if (pathGlob) score += kPathGlobScore;
  if (parentPath) score += kParentPathScore;
  if (ancestorPath) score += kAncestorPathScore;
  if (cmdline) score += kAttributeScore;
  if (!env.empty()) score += kAttributeScore;
  if (!tags.empty()) score += kAttributeScore;
  if (user) score += kAttributeScore;
  if (uid) score += kAttributeScore;
  return score;
}

bool Match::empty() const { return specificity() == 0; }

}  // namespace warden::rules
