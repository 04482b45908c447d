#include "rules/rule_file_text.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "rules/rule_text.h"
#include "rules/toml_reader.h"

namespace warden::rules {
namespace {

// The start offset of each line of `text` (line n at starts[n - 1]).
std::vector<std::size_t> lineStarts(std::string_view text) {
  std::vector<std::size_t> starts = {0};
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && i + 1 < text.size()) starts.push_back(i + 1);
  }
  return starts;
}

// The lines on which tables ([x] and [[x]], nested ones too) start, ascending.
std::expected<std::vector<int>, Diagnostics> tableLines(std::string_view text,
                                                        const std::filesystem::path& file) {
  TomlReader reader(file.string());
  auto root = reader.parse(text);
  if (!root) return std::unexpected(reader.take());
  std::set<int> lines;
  const auto visit = [&](const auto& self, const toml::table& table) -> void {
    for (auto&& [key, value] : table) {
      if (const auto* child = value.as_table(); child && !child->is_inline()) {
        lines.insert(static_cast<int>(child->source().begin.line));
        self(self, *child);
      } else if (const auto* list = value.as_array(); list && list->is_array_of_tables()) {
        for (const auto& element : *list) {
          const auto* child = element.as_table();
          if (child->is_inline()) continue;
          lines.insert(static_cast<int>(child->source().begin.line));
          self(self, *child);
        }
      }
    }
  };
  visit(visit, *root);
  return std::vector<int>(lines.begin(), lines.end());
}

std::string_view lineAt(std::string_view text, const std::vector<std::size_t>& starts, int line) {
  const std::size_t begin = starts[line - 1];
  const std::size_t end =
      static_cast<std::size_t>(line) < starts.size() ? starts[line] : text.size();
  return text.substr(begin, end - begin);
}

bool isBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

bool isComment(std::string_view line) {
  const auto first = line.find_first_not_of(" \t");
  return first != std::string_view::npos && line[first] == '#';
}

}  // namespace

std::string tomlString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
      out += escape;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string ruleText(const Rule& rule) {
  std::string text = "[[rule]]\naction = " + tomlString(toString(rule.action)) + "\n";
  if (rule.direction != Direction::kOut) {
    text += "direction = " + tomlString(toString(rule.direction)) + "\n";
  }
  if (rule.proto != Proto::kAny) text += "proto = " + tomlString(toString(rule.proto)) + "\n";
  if (!rule.ip.empty()) {
    text += "ip = [";
    for (std::size_t i = 0; i < rule.ip.size(); ++i) {
      text += (i ? ", " : "") + tomlString(cidrText(rule.ip[i]));
    }
    text += "]\n";
  }
  if (!rule.ports.empty()) {
    text += "ports = [";
    for (std::size_t i = 0; i < rule.ports.size(); ++i) {
      const PortRange& range = rule.ports[i];
      text += i ? ", " : "";
      text += range.first == range.last
                  ? std::to_string(range.first)
                  : tomlString(std::to_string(range.first) + "-" + std::to_string(range.last));
    }
    text += "]\n";
  }
  if (!rule.host.empty()) text += "host = " + tomlString(rule.host) + "\n";
  if (rule.scope) text += "scope = " + tomlString(toString(*rule.scope)) + "\n";
  if (!rule.log) text += "log = false\n";
  if (!rule.comment.empty()) text += "comment = " + tomlString(rule.comment) + "\n";
  if (rule.expires) text += "expires = " + formatUtc(*rule.expires) + "\n";
  return text + "\n";
}

std::expected<std::string, Diagnostics> insertBeforeFirstTable(std::string_view text,
                                                               const std::filesystem::path& file,
                                                               std::string_view block) {
  auto tables = tableLines(text, file);
  if (!tables) return std::unexpected(std::move(tables.error()));
  std::string out(text);
  if (tables->empty()) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    if (!out.empty() && !out.ends_with("\n\n")) out += '\n';
    return out + std::string(block);
  }
  const auto starts = lineStarts(text);
  // Above the comments that belong to the first table.
  int line = tables->front();
  while (line > 1 && isComment(lineAt(text, starts, line - 1))) --line;
  out.insert(starts[line - 1], block);
  return out;
}

std::expected<std::string, Diagnostics> removeRuleTables(std::string_view text,
                                                         const std::filesystem::path& file,
                                                         const std::vector<int>& headerLines) {
  auto tables = tableLines(text, file);
  if (!tables) return std::unexpected(std::move(tables.error()));
  const auto starts = lineStarts(text);
  const int lineCount = static_cast<int>(starts.size());
  std::vector<bool> drop(starts.size() + 1, false);
  for (const int header : headerLines) {
    const auto it = std::ranges::find(*tables, header);
    if (it == tables->end()) {
      return std::unexpected(
          Diagnostics{Diagnostic{Severity::kError, SourceLocation{file.string(), header, 1},
                                 "no table starts on this line"}});
    }
    const int end = std::next(it) == tables->end() ? lineCount + 1 : *std::next(it);
    // Up to its last key; comments after that (a note at the end of the file, the comments
    // of the next table) stay, the blank lines right after it go.
    int last = end - 1;
    while (last > header &&
           (isBlank(lineAt(text, starts, last)) || isComment(lineAt(text, starts, last)))) {
      --last;
    }
    int stop = last + 1;
    while (stop < end && isBlank(lineAt(text, starts, stop))) ++stop;
    int begin = header;  // with the comments right above it, which belong to it
    while (begin > 1 && isComment(lineAt(text, starts, begin - 1))) --begin;
    for (int line = begin; line < stop; ++line) drop[line] = true;
  }
  std::string out;
  out.reserve(text.size());
  for (int line = 1; line <= lineCount; ++line) {
    if (!drop[line]) out += lineAt(text, starts, line);
  }
  return out;
}

bool sameSelectors(const Rule& a, const Rule& b) {
  const auto sameRanges = [](const std::vector<PortRange>& x, const std::vector<PortRange>& y) {
    return std::ranges::equal(x, y, [](const PortRange& p, const PortRange& q) {
      return p.first == q.first && p.last == q.last;
    });
  };
  const auto sameCidrs = [](const std::vector<Cidr>& x, const std::vector<Cidr>& y) {
    return std::ranges::equal(x, y, [](const Cidr& p, const Cidr& q) {
      return p.base == q.base && p.prefix == q.prefix;
    });
  };
  return a.direction == b.direction && a.proto == b.proto && sameCidrs(a.ip, b.ip) &&
         sameRanges(a.ports, b.ports) && a.host == b.host && a.scope == b.scope;
}

}  // namespace warden::rules
