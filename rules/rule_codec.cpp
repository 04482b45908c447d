#include "rules/rule_codec.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace warden::rules {
namespace {

constexpr std::string_view kSection = "[[rule]]";
constexpr std::size_t kMaxHostLength = 253;
constexpr std::size_t kMaxLabelLength = 63;

std::optional<std::uint16_t> parsePort(std::string_view text) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (value < 1 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

bool validLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelLength) return false;
  return std::ranges::all_of(label, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// The ip key: one address/CIDR string or an array of them.
void readIp(const toml::node& value, TomlReader& reader, Rule& rule) {
  const auto readOne = [&](const toml::node& element) {
    const auto text = element.as_string();
    if (!text) {
      reader.error(reader.at(element), "expected an address or CIDR string in 'ip', got " +
                                           std::string(TomlReader::typeName(element)));
      return;
    }
    const std::string_view s = text->get();
    if (auto cidr = Cidr::parse(s)) {
      rule.ip.push_back(*cidr);
    } else {
      const bool isBlock = s.find('/') != std::string_view::npos;
      reader.error(
          reader.at(element),
          std::string(isBlock ? "invalid CIDR '" : "invalid address '") + std::string(s) + "'");
    }
  };
  if (const auto* list = value.as_array()) {
    if (list->empty()) reader.error(reader.at(value), "'ip' must not be empty");
    for (const auto& element : *list) readOne(element);
  } else if (value.is_string()) {
    readOne(value);
  } else {
    reader.error(reader.at(value),
                 "expected an address, a CIDR or an array of them for 'ip', got " +
                     std::string(TomlReader::typeName(value)));
  }
}

// The ports key: a port number, an "N-M" string, or an array of those.
void readPorts(const toml::node& value, TomlReader& reader, Rule& rule) {
  const auto readOne = [&](const toml::node& element) {
    if (const auto* number = element.as_integer()) {
      const std::int64_t n = number->get();
      if (n < 1 || n > 65535) {
        reader.error(reader.at(element),
                     "invalid port " + std::to_string(n) + " (expected 1 to 65535)");
      } else {
        const auto port = static_cast<std::uint16_t>(n);
        rule.ports.push_back(PortRange{port, port});
      }
    } else if (const auto* text = element.as_string()) {
      if (auto range = parsePortRange(text->get())) {
        rule.ports.push_back(*range);
      } else {
        reader.error(reader.at(element), "invalid port range '" + text->get() + "'");
      }
    } else {
      reader.error(reader.at(element),
                   "expected a port number or an \"N-M\" range in 'ports', got " +
                       std::string(TomlReader::typeName(element)));
    }
  };
  if (const auto* list = value.as_array()) {
    if (list->empty()) reader.error(reader.at(value), "'ports' must not be empty");
    for (const auto& element : *list) readOne(element);
  } else {
    readOne(value);
  }
}

// The expires key: an offset date-time (2026-12-03T22:10:00Z); a local one would change
// meaning with the machine's time zone.
void readExpires(const toml::node& value, TomlReader& reader, Rule& rule) {
  const auto* stamp = value.as_date_time();
  if (!stamp || !stamp->get().offset) {
    reader.error(reader.at(value),
                 "expected a date-time with a time zone for 'expires' (such as "
                 "2026-12-03T22:10:00Z), got " +
                     std::string(stamp ? "a date-time without one" : TomlReader::typeName(value)));
    return;
  }
  const toml::date_time& when = stamp->get();
  const std::chrono::year_month_day day{std::chrono::year(when.date.year),
                                        std::chrono::month(when.date.month),
                                        std::chrono::day(when.date.day)};
  if (!day.ok()) {
    reader.error(reader.at(value), "invalid date in 'expires'");
    return;
  }
  rule.expires = std::chrono::sys_days(day) + std::chrono::hours(when.time.hour) +
                 std::chrono::minutes(when.time.minute) + std::chrono::seconds(when.time.second) -
                 std::chrono::minutes(when.offset->minutes);
}

}  // namespace

std::optional<PortRange> parsePortRange(std::string_view text) {
  const auto dash = text.find('-');
  const auto first = parsePort(text.substr(0, dash));
  if (!first) return std::nullopt;
  if (dash == std::string_view::npos) return PortRange{*first, *first};
  const auto last = parsePort(text.substr(dash + 1));
  if (!last || *last < *first) return std::nullopt;
  return PortRange{*first, *last};
}

std::optional<std::string> normalizeHostPattern(std::string_view text) {
  std::string host(text);
  std::ranges::transform(host, host.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  if (!host.empty() && host.back() == '.') host.pop_back();
  std::string_view rest = host;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty() || rest.size() > kMaxHostLength) return std::nullopt;
  while (true) {
    const auto dot = rest.find('.');
    if (!validLabel(rest.substr(0, dot))) return std::nullopt;
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return host;
}

std::optional<Rule> readRule(const toml::node& node, TomlReader& reader) {
  const auto* table = node.as_table();
  if (!table) {
    reader.error(reader.at(node),
                 "expected a table in 'rule', got " + std::string(TomlReader::typeName(node)));
    return std::nullopt;
  }
  const std::size_t errorsBefore = reader.errorCount();
  reader.rejectUnknownKeys(
      *table,
      {"action", "direction", "proto", "ip", "ports", "host", "scope", "log", "comment", "expires"},
      kSection);
  Rule rule;
  rule.where = reader.at(node);
  if (const auto* value = table->get("action")) {
    if (auto action = reader.enumeration(*value, "action", parseAction, "allow, deny or reject")) {
      rule.action = *action;
    }
  } else {
    reader.error(rule.where, "[[rule]] needs 'action'");
  }
  if (const auto* value = table->get("direction")) {
    if (auto direction = reader.enumeration(*value, "direction", parseDirection, "out or in")) {
      rule.direction = *direction;
    }
  }
  if (const auto* value = table->get("proto")) {
    if (auto proto = reader.enumeration(*value, "proto", parseProto, "tcp, udp, icmp or any")) {
      rule.proto = *proto;
    }
  }
  if (const auto* value = table->get("ip")) readIp(*value, reader, rule);
  if (const auto* value = table->get("ports")) {
    readPorts(*value, reader, rule);
    if (rule.proto == Proto::kIcmp) {
      reader.error(reader.at(*value), "'ports' cannot be used with proto = \"icmp\"");
    }
  }
  if (const auto* value = table->get("host")) {
    if (const auto text = reader.string(*value, "host")) {
      if (auto host = normalizeHostPattern(*text)) {
        rule.host = std::move(*host);
      } else {
        reader.error(reader.at(*value), "invalid host '" + std::string(*text) +
                                            "' (expected a name such as example.org or "
                                            "*.example.org)");
      }
    }
  }
  if (const auto* value = table->get("scope")) {
    rule.scope = reader.enumeration(*value, "scope", parseScope, "localhost, lan or internet");
  }
  if (const auto* value = table->get("log")) {
    if (auto log = reader.boolean(*value, "log")) rule.log = *log;
  }
  if (const auto* value = table->get("comment")) {
    if (auto comment = reader.string(*value, "comment")) rule.comment = std::string(*comment);
  }
  if (const auto* value = table->get("expires")) readExpires(*value, reader, rule);
  if (reader.errorCount() != errorsBefore) return std::nullopt;
  return rule;
}

std::vector<Rule> readRules(const toml::node& node, TomlReader& reader) {
  std::vector<Rule> rules;
  const auto* list = node.as_array();
  if (!list) {
    reader.error(reader.at(node), "expected an array of tables ([[rule]]) for 'rule', got " +
                                      std::string(TomlReader::typeName(node)));
    return rules;
  }
  for (const auto& element : *list) {
    if (auto rule = readRule(element, reader)) rules.push_back(std::move(*rule));
  }
  return rules;
}

}  // namespace warden::rules
