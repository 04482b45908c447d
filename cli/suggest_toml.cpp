#include "cli/suggest_toml.h"

#include <cstdio>

#include "cli/table.h"
#include "cli/time_text.h"

namespace warden::cli {
namespace {

// A comment line of a draft. Its text may hold a path a user named (a directory whose name
// holds a newline and TOML): a control character would end the comment and start policy, so
// each is written escaped (printable()), as `warden log` shows them.
std::string comment(std::string_view text) { return "# " + printable(text) + "\n"; }

std::string portText(const rules::PortRange& range) {
  if (range.first == range.last) return std::to_string(range.first);
  return '"' + std::to_string(range.first) + '-' + std::to_string(range.last) + '"';
}

std::string stringArray(const std::vector<std::string>& values) {
  std::string text = "[";
  for (const std::string& value : values) {
    if (text.size() > 1) text += ", ";
    text += tomlString(value);
  }
  return text + "]";
}

std::string flowsText(std::size_t flows) {
  return std::to_string(flows) + (flows == 1 ? " flow" : " flows");
}

void writeRule(std::string& out, const DraftRule& rule) {
  out += "\n[[rule]]  # " + flowsText(rule.flows) + " observed\n";
  out += "action = \"allow\"\n";
  out += "direction = " + tomlString(rules::toString(rule.direction)) + "\n";
  out += "proto = " + tomlString(rules::toString(rule.proto)) + "\n";
  if (!rule.ip.empty()) out += "ip = " + stringArray(rule.ip) + "\n";
  if (!rule.ports.empty()) {
    out += "ports = [";
    for (std::size_t i = 0; i < rule.ports.size(); ++i) {
      if (i > 0) out += ", ";
      out += portText(rule.ports[i]);
    }
    out += "]\n";
  }
  if (!rule.host.empty()) out += "host = " + tomlString(rule.host) + "\n";
  if (rule.scope) out += "scope = " + tomlString(rules::toString(*rule.scope)) + "\n";
}

}  // namespace

std::string tomlString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04X", byte);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

bool isUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xe0) == 0xc0) {
      length = 2;
      code = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3;
      code = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4;
      code = lead & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    // Overlong forms, surrogates and values past Unicode are not UTF-8.
    static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += length;
  }
  return true;
}

bool writable(const ProfileDraft& draft) {
  if (!isUtf8(draft.name) || !isUtf8(draft.path)) return false;
  for (const std::string& tag : draft.tags) {
    if (!isUtf8(tag)) return false;
  }
  for (const DraftRule& rule : draft.rules) {
    if (!isUtf8(rule.host)) return false;
  }
  return true;
}

std::string draftToml(const ProfileDraft& draft, std::string_view header) {
  std::string out(header);
  out += comment(draft.name + ": " + flowsText(draft.flows) + " observed from " +
                 isoTime(draft.firstNs) + " to " + isoTime(draft.lastNs) + ".");
  if (draft.kind == DraftKind::kAddition) {
    out += comment("Allows flows that profile " + draft.name +
                   " refused; its rules are checked before that profile's own.");
    out += "extends = " + tomlString(draft.name) + "\n";
  } else {
    out += "name = " + tomlString(draft.name) + "\n";
    out +=
        "description = " + tomlString("drafted by warden suggest from " + flowsText(draft.flows)) +
        "\n";
    out += "default = \"deny\"\n";
    out += "\n[[match]]\n";
    out += "path = " + tomlString(draft.path) + "\n";
    if (draft.sha256) {
      if (!draft.sha256Note.empty()) out += comment(draft.sha256Note);
      out += "sha256 = [" + tomlString(*draft.sha256) + "]\n";
    } else if (!draft.sha256Note.empty()) {
      out += comment("No sha256: " + draft.sha256Note);
    }
    if (!draft.tags.empty()) out += "tags = " + stringArray(draft.tags) + "\n";
  }
  for (const DraftRule& rule : draft.rules) writeRule(out, rule);
  return out;
}

nlohmann::json draftJson(const ProfileDraft& draft) {
  nlohmann::json rulesJson = nlohmann::json::array();
  for (const DraftRule& rule : draft.rules) {
    nlohmann::json r = {{"action", "allow"},
                        {"direction", rules::toString(rule.direction)},
                        {"proto", rules::toString(rule.proto)},
                        {"flows", rule.flows}};
    if (!rule.ip.empty()) r["ip"] = rule.ip;
    if (!rule.ports.empty()) {
      nlohmann::json ports = nlohmann::json::array();
      for (const auto& range : rule.ports) {
        if (range.first == range.last) {
          ports.push_back(range.first);
        } else {
          ports.push_back(std::to_string(range.first) + "-" + std::to_string(range.last));
        }
      }
      r["ports"] = std::move(ports);
    }
    if (!rule.host.empty()) r["host"] = rule.host;
    if (rule.scope) r["scope"] = rules::toString(*rule.scope);
    rulesJson.push_back(std::move(r));
  }
  nlohmann::json out = {
      {"kind", draft.kind == DraftKind::kAddition ? "addition" : "profile"},
      {"name", draft.name},
      {"file", draft.fileName()},
      {"flows", draft.flows},
      {"first", isoTime(draft.firstNs)},
      {"last", isoTime(draft.lastNs)},
      {"rules", std::move(rulesJson)},
  };
  if (draft.kind == DraftKind::kAddition) {
    out["extends"] = draft.name;
  } else {
    nlohmann::json match = {{"path", draft.path}};
    if (draft.sha256) match["sha256"] = nlohmann::json::array({*draft.sha256});
    if (!draft.tags.empty()) match["tags"] = draft.tags;
    out["default"] = "deny";
    out["match"] = std::move(match);
    if (!draft.sha256Note.empty()) out["sha256_note"] = draft.sha256Note;
  }
  return out;
}

}  // namespace warden::cli
