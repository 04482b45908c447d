#include "engine/attribution/tags.h"

#include <algorithm>
#include <array>

namespace warden::engine {
namespace {

std::optional<std::string_view> envLookup(const std::vector<std::string>* env,
                                          std::string_view name) {
  if (!env) return std::nullopt;
  for (const std::string& entry : *env) {
    if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
        entry[name.size()] == '=') {
      return std::string_view(entry).substr(name.size() + 1);
    }
  }
  return std::nullopt;
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

bool isHex(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// A 64-digit hex container id inside a cgroup component such as "docker-<id>.scope",
// "cri-containerd-<id>.scope", "crio-<id>", "libpod-<id>.scope" or a bare "<id>".
std::optional<std::string> hexIdIn(std::string_view component) {
  std::string_view name = component;
  if (name.ends_with(".scope")) name.remove_suffix(6);
  const std::size_t dash = name.rfind('-');
  if (dash != std::string_view::npos) {
    name = name.substr(dash + 1);
  } else {
    const std::size_t colon = name.rfind(':');  // "cri-containerd:<id>" style
    if (colon != std::string_view::npos) name = name.substr(colon + 1);
  }
  if (name.size() == 64 && isHex(name)) return std::string(name);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> flatpakAppId(std::string_view cgroupPath) {
  // systemd scopes of flatpak apps: "app-flatpak-org.mozilla.firefox-12345.scope"
  constexpr std::string_view kPrefix = "app-flatpak-";
  for (std::string_view part : components(cgroupPath)) {
    if (!part.starts_with(kPrefix)) continue;
    std::string_view rest = part.substr(kPrefix.size());
    if (rest.ends_with(".scope")) rest.remove_suffix(6);
    const std::size_t dash = rest.rfind('-');
    if (dash == std::string_view::npos || dash == 0) continue;
    const std::string_view id = rest.substr(0, dash);
    // An app id is dot-separated names; nothing that could walk a path.
    if (id.find('/') == std::string_view::npos && id.find("..") == std::string_view::npos &&
        id.front() != '.') {
      return std::string(id);
    }
  }
  return std::nullopt;
}

std::optional<std::string> snapName(std::string_view path, bool pathOnHost) {
  // /snap/<name>/<revision>/...: snapd's read-only mounts, root's. Neither the scope a snap
  // runs in (a user's manager names it) nor SNAP_NAME (anyone sets it) says it.
  if (!pathOnHost) return std::nullopt;
  const auto parts = components(path);
  if (path.starts_with("/snap/") && parts.size() >= 4) return std::string(parts[1]);
  return std::nullopt;
}

std::optional<std::string> appImagePath(std::string_view path,
                                        const std::vector<std::string>* env) {
  // The AppImage runtime exports APPIMAGE (the image file) and mounts the image under
  // /tmp/.mount_<name>XXXXXX, where the executable then lives.
  auto image = envLookup(env, "APPIMAGE");
  if (image && !image->empty() && path.find("/.mount_") != std::string_view::npos) {
    return std::string(*image);
  }
  return std::nullopt;
}

std::optional<std::string> systemdUnit(std::string_view cgroupPath) {
  // The innermost unit: a service, or a scope that is not a container's.
  const auto parts = components(cgroupPath);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (it->ends_with(".service")) return std::string(*it);
    if (it->ends_with(".scope") && !hexIdIn(*it)) return std::string(*it);
  }
  return std::nullopt;
}

std::optional<std::string> containerId(std::string_view cgroupPath) {
  for (std::string_view part : components(cgroupPath)) {
    if (auto id = hexIdIn(part)) return id;
    if (part.starts_with("lxc.payload.") && part.size() > 12) return std::string(part.substr(12));
  }
  // /lxc/<name>
  const auto parts = components(cgroupPath);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] == "lxc") return std::string(parts[i + 1]);
  }
  return std::nullopt;
}

std::vector<std::string> computeTags(const TagInput& input) {
  std::vector<std::string> tags;
  if (!input.flatpakApp.empty()) tags.push_back("flatpak:" + std::string(input.flatpakApp));
  if (auto name = snapName(input.path, input.pathOnHost)) tags.push_back("snap:" + *name);
  if (auto image = appImagePath(input.path, input.env)) tags.push_back("appimage:" + *image);
  if (auto unit = systemdUnit(input.trustedCgroupPath)) tags.push_back("systemd:" + *unit);
  if (auto id = containerId(input.trustedCgroupPath)) tags.push_back("container:" + *id);
  if (input.argv && !input.envCut) {
    if (auto script =
            interpretedScript(input.path, *input.argv, input.env, input.cwd, input.argvCut)) {
      tags.push_back("script:" + *script);
    }
  }
  return tags;
}

bool scriptTagCut(const TagInput& input, const std::vector<std::string>& tags) {
  if (!input.argv || (!input.argvCut && !input.envCut)) return false;
  if (std::ranges::any_of(tags,
                          [](const std::string& tag) { return tag.starts_with("script:"); })) {
    return false;
  }
  return interpretedScript(input.path, *input.argv, input.env, input.cwd).has_value();
}

}  // namespace warden::engine
