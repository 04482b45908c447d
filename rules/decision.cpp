#include "rules/decision.h"

namespace warden::rules {

std::string_view toString(DecidedBy by) {
  switch (by) {
    case DecidedBy::kGlobalRule:
      return "global-rule";
    case DecidedBy::kProfileRule:
      return "profile-rule";
    case DecidedBy::kProfileDefault:
      return "profile-default";
    case DecidedBy::kEngineDefault:
      return "engine-default";
    case DecidedBy::kUnknown:
      return "unknown";
    case DecidedBy::kKernel:
      return "kernel";
    case DecidedBy::kPrompt:
      return "prompt";
  }
  return "?";
}

}  // namespace warden::rules
