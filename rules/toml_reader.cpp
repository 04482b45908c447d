#include "rules/toml_reader.h"

#include <algorithm>
#include <tuple>
#include <utility>

namespace warden::rules {
namespace {

SourceLocation locationOf(const std::string& file, const toml::source_region& region) {
  return SourceLocation{file, static_cast<int>(region.begin.line),
                        static_cast<int>(region.begin.column)};
}

std::string expected(std::string_view what, std::string_view key, const toml::node& value) {
  return "expected " + std::string(what) + " for '" + std::string(key) + "', got " +
         std::string(TomlReader::typeName(value));
}

}  // namespace

std::optional<toml::table> TomlReader::parse(std::string_view text) {
  try {
    return toml::parse(text, std::string_view(file_));
  } catch (const toml::parse_error& e) {
    error(locationOf(file_, e.source()), std::string(e.description()));
  } catch (const std::exception& e) {
    error(atFile(), std::string("cannot parse: ") + e.what());
  }
  return std::nullopt;
}

SourceLocation TomlReader::at(const toml::node& node) const {
  return locationOf(file_, node.source());
}

SourceLocation TomlReader::at(const toml::key& key) const {
  return locationOf(file_, key.source());
}

void TomlReader::error(SourceLocation where, std::string message) {
  diagnostics_.push_back(Diagnostic{Severity::kError, std::move(where), std::move(message)});
  ++errorCount_;
}

void TomlReader::warning(SourceLocation where, std::string message) {
  diagnostics_.push_back(Diagnostic{Severity::kWarning, std::move(where), std::move(message)});
}

Diagnostics TomlReader::take() {
  // toml++ iterates keys in sorted order; users read a file top to bottom.
  std::ranges::stable_sort(diagnostics_, [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
  });
  errorCount_ = 0;
  return std::exchange(diagnostics_, {});
}

void TomlReader::rejectUnknownKeys(const toml::table& table,
                                   std::initializer_list<std::string_view> known,
                                   std::string_view section) {
  for (auto&& [key, value] : table) {
    if (std::ranges::find(known, key.str()) == known.end()) {
      std::string message = "unknown key '" + std::string(key.str()) + "'";
      if (!section.empty()) message += " in " + std::string(section);
      error(at(key), std::move(message));
    }
  }
}

std::optional<std::string_view> TomlReader::string(const toml::node& value, std::string_view key) {
  if (const auto* s = value.as_string()) return std::string_view(s->get());
  error(at(value), expected("a string", key, value));
  return std::nullopt;
}

std::optional<std::int64_t> TomlReader::integer(const toml::node& value, std::string_view key) {
  if (const auto* i = value.as_integer()) return i->get();
  error(at(value), expected("an integer", key, value));
  return std::nullopt;
}

std::optional<bool> TomlReader::boolean(const toml::node& value, std::string_view key) {
  if (const auto* b = value.as_boolean()) return b->get();
  error(at(value), expected("true or false", key, value));
  return std::nullopt;
}

const toml::table* TomlReader::table(const toml::node& value, std::string_view key) {
  if (const auto* t = value.as_table()) return t;
  error(at(value), expected("a table", key, value));
  return nullptr;
}

const toml::array* TomlReader::array(const toml::node& value, std::string_view key) {
  if (const auto* a = value.as_array()) return a;
  error(at(value), expected("an array", key, value));
  return nullptr;
}

std::optional<std::string_view> TomlReader::nonEmptyString(const toml::node& value,
                                                           std::string_view key) {
  auto text = string(value, key);
  if (text && text->empty()) {
    error(at(value), "'" + std::string(key) + "' must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<std::int64_t> TomlReader::integerIn(const toml::node& value, std::string_view key,
                                                  std::int64_t min, std::int64_t max) {
  auto number = integer(value, key);
  if (number && (*number < min || *number > max)) {
    error(at(value), "'" + std::string(key) + "' must be between " + std::to_string(min) + " and " +
                         std::to_string(max) + ", got " + std::to_string(*number));
    return std::nullopt;
  }
  return number;
}

std::string_view TomlReader::typeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::array:
      return node.is_array_of_tables() ? "array of tables" : "array";
    case toml::node_type::table:
      return "table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

}  // namespace warden::rules
