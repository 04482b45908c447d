#include "engine/decision.h"

namespace warden::engine {

std::string_view toString(DecidedBy by) {
  switch (by) {
    case DecidedBy::kGlobalRule:
      return "global rule";
    case DecidedBy::kEngineDefault:
      return "engine default";
    case DecidedBy::kKernel:
      return "engine kernel";
    case DecidedBy::kUnknown:
      return "engine unknown";
  }
  return "?";
}

Decision decide(const rules::Config& config, const rules::Flow& flow, Owner owner) {
  const auto& globals = config.globalRules;
  for (std::size_t i = 0; i < globals.size(); ++i) {
    if (globals[i].matches(flow)) {
      return Decision{globals[i].action, DecidedBy::kGlobalRule, static_cast<int>(i),
                      globals[i].log};
    }
  }
  if (owner == Owner::kKernel) return Decision{config.kernelAction, DecidedBy::kKernel};
  if (owner == Owner::kUnknown) return Decision{config.unknownAction, DecidedBy::kUnknown};
  return Decision{config.defaultAction, DecidedBy::kEngineDefault};
}

Decision decideMalformed(const rules::Config& config) {
  return Decision{config.unknownAction, DecidedBy::kUnknown};
}

}  // namespace warden::engine
