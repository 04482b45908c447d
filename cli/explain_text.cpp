#include "cli/explain_text.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>

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

std::string joined(const json& object, std::string_view key, std::string_view separator,
                   std::string_view empty = "") {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return {};
  std::string out;
  for (const auto& element : *it) {
    if (!out.empty()) out += separator;
    if (element == "") {
      out += empty;
    } else {
      out += element.is_string() ? element.get<std::string>() : element.dump();
    }
  }
  return out;
}

bool flag(const json& object, std::string_view key) {
  const auto it = object.find(key);
  return it != object.end() && *it == true;
}

std::int64_t integer(const json& object, std::string_view key, std::int64_t fallback = -1) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
}

std::string fileName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// The selected profile as the policy view knows it, when the view is of the same revision.
const ProfileView* viewed(const Explanation& e, const json& selected) {
  if (e.policy == nullptr || !selected.is_object()) return nullptr;
  const std::int64_t revision = integer(selected, "revision", 0);
  if (e.policy->source == PolicyView::Source::kRevision && revision != 0 &&
      revision != e.policy->revision) {
    return nullptr;
  }
  return e.policy->findProfile(text(selected, "name", ""));
}

// The winning [[match]] in words, when the view has the [[match]] lines.
std::optional<std::string> matchText(const ProfileView* profile, const json& selected) {
  const std::int64_t index = integer(selected, "match_index");
  if (profile == nullptr || !profile->matches || index < 0 ||
      static_cast<std::size_t>(index) >= profile->matches->size()) {
    return std::nullopt;
  }
  return (*profile->matches)[static_cast<std::size_t>(index)];
}

std::string otherwise(const ProfileView* profile, const PolicyView* policy) {
  if (profile != nullptr && profile->defaultAction) {
    return std::string(rules::toString(*profile->defaultAction)) + " (profile default)";
  }
  if (policy != nullptr && policy->engineDefault) {
    return std::string(rules::toString(*policy->engineDefault)) + " ([engine] default)";
  }
  return profile != nullptr ? "the [engine] default" : "its default";
}

void printIdentity(const json& p, std::ostream& out) {
  std::string who = text(p, "pid") + " (" + text(p, "comm") + "), parent " + text(p, "ppid") +
                    ", user " + text(p, "user", "") + " (uid " + text(p, "uid") + ")";
  if (flag(p, "exited")) who += ", exited";
  line(out, "process", who);
  std::string path = text(p, "path", "unknown");
  if (flag(p, "path_deleted")) path += " (deleted or replaced since it started)";
  line(out, "executable", path);
  // (absent from an older wardend's answer: nothing to say then)
  const auto onHost = p.find("path_on_host");
  if (onHost != p.end() && *onHost == false && p.contains("path")) {
    line(out, "",
         "is not the host's file at that path (the process sees another file there, "
         "e.g. one mounted over it in a namespace of its own, or it was replaced): "
         "path, path_glob, parent_path and ancestor_path do not match it");
  }
  if (p.contains("sha256") && p["sha256"].is_string()) {
    line(out, "", "sha256 " + p["sha256"].get<std::string>());
  } else if (p.contains("sha256_error")) {
    line(out, "", "sha256 unknown: " + text(p, "sha256_error"));
  }
  std::string command = joined(p, "argv", " ");
  if (flag(p, "argv_truncated")) command += " …";
  line(out, "command", command.empty() ? "unknown" : command);
  // An ancestor seen at a path that is not its host file comes as "".
  const std::string parents = joined(p, "ancestors", ", ", "(unknown, or not the host's file)");
  line(out, "parents",
       parents.empty() ? "unknown" : parents + (flag(p, "ancestors_cut") ? ", …" : ""));
  const std::string tags = joined(p, "tags", ", ");
  line(out, "tags", tags.empty() ? "none" : tags);
  if (flag(p, "env_known")) {
    const auto names = p.find("env_names");
    const std::size_t count = names != p.end() && names->is_array() ? names->size() : 0;
    line(out, "environment",
         std::to_string(count) + " variables (values not shown)" +
             (flag(p, "env_truncated") ? ", and more not read" : ""));
  } else {
    line(out, "environment", "unknown (`env` matches do not hold)");
  }
  line(out, "cgroup", text(p, "cgroup", "unknown"));
  line(out, "described",
       "from " + text(p, "source") + (flag(p, "complete") ? "" : " (incomplete: /proc unread)"));
  if (flag(p, "image_replaced")) {
    line(out, "",
         "its executable was replaced without an exec (prctl PR_SET_MM): not described from "
         "/proc, and every flow of it is decided as `unknown`");
  }
}

