#include "cli/host_domain.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <vector>

namespace warden::cli {
namespace {

std::vector<std::string_view> labels(std::string_view name) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = name.find('.', start);
    parts.push_back(name.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

}  // namespace

std::string normalizedHost(std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  std::string name(host);
  std::ranges::transform(name, name.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

std::string registrableDomain(std::string_view host) {
  const std::string name = normalizedHost(host);
  const std::vector<std::string_view> parts = labels(name);
  if (std::ranges::any_of(parts, [](std::string_view label) { return label.empty(); })) return {};
  const std::size_t n = parts.size();
  std::size_t keep = 2;
  if (n >= 2 && parts[n - 1].size() == 2 && parts[n - 2].size() <= 3) keep = 3;
  if (n < keep) return {};
  std::string domain;
  for (std::size_t i = n - keep; i < n; ++i) {
    if (!domain.empty()) domain.push_back('.');
    domain += parts[i];
  }
  return domain;
}

std::map<std::string, std::string> generaliseHosts(const std::set<std::string>& hosts) {
  std::set<std::string> names;
  for (const std::string& host : hosts) names.insert(normalizedHost(host));
  // Names strictly below each registrable domain.
  std::map<std::string, std::set<std::string>> below;
  for (const std::string& name : names) {
    const std::string domain = registrableDomain(name);
    if (!domain.empty() && domain != name) below[domain].insert(name);
  }
  std::map<std::string, std::string> patterns;
  for (const std::string& host : hosts) {
    const std::string name = normalizedHost(host);
    const std::string domain = registrableDomain(name);
    auto it = below.find(domain);
    const bool wildcard = !domain.empty() && it != below.end() && it->second.size() >= 2;
    patterns[name] = wildcard ? "*." + domain : name;
  }
  return patterns;
}

}  // namespace warden::cli
