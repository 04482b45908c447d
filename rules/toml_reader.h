#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "rules/diagnostic.h"

namespace warden::rules {

// Reads values out of a parsed TOML document while collecting diagnostics, so that a file
// reports every bad value at once. Every getter reports a type error at the value and
// returns nothing; the caller keeps going. Internal to the rules/ codecs.
class TomlReader {
 public:
  explicit TomlReader(std::string file) : file_(std::move(file)) {}

  // Parses `text`; a syntax error becomes a diagnostic at toml++'s location.
  std::optional<toml::table> parse(std::string_view text);

  const std::string& file() const { return file_; }
  SourceLocation at(const toml::node& node) const;
  SourceLocation at(const toml::key& key) const;
  SourceLocation atFile() const { return SourceLocation{file_, 0, 0}; }

  void error(SourceLocation where, std::string message);
  void warning(SourceLocation where, std::string message);
  std::size_t errorCount() const { return errorCount_; }
  // Diagnostics in file order.
  Diagnostics take();

  // "unknown key 'k' in <section>" for every key of `table` not in `known`.
  void rejectUnknownKeys(const toml::table& table, std::initializer_list<std::string_view> known,
                         std::string_view section);

  // Typed access to `value`, which was found under `key`; a wrong type is reported as
  // "expected a string for 'key', got integer".
  std::optional<std::string_view> string(const toml::node& value, std::string_view key);
  std::optional<std::int64_t> integer(const toml::node& value, std::string_view key);
  std::optional<bool> boolean(const toml::node& value, std::string_view key);
  const toml::table* table(const toml::node& value, std::string_view key);
  const toml::array* array(const toml::node& value, std::string_view key);
  // A non-empty string.
  std::optional<std::string_view> nonEmptyString(const toml::node& value, std::string_view key);
  // An integer in [min, max]; otherwise "'key' must be between min and max".
  std::optional<std::int64_t> integerIn(const toml::node& value, std::string_view key,
                                        std::int64_t min, std::int64_t max);

  // A string naming one of an enumeration; otherwise "invalid value 'x' for 'key' (expected
  // <choices>)".
  template <typename Parse>
  auto enumeration(const toml::node& value, std::string_view key, Parse parse,
                   std::string_view choices) -> decltype(parse(std::string_view{})) {
    const auto text = string(value, key);
    if (!text) return std::nullopt;
    auto parsed = parse(*text);
    if (!parsed) {
      error(at(value), "invalid value '" + std::string(*text) + "' for '" + std::string(key) +
                           "' (expected " + std::string(choices) + ")");
    }
    return parsed;
  }

  static std::string_view typeName(const toml::node& node);

 private:
  std::string file_;
  Diagnostics diagnostics_;
  std::size_t errorCount_ = 0;
};

}  // namespace warden::rules
