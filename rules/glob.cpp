#include "rules/glob.h"

namespace warden::rules {
namespace {

constexpr std::string_view kSpecial = "*?[\\";
constexpr std::string_view kGlobStar = "**";

// Matches one character of a [...] class that starts at pattern[p] ('['). Returns the
// position after the class, or npos if `c` is not in it. The class was checked at compile.
std::size_t matchClass(std::string_view pattern, std::size_t p, char c) {
  ++p;
  bool negated = false;
  if (pattern[p] == '!' || pattern[p] == '^') {
    negated = true;
    ++p;
  }
  bool found = false;
  bool first = true;
  while (first || pattern[p] != ']') {
    first = false;
    char low = pattern[p];
    if (low == '\\') low = pattern[++p];
    char high = low;
    if (pattern[p + 1] == '-' && pattern[p + 2] != ']') {
      p += 2;
      high = pattern[p];
      if (high == '\\') high = pattern[++p];
    }
    if (c >= low && c <= high) found = true;
    ++p;
  }
  return found != negated ? p + 1 : std::string_view::npos;
}

// One pattern character (or class, or escape) at pattern[p] against c; returns the next
// pattern position or npos.
std::size_t matchOne(std::string_view pattern, std::size_t p, char c) {
  switch (pattern[p]) {
    case '?':
      return p + 1;
    case '[':
      return matchClass(pattern, p, c);
    case '\\':
      return pattern[p + 1] == c ? p + 2 : std::string_view::npos;
    default:
      return pattern[p] == c ? p + 1 : std::string_view::npos;
  }
}

// One path component against one pattern component; '*' backtracks to its last use,
// which is enough since a later '*' can absorb whatever an earlier one would have.
bool matchComponent(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
      continue;
    }
    if (p < pattern.size()) {
      const std::size_t next = matchOne(pattern, p, text[t]);
      if (next != std::string_view::npos) {
        p = next;
        ++t;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    p = star + 1;
    t = ++mark;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// The component starting at `from` (up to the next '/' or the end) and where the next
// one starts (npos after the last).
struct Component {
  std::string_view text;
  std::size_t next;
};

Component componentAt(std::string_view s, std::size_t from) {
  const std::size_t slash = s.find('/', from);
  if (slash == std::string_view::npos) return {s.substr(from), std::string_view::npos};
  return {s.substr(from, slash - from), slash + 1};
}

// Checks the [...] class at pattern[p]; returns the position after it.
std::expected<std::size_t, std::string> skipClass(std::string_view pattern, std::size_t p) {
  ++p;
  if (p < pattern.size() && (pattern[p] == '!' || pattern[p] == '^')) ++p;
  bool first = true;
  while (p < pattern.size() && (first || pattern[p] != ']')) {
    first = false;
    if (pattern[p] == '/') return std::unexpected("'/' inside '[...]'");
    if (pattern[p] == '\\') ++p;
    ++p;
  }
  if (p >= pattern.size()) return std::unexpected("unclosed '['");
  return p + 1;
}

}  // namespace

Glob::Glob(std::string pattern)
    : pattern_(std::move(pattern)), literalLength_(pattern_.find_first_of(kSpecial)) {
  if (literalLength_ == std::string::npos) literalLength_ = pattern_.size();
}

std::expected<Glob, std::string> Glob::compile(std::string_view pattern) {
  if (!pattern.starts_with('/')) return std::unexpected("must be an absolute path");
  for (std::size_t p = 0; p < pattern.size();) {
    if (pattern[p] == '\\') {
      if (p + 1 >= pattern.size()) return std::unexpected("ends with a lone '\\'");
      if (pattern[p + 1] == '/') return std::unexpected("'\\/' cannot quote a '/'");
      p += 2;
    } else if (pattern[p] == '[') {
      const auto end = skipClass(pattern, p);
      if (!end) return std::unexpected(end.error());
      p = *end;
    } else {
      ++p;
    }
  }
  return Glob(std::string(pattern));
}

std::string_view Glob::directoryPrefix() const {
  const std::string_view literal = std::string_view(pattern_).substr(0, literalLength_);
  return literal.substr(0, literal.rfind('/') + 1);
}

bool Glob::matches(std::string_view path) const {
  if (isLiteral()) return path == pattern_;
  if (path.substr(0, literalLength_) != std::string_view(pattern_).substr(0, literalLength_)) {
    return false;
  }
  // The same backtracking one level up: a "**" component absorbs path components.
  const std::string_view pattern = pattern_;
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t globStar = std::string_view::npos;  // pattern position after the last "**"
  std::size_t mark = 0;                           // path position that "**" resumes from
  while (t != std::string_view::npos) {
    if (p != std::string_view::npos) {
      const Component part = componentAt(pattern, p);
      if (part.text == kGlobStar) {
        globStar = part.next;
        p = part.next;
        mark = t;
        if (p == std::string_view::npos) return true;  // trailing "**" takes the rest
        continue;
      }
      const Component piece = componentAt(path, t);
      if (matchComponent(part.text, piece.text)) {
        p = part.next;
        t = piece.next;
        continue;
      }
    }
    if (globStar == std::string_view::npos) return false;
    p = globStar;
    t = componentAt(path, mark).next;
    mark = t;
    if (t == std::string_view::npos) return false;
  }
  // The path is used up; what is left of the pattern may only be "**" (zero components).
  while (p != std::string_view::npos) {
    const Component part = componentAt(pattern, p);
    if (part.text != kGlobStar) return false;
    p = part.next;
  }
  return true;
}

}  // namespace warden::rules
