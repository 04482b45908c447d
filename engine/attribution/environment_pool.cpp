#include "engine/attribution/environment_pool.h"

#include <functional>
#include <string_view>

namespace warden::engine {
namespace {

std::size_t hashOf(const rules::Environment& env) {
  std::size_t h = env.size();
  for (const auto& [name, value] : env) {
    h = h * 1099511628211ull ^ std::hash<std::string_view>{}(name);
    h = h * 1099511628211ull ^ std::hash<std::string_view>{}(value);
  }
  return h;
}

}  // namespace

rules::Environment EnvironmentPool::intern(rules::Environment env) {
  const std::size_t h = hashOf(env);
  for (const auto& [hash, known] : recent_) {
    if (hash == h && known == env) return known;
  }
  recent_.emplace_front(h, env);
  if (recent_.size() > kMaxEntries) recent_.pop_back();
  return env;
}

}  // namespace warden::engine