// The verdicts held in the kernel for the process (SPEC section 12): one line each.
void printHeld(const json& p, std::ostream& out) {
  const auto held = p.find("kernel_verdicts");
  if (held == p.end() || !held->is_array()) return;  // not held at all (or an older wardend)
  if (held->empty()) {
    line(out, "kernel-held", "none: its next flows go to wardend");
    return;
  }
  std::string label = "kernel-held";
  for (const auto& entry : *held) {
    const std::string remote = text(entry, "remote");
    const bool v6 = remote.find(':') != std::string::npos;
    line(out, label,
         text(entry, "action") + " " + text(entry, "protocol") + " " + (v6 ? "[" : "") + remote +
             (v6 ? "]" : "") + ":" + text(entry, "port") + ", " + text(entry, "hits") +
             " flows decided, ends in " + text(entry, "expires_in_s") + " s");
    label.clear();
  }
}

void printProfile(const Explanation& e, std::ostream& out) {
  const json& p = e.process;
  const auto selected = p.find("profile");
  if (selected == p.end()) return;  // wardend selected nothing: no policy to select with
  if (!selected->is_object()) {
    line(out, "profile", "none: " + text(p, "profile_reason", "no profile's [[match]] holds"));
    if (flag(p, "profile_unsettled")) {
      // Which profile is the process's cannot be told (yet): the engine `unknown` verdict.
      const std::optional<rules::Action> unknown =
          e.policy != nullptr ? e.policy->engineUnknown : std::nullopt;
      line(out, "",
           "its flows get the global rules, then " +
               (unknown ? std::string(rules::toString(*unknown)) + " ([engine] unknown)"
                        : std::string("the [engine] unknown verdict")));
      return;
    }
    line(out, "", "its flows get the global rules, then " + otherwise(nullptr, e.policy));
    return;
  }
  const ProfileView* profile = viewed(e, *selected);
  const std::string where = profile != nullptr
                                ? fileName(profile->file) + ":" + std::to_string(profile->line)
                                : fileName(text(*selected, "file"));
  line(
      out, "profile",
      text(*selected, "name") + " (" + where + "), policy revision " + text(*selected, "revision"));
  std::string through =
      "through [[match]] " + std::to_string(integer(*selected, "match_index") + 1) + " (" +
      fileName(text(*selected, "file")) + ":" + text(*selected, "match_line") + ")";
  if (auto match = matchText(profile, *selected)) through += ": " + *match;
  line(out, "", through + ", specificity " + text(*selected, "score"));
  std::string then = "its flows get the global rules, then ";
  if (profile != nullptr) {
    // Drop-in rules (extends) come first and keep their own file: name those files.
    std::vector<std::string> dropIns;
    for (const auto& rule : profile->rules) {
      if (rule.file == profile->file) continue;
      const std::string name = fileName(rule.file);
      if (std::ranges::find(dropIns, name) == dropIns.end()) dropIns.push_back(name);
    }
    std::string from;
    for (const auto& name : dropIns) from += (from.empty() ? ", drop-ins first: " : ", ") + name;
    then += "its " + std::to_string(profile->rules.size()) +
            (profile->rules.size() == 1 ? " rule" : " rules") + " (`warden rules " + profile->name +
            "`" + from + "), otherwise " + otherwise(profile, e.policy);
  } else {
    then += "its rules (`warden rules " + text(*selected, "name") + "`)";
  }
  // Learn mode changes what the verdicts do; say so where the profile is named.
  if (profile != nullptr &&
      (profile->mode == rules::Mode::kLearn ||
       (!profile->mode && e.policy && e.policy->engineMode == rules::Mode::kLearn))) {
    then += "; learn mode: they are logged but accepted";
  }
  line(out, "", then);
}

}  // namespace

void printExplanation(const Explanation& e, std::ostream& out) {
  printIdentity(e.process, out);
  printProfile(e, out);
  printHeld(e.process, out);
}

json explanationJson(const Explanation& e) {
  const json& p = e.process;
  json out = {{"process", p}, {"profile", nullptr}, {"revision", nullptr}};
  const auto selected = p.find("profile");
  if (selected == p.end() || !selected->is_object()) return out;
  json profile = *selected;
  out["revision"] = profile.value("revision", json());
  if (const ProfileView* viewedProfile = viewed(e, *selected)) {
    profile["line"] = viewedProfile->line;
    profile["default"] = viewedProfile->defaultAction
                             ? json(rules::toString(*viewedProfile->defaultAction))
                             : json();
    profile["rule_count"] = viewedProfile->rules.size();
    profile["mode"] = viewedProfile->mode ? json(rules::toString(*viewedProfile->mode)) : json();
    if (auto match = matchText(viewedProfile, *selected)) profile["match_text"] = *match;
  }
  out["profile"] = std::move(profile);
  return out;
}

}  // namespace warden::cli
