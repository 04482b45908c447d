#include "cli/explain_text.h"

#include <filesystem>
#include <string>
#include <string_view>

#include "cli/match_text.h"
#include "cli/table.h"

namespace warden::cli {
namespace {

using nlohmann::json;

constexpr std::size_t kLabelWidth = 13;

void line(std::ostream& out, std::string_view label, const std::string& value) {
  std::string padded(label);
  padded.resize(kLabelWidth, ' ');
  out << padded << printable(value) << '\n';
}

std::string text(const json& object, std::string_view key, std::string_view fallback = "?") {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string(fallback);
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string joined(const json& object, std::string_view key, std::string_view separator) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return {};
  std::string out;
  for (const auto& element : *it) {
    if (!out.empty()) out += separator;
    out += element.is_string() ? element.get<std::string>() : element.dump();
  }
  return out;
}

bool flag(const json& object, std::string_view key) {
  const auto it = object.find(key);
  return it != object.end() && *it == true;
}

std::string location(const rules::SourceLocation& where, const std::string& file) {
  const std::string& named = where.file.empty() ? file : where.file;
  return std::filesystem::path(named).filename().string() + ":" + std::to_string(where.line);
}

const rules::Profile* selectedProfile(const Explanation& e) {
  if (e.policy == nullptr || e.selection.profile < 0 ||
      static_cast<std::size_t>(e.selection.profile) >= e.policy->profiles.size()) {
    return nullptr;
  }
  return &e.policy->profiles[static_cast<std::size_t>(e.selection.profile)];
}

const rules::Match* selectedMatch(const Explanation& e, const rules::Profile& profile) {
  if (e.selection.match < 0 ||
      static_cast<std::size_t>(e.selection.match) >= profile.matches.size()) {
    return nullptr;
  }
  return &profile.matches[static_cast<std::size_t>(e.selection.match)];
}

std::string otherwise(const rules::Profile& profile, const rules::Policy& policy) {
  if (profile.defaultAction) {
    return std::string(rules::toString(*profile.defaultAction)) + " (profile default)";
  }
  return std::string(rules::toString(policy.config.defaultAction)) + " ([engine] default)";
}

}  // namespace

void printExplanation(const Explanation& e, std::ostream& out) {
  const json& p = e.process;
  std::string who = text(p, "pid") + " (" + text(p, "comm") + "), parent " + text(p, "ppid") +
                    ", user " + text(p, "user", "") + " (uid " + text(p, "uid") + ")";
  if (flag(p, "exited")) who += ", exited";
  line(out, "process", who);
  std::string path = text(p, "path", "unknown");
  if (flag(p, "path_deleted")) path += " (deleted or replaced since it started)";
  line(out, "executable", path);
  if (p.contains("sha256") && p["sha256"].is_string()) {
    line(out, "", "sha256 " + p["sha256"].get<std::string>());
  } else if (p.contains("sha256_error")) {
    line(out, "", "sha256 unknown: " + text(p, "sha256_error"));
  }
  std::string command = joined(p, "argv", " ");
  if (flag(p, "argv_truncated")) command += " …";
  line(out, "command", command.empty() ? "unknown" : command);
  const std::string parents = joined(p, "ancestors", ", ");
  line(out, "parents", parents.empty() ? "unknown" : parents);
  const std::string tags = joined(p, "tags", ", ");
  line(out, "tags", tags.empty() ? "none" : tags);
  if (!flag(p, "env_known")) {
    line(out, "environment", "unknown (`env` matches do not hold)");
  } else {
    const auto names = p.find("env_names");
    std::string env = std::to_string(names != p.end() && names->is_array() ? names->size() : 0) +
                      " variables (values not shown)";
    if (!e.environmentRead) env += "; not readable here, so `env` matches were not tried";
    line(out, "environment", env);
  }
  line(out, "cgroup", text(p, "cgroup", "unknown"));
  line(out, "described",
       "from " + text(p, "source") +
           (flag(p, "complete") ? "" : " (incomplete: /proc was not read)"));

  if (e.policy == nullptr) return;
  const rules::Profile* profile = selectedProfile(e);
  if (profile == nullptr) {
    line(out, "profile", "none: no profile's [[match]] holds");
    line(out, "",
         "its flows get the global rules, then the [engine] default: " +
             std::string(rules::toString(e.policy->config.defaultAction)));
    return;
  }
  line(out, "profile", profile->name + " (" + location(profile->where, profile->file) + ")");
  if (const rules::Match* match = selectedMatch(e, *profile)) {
    line(out, "",
         "through [[match]] " + std::to_string(e.selection.match + 1) + " of " +
             std::to_string(profile->matches.size()) + " (" +
             location(match->where, profile->file) + "): " + describeMatch(*match) +
             ", specificity " + std::to_string(e.selection.score));
  }
  line(out, "",
       "its flows get the global rules, then its " + std::to_string(profile->rules.size()) +
           (profile->rules.size() == 1 ? " rule" : " rules") + " (`warden rules " + profile->name +
           "`), otherwise " + otherwise(*profile, *e.policy));
}

json explanationJson(const Explanation& e) {
  json out = {{"process", e.process},
              {"environment_read", e.environmentRead},
              {"revision", e.revision ? json(*e.revision) : json()},
              {"files_changed", e.filesChanged},
              {"profile", nullptr}};
  if (e.policy == nullptr) return out;
  out["engine_default"] = rules::toString(e.policy->config.defaultAction);
  if (const rules::Profile* profile = selectedProfile(e)) {
    json selected = {
        {"name", profile->name},
        {"file", profile->file},
        {"line", profile->where.line},
        {"default",
         profile->defaultAction ? json(rules::toString(*profile->defaultAction)) : json()},
        {"rule_count", profile->rules.size()},
        {"score", e.selection.score}};
    if (const rules::Match* match = selectedMatch(e, *profile)) {
      selected["match"] = {{"index", e.selection.match},
                           {"file", match->where.file.empty() ? profile->file : match->where.file},
                           {"line", match->where.line},
                           {"text", describeMatch(*match)}};
    }
    out["profile"] = std::move(selected);
  }
  return out;
}

}  // namespace warden::cli
