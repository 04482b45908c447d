#include "cli/match_text.h"

namespace warden::cli {
namespace {

void add(std::string& text, std::string_view key, std::string_view value) {
  if (!text.empty()) text += ' ';
  text += key;
  text += '=';
  text += value;
}

template <typename List, typename Show>
std::string joined(const List& items, Show show) {
  std::string text;
  for (const auto& item : items) {
    if (!text.empty()) text += ',';
    text += show(item);
  }
  return text;
}

}  // namespace

std::string describeMatch(const rules::Match& m) {
  std::string text;
  if (m.path) add(text, "path", *m.path);
  if (m.pathGlob) add(text, "path_glob", *m.pathGlob);
  if (!m.sha256.empty()) {
    add(text, "sha256", joined(m.sha256, [](const rules::Sha256& digest) {
          return rules::toHex(digest).substr(0, 12) + "…";
        }));
  }
  if (m.cmdline) add(text, "cmdline", "~" + *m.cmdline);
  if (!m.env.empty()) {
    add(text, "env", joined(m.env, [](const rules::EnvRequirement& e) {
          return e.name + "=" + e.value.value_or("*");
        }));
  }
  if (!m.tags.empty()) add(text, "tags", joined(m.tags, [](const std::string& t) { return t; }));
  if (m.user) add(text, "user", *m.user);
  if (m.uid) add(text, "uid", std::to_string(*m.uid));
  if (m.parentPath) add(text, "parent_path", *m.parentPath);
  if (m.ancestorPath) add(text, "ancestor_path", *m.ancestorPath);
  return text.empty() ? "any process" : text;
}

}  // namespace warden::cli
