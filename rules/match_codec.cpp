#include "rules/match_codec.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <string>

#include "rules/glob.h"

namespace warden::rules {
namespace {

constexpr std::string_view kSection = "[[match]]";
constexpr std::int64_t kMaxUid = 4294967294;  // (uid_t)-1 is "no user"
constexpr std::array<std::string_view, 6> kTagKinds = {"flatpak", "snap",      "appimage",
                                                       "systemd", "container", "script"};

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// Calls `each` for the value or for every element if it is an array; an empty array and
// elements of the wrong type are errors. `what` describes an element ("a sha256 string").
template <typename Each>
void forEachString(const toml::node& value, std::string_view key, std::string_view what,
                   TomlReader& reader, Each each) {
  const auto one = [&](const toml::node& element, bool inArray) {
    if (const auto* text = element.as_string()) {
      each(element, std::string_view(text->get()));
    } else {
      reader.error(reader.at(element), "expected " + std::string(what) +
                                           (inArray ? " in '" : " for '") + std::string(key) +
                                           "', got " + std::string(TomlReader::typeName(element)));
    }
  };
  if (const auto* list = value.as_array()) {
    if (list->empty())
      reader.error(reader.at(value), "'" + std::string(key) + "' must not be empty");
    for (const auto& element : *list) one(element, true);
  } else {
    one(value, false);
  }
}

std::optional<std::string> absolutePath(const toml::node& value, std::string_view key,
                                        TomlReader& reader) {
  const auto text = reader.nonEmptyString(value, key);
  if (!text) return std::nullopt;
  if (!text->starts_with('/')) {
    reader.error(reader.at(value),
                 "'" + std::string(key) + "' must be an absolute path, got " + quoted(*text));
    return std::nullopt;
  }
  return std::string(*text);
}

void readTag(const toml::node& element, std::string_view tag, TomlReader& reader, Match& match) {
  const auto colon = tag.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == tag.size()) {
    reader.error(reader.at(element),
                 "invalid tag " + quoted(tag) + " (expected kind:value, e.g. 'snap:firefox')");
    return;
  }
  const std::string_view kind = tag.substr(0, colon);
  if (std::ranges::find(kTagKinds, kind) == kTagKinds.end()) {
    reader.error(reader.at(element), "unknown tag kind " + quoted(kind) +
                                         " (expected flatpak, snap, appimage, systemd, "
                                         "container or script)");
    return;
  }
  match.tags.emplace_back(tag);
}

void readEnv(const toml::node& value, TomlReader& reader, Match& match) {
  const auto* table = reader.table(value, "env");
  if (!table) return;
  if (table->empty()) reader.error(reader.at(value), "'env' must not be empty");
  for (auto&& [key, setting] : *table) {
    const std::string_view name = key.str();
    if (name.empty() || name.find('=') != std::string_view::npos) {
      reader.error(reader.at(key), "invalid environment variable name " + quoted(name));
      continue;
    }
    const auto* text = setting.as_string();
    if (!text) {
      reader.error(reader.at(setting), "expected a string (a value, or \"*\" for any) for env " +
                                           quoted(name) + ", got " +
                                           std::string(TomlReader::typeName(setting)));
      continue;
    }
    EnvRequirement requirement{std::string(name), std::nullopt};
    if (text->get() != "*") requirement.value = text->get();
    match.env.push_back(std::move(requirement));
  }
}

}  // namespace

std::optional<Match> readMatch(const toml::node& node, TomlReader& reader) {
  const auto* table = node.as_table();
  if (!table) {
    reader.error(reader.at(node),
                 "expected a table in 'match', got " + std::string(TomlReader::typeName(node)));
    return std::nullopt;
  }
  const std::size_t errorsBefore = reader.errorCount();
  reader.rejectUnknownKeys(*table,
                           {"path", "path_glob", "sha256", "cmdline", "env", "tags", "user", "uid",
                            "parent_path", "ancestor_path"},
                           kSection);
  Match match;
  match.where = reader.at(node);
  if (const auto* value = table->get("path")) {
    match.path = absolutePath(*value, "path", reader);
    if (match.path && match.path->find_first_of("*?[") != std::string::npos) {
      reader.warning(reader.at(*value),
                     "'path' is compared exactly; use 'path_glob' for wildcards");
    }
  }
  if (const auto* value = table->get("path_glob")) {
    if (const auto text = reader.nonEmptyString(*value, "path_glob")) {
      if (auto glob = Glob::compile(*text)) {
        match.pathGlob = std::string(*text);
      } else {
        reader.error(reader.at(*value), "invalid glob " + quoted(*text) + ": " + glob.error());
      }
    }
  }
  if (const auto* value = table->get("sha256")) {
    forEachString(*value, "sha256", "a sha256 string", reader,
                  [&](const toml::node& element, std::string_view hex) {
                    if (auto digest = parseSha256(hex)) {
                      match.sha256.push_back(*digest);
                    } else {
                      reader.error(reader.at(element),
                                   "invalid sha256 " + quoted(hex) + " (expected 64 hex digits)");
                    }
                  });
  }
  if (const auto* value = table->get("cmdline")) {
    if (const auto text = reader.nonEmptyString(*value, "cmdline")) {
      RE2::Options options;
      options.set_log_errors(false);
      const RE2 regex(re2::StringPiece(text->data(), text->size()), options);
      if (regex.ok()) {
        match.cmdline = std::string(*text);
      } else {
        reader.error(reader.at(*value), "invalid regex " + quoted(*text) + ": " + regex.error());
      }
    }
  }
  if (const auto* value = table->get("env")) readEnv(*value, reader, match);
  if (const auto* value = table->get("tags")) {
    forEachString(*value, "tags", "a tag string", reader,
                  [&](const toml::node& element, std::string_view tag) {
                    readTag(element, tag, reader, match);
                  });
  }
  if (const auto* value = table->get("user")) {
    if (const auto text = reader.nonEmptyString(*value, "user")) match.user = std::string(*text);
  }
  if (const auto* value = table->get("uid")) {
    if (const auto uid = reader.integerIn(*value, "uid", 0, kMaxUid)) {
      match.uid = static_cast<std::uint32_t>(*uid);
    }
  }
  if (const auto* value = table->get("parent_path")) {
    match.parentPath = absolutePath(*value, "parent_path", reader);
  }
  if (const auto* value = table->get("ancestor_path")) {
    match.ancestorPath = absolutePath(*value, "ancestor_path", reader);
  }
  if (reader.errorCount() != errorsBefore) return std::nullopt;
  if (match.empty()) {
    reader.error(match.where, "[[match]] needs at least one key");
    return std::nullopt;
  }
  return match;
}

}  // namespace warden::rules
