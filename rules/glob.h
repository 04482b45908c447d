#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace warden::rules {

// A shell glob over an absolute path (the `path_glob` key). Within one path component
// `*` matches any run of characters, `?` one character, `[a-z]`/`[!a-z]` a class and `\`
// quotes the next character; none of them matches '/'. A whole component `**` matches
// any number of components. Immutable after compile; matching allocates nothing and is
// safe from any number of threads.
class Glob {
 public:
  // Checks the syntax; the error says what is wrong ("unclosed '['").
  static std::expected<Glob, std::string> compile(std::string_view pattern);

  bool matches(std::string_view path) const;

  const std::string& pattern() const { return pattern_; }
  // The text up to the last '/' before the first wildcard: every matching path starts
  // with it. "/opt/firefox/*" gives "/opt/firefox/".
  std::string_view directoryPrefix() const;
  // The text before the first special character: every matching path starts with it.
  std::string_view literalPrefix() const {
    return std::string_view(pattern_).substr(0, literalLength_);
  }
  // True if the pattern has no wildcard at all.
  bool isLiteral() const { return literalLength_ == pattern_.size(); }

 private:
  explicit Glob(std::string pattern);

  std::string pattern_;
  std::size_t literalLength_ = 0;  // characters before the first special one
};

}  // namespace warden::rules
