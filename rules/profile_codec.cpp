#include "rules/profile_codec.h"

#include <algorithm>

#include "rules/match_codec.h"
#include "rules/rule_codec.h"
#include "rules/toml_reader.h"

namespace warden::rules {
namespace {

constexpr std::size_t kMaxProfileNameLength = 128;

bool isNameCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':' || c == '@' || c == '+';
}

// Reads the keys of one profile from `table`: the file's root table or one [[profile]].
class ProfileReader {
 public:
  ProfileReader(TomlReader& reader, std::string file) : reader_(reader), file_(std::move(file)) {}

  std::optional<Profile> read(const toml::table& table, std::string_view section) {
    const std::size_t errorsBefore = reader_.errorCount();
    reader_.rejectUnknownKeys(table, {"name", "description", "default", "match", "rule"}, section);
    Profile profile;
    profile.file = file_;
    profile.where = reader_.at(table);
    if (const auto* value = table.get("name")) {
      if (section.empty()) profile.where = reader_.at(*value);
      if (const auto name = reader_.string(*value, "name")) {
        if (isValidProfileName(*name)) {
          profile.name = std::string(*name);
        } else {
          reader_.error(reader_.at(*value), "invalid profile name '" + std::string(*name) +
                                                "' (a letter or digit, then letters, digits "
                                                "and . _ - : @ +)");
        }
      }
    } else {
      reader_.error(profile.where, section.empty() ? std::string("profile needs 'name'")
                                                   : std::string(section) + " needs 'name'");
    }
    if (const auto* value = table.get("description")) {
      if (const auto text = reader_.string(*value, "description")) {
        profile.description = std::string(*text);
      }
    }
    if (const auto* value = table.get("default")) {
      profile.defaultAction =
          reader_.enumeration(*value, "default", parseAction, "allow, deny or reject");
    }
    if (const auto* value = table.get("match")) readMatches(*value, profile);
    if (const auto* value = table.get("rule")) profile.rules = readRules(*value, reader_);
    if (reader_.errorCount() != errorsBefore) return std::nullopt;
    if (profile.matches.empty()) {
      reader_.warning(profile.where,
                      "profile '" + profile.name + "' has no [[match]] and applies to no process");
    }
    return profile;
  }

 private:
  void readMatches(const toml::node& value, Profile& profile) {
    const auto* list = value.as_array();
    if (!list) {
      reader_.error(reader_.at(value), "expected an array of tables ([[match]]) for 'match', got " +
                                           std::string(TomlReader::typeName(value)));
      return;
    }
    for (const auto& element : *list) {
      if (auto match = readMatch(element, reader_)) profile.matches.push_back(std::move(*match));
    }
  }

  TomlReader& reader_;
  std::string file_;
};

// A drop-in: `extends` and [[rule]] tables, nothing that would make it a profile.
std::optional<DropIn> readDropIn(const toml::table& root, TomlReader& reader) {
  const std::size_t errorsBefore = reader.errorCount();
  for (auto&& [key, value] : root) {
    if (key.str() == "extends" || key.str() == "rule") continue;
    const bool profileKey = key.str() == "name" || key.str() == "description" ||
                            key.str() == "default" || key.str() == "match" ||
                            key.str() == "profile";
    reader.error(reader.at(key), profileKey ? "'" + std::string(key.str()) +
                                                  "' is not allowed in a drop-in (a file with "
                                                  "'extends' holds only [[rule]] tables)"
                                            : "unknown key '" + std::string(key.str()) +
                                                  "' in a drop-in (a file with 'extends' holds "
                                                  "only [[rule]] tables)");
  }
  DropIn dropIn;
  dropIn.file = reader.file();
  const toml::node& extends = *root.get("extends");
  dropIn.where = reader.at(extends);
  if (const auto name = reader.string(extends, "extends")) {
    if (isValidProfileName(*name)) {
      dropIn.extends = std::string(*name);
    } else {
      reader.error(dropIn.where, "invalid profile name '" + std::string(*name) + "' in 'extends'");
    }
  }
  if (const auto* value = root.get("rule")) dropIn.rules = readRules(*value, reader);
  if (reader.errorCount() != errorsBefore) return std::nullopt;
  if (dropIn.rules.empty()) reader.warning(dropIn.where, "drop-in without [[rule]]");
  return dropIn;
}

std::vector<Profile> readFile(const toml::table& root, TomlReader& reader) {
  std::vector<Profile> profiles;
  ProfileReader profileReader(reader, reader.file());
  const auto* many = root.get("profile");
  if (!many) {
    if (root.empty()) {
      reader.warning(reader.atFile(), "no profile in this file");
    } else if (auto profile = profileReader.read(root, "")) {
      profiles.push_back(std::move(*profile));
    }
    return profiles;
  }
  for (auto&& [key, value] : root) {
    if (key.str() != "profile") {
      reader.error(reader.at(key), "unknown key '" + std::string(key.str()) +
                                       "': a file holds either one profile (top-level keys) or "
                                       "[[profile]] tables, not both");
    }
  }
  const auto* list = many->as_array();
  if (!list || !list->is_array_of_tables()) {
    reader.error(reader.at(*many), "expected an array of tables ([[profile]]) for 'profile', got " +
                                       std::string(TomlReader::typeName(*many)));
    return profiles;
  }
  for (const auto& element : *list) {
    if (auto profile = profileReader.read(*element.as_table(), "[[profile]]")) {
      profiles.push_back(std::move(*profile));
    }
  }
  return profiles;
}

}  // namespace

bool isValidProfileName(std::string_view name) {
  if (name.empty() || name.size() > kMaxProfileNameLength) return false;
  const char first = name.front();
  const bool alphanumeric = (first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') ||
                            (first >= '0' && first <= '9');
  return alphanumeric && std::ranges::all_of(name, isNameCharacter);
}

bool isManagedText(std::string_view text) { return text.starts_with(kManagedMarker); }

std::expected<ProfileFile, Diagnostics> parseProfileFile(std::string_view text,
                                                         const std::filesystem::path& file,
                                                         Diagnostics* warnings) {
  try {
    TomlReader reader(file.string());
    ProfileFile parsed;
    parsed.managed = isManagedText(text);
    if (auto root = reader.parse(text)) {
      if (root->contains("extends")) {
        parsed.dropIn = readDropIn(*root, reader);
      } else {
        parsed.profiles = readFile(*root, reader);
      }
    }
    const bool failed = reader.errorCount() > 0;
    Diagnostics diagnostics = reader.take();
    if (failed) return std::unexpected(std::move(diagnostics));
    if (warnings) warnings->insert(warnings->end(), diagnostics.begin(), diagnostics.end());
    return parsed;
  } catch (const std::exception& e) {
    return std::unexpected(
        Diagnostics{Diagnostic{Severity::kError, SourceLocation{file.string(), 0, 0}, e.what()}});
  }
}

std::expected<std::vector<Profile>, Diagnostics> parseProfiles(std::string_view text,
                                                               const std::filesystem::path& file,
                                                               Diagnostics* warnings) {
  auto parsed = parseProfileFile(text, file, warnings);
  if (!parsed) return std::unexpected(std::move(parsed.error()));
  if (parsed->dropIn) {
    return std::unexpected(Diagnostics{Diagnostic{Severity::kError, parsed->dropIn->where,
                                                  "a drop-in (extends) is not a profile"}});
  }
  return std::move(parsed->profiles);
}

}  // namespace warden::rules
