#include "db/scrub.h"

#include <array>

namespace warden::db {
namespace {

constexpr std::array<std::string_view, 4> kSecretWords = {"pass", "secret", "token", "key"};

// ASCII only, on purpose: option and variable names are ASCII, and std::tolower would consult
// the locale for every byte.
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool startsWithIgnoringCase(std::string_view text, std::string_view lowerPrefix) {
  if (lowerPrefix.size() > text.size()) return false;
  for (std::size_t i = 0; i < lowerPrefix.size(); ++i) {
    if (lower(text[i]) != lowerPrefix[i]) return false;
  }
  return true;
}

// `https://user:secret@host/...` -> `https://user:***@host/...`. Only the authority part (up
// to the first '/', '?' or '#' after "://") is looked at, so an '@' in a path is left alone.
void scrubUserInfo(std::string& arg) {
  const std::size_t scheme = arg.find("://");
  if (scheme == std::string::npos) return;
  const std::size_t start = scheme + 3;
  const std::size_t end = std::min(arg.find_first_of("/?#", start), arg.size());
  const std::size_t at = arg.rfind('@', end == 0 ? 0 : end - 1);
  if (at == std::string::npos || at < start) return;
  const std::size_t colon = arg.find(':', start);
  if (colon == std::string::npos || colon > at) return;
  arg.replace(colon + 1, at - colon - 1, kScrubbed);
}

// `...?a=1&token=X&b=2` -> `...?a=1&token=***&b=2`.
void scrubQuery(std::string& arg) {
  std::size_t pos = arg.find('?');
  while (pos != std::string::npos && pos < arg.size()) {
    const std::size_t nameStart = pos + 1;
    const std::size_t end = std::min(arg.find_first_of("&#", nameStart), arg.size());
    const std::size_t eq = arg.find('=', nameStart);
    if (eq != std::string::npos && eq < end &&
        isSecretName(std::string_view(arg).substr(nameStart, eq - nameStart))) {
      arg.replace(eq + 1, end - eq - 1, kScrubbed);
    }
    pos = arg.find_first_of("&#", nameStart);
    if (pos != std::string::npos && arg[pos] == '#') break;  // the fragment is not a query
  }
}

bool isOption(std::string_view arg) { return arg.size() > 1 && arg[0] == '-' && arg != "--"; }

}  // namespace

bool isSecretName(std::string_view name) {
  // One pass: only a position holding a word's first letter is compared further.
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = lower(name[i]);
    if (c != 'p' && c != 's' && c != 't' && c != 'k') continue;
    const std::string_view rest = name.substr(i);
    for (std::string_view word : kSecretWords) {
      if (word[0] == c && startsWithIgnoringCase(rest, word)) return true;
    }
  }
  return false;
}

std::vector<std::string> scrubArgv(std::span<const std::string_view> argv) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  bool valueFollows = false;  // the previous argument was a secret option without '='
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string_view arg = argv[i];
    if (i == 0) {
      out.emplace_back(arg);
      continue;
    }
    if (valueFollows) {
      valueFollows = false;
      out.emplace_back(kScrubbed);
      continue;
    }
    std::string& kept = out.emplace_back(arg);
    const std::size_t eq = arg.find('=');
    if (isOption(arg)) {
      const std::string_view name = arg.substr(0, eq).substr(arg.starts_with("--") ? 2 : 1);
      if (name.size() >= 2 && isSecretName(name)) {
        if (eq == std::string_view::npos) {
          valueFollows = true;
        } else {
          kept.replace(eq + 1, std::string::npos, kScrubbed);
        }
        continue;
      }
    } else if (eq != std::string_view::npos && eq > 0 && isSecretName(arg.substr(0, eq))) {
      kept.replace(eq + 1, std::string::npos, kScrubbed);
      continue;
    }
    scrubUserInfo(kept);
    scrubQuery(kept);
  }
  return out;
}

std::vector<std::string_view> splitCmdline(std::string_view cmdline) {
  std::vector<std::string_view> out;
  if (cmdline.ends_with('\0')) cmdline.remove_suffix(1);
  if (cmdline.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t nul = cmdline.find('\0', start);
    out.push_back(cmdline.substr(start, nul == std::string_view::npos ? nul : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  return out;
}

}  // namespace warden::db
