#include "rules/glob.h"

#include <fnmatch.h>
#include <gtest/gtest.h>

#include <random>

namespace warden::rules {
namespace {

bool globMatches(std::string_view pattern, std::string_view path) {
  const auto glob = Glob::compile(pattern);
  EXPECT_TRUE(glob.has_value()) << pattern << ": " << glob.error();
  return glob && glob->matches(path);
}

std::string errorOf(std::string_view pattern) {
  const auto glob = Glob::compile(pattern);
  return glob ? std::string("(ok)") : glob.error();
}

TEST(Glob, Literal) {
  EXPECT_TRUE(globMatches("/usr/bin/curl", "/usr/bin/curl"));
  EXPECT_FALSE(globMatches("/usr/bin/curl", "/usr/bin/curl2"));
  EXPECT_TRUE(Glob::compile("/usr/bin/curl")->isLiteral());
}

TEST(Glob, StarStaysInOneComponent) {
  EXPECT_TRUE(globMatches("/opt/firefox/*", "/opt/firefox/firefox"));
  EXPECT_TRUE(globMatches("/opt/firefox/*", "/opt/firefox/"));
  EXPECT_FALSE(globMatches("/opt/firefox/*", "/opt/firefox/bin/firefox"));
  EXPECT_TRUE(globMatches("/usr/lib/firefox*/firefox*", "/usr/lib/firefox-esr/firefox-esr"));
  EXPECT_FALSE(globMatches("/usr/lib/firefox*/firefox*", "/usr/lib/firefox/x/firefox"));
  EXPECT_TRUE(globMatches("/usr/bin/*sh", "/usr/bin/bash"));
  EXPECT_TRUE(globMatches("/usr/bin/*sh", "/usr/bin/sh"));
  EXPECT_FALSE(globMatches("/usr/bin/*sh", "/usr/bin/shell"));
  EXPECT_TRUE(globMatches("/a/*b*c*d", "/a/xbxxcxxxd"));
  EXPECT_FALSE(globMatches("/a/*b*c*d", "/a/xbxxdxxxc"));
  EXPECT_FALSE(globMatches("/*", "/a/b"));
}

TEST(Glob, QuestionMarkAndClasses) {
  EXPECT_TRUE(globMatches("/usr/bin/python3.?", "/usr/bin/python3.9"));
  EXPECT_FALSE(globMatches("/usr/bin/python3.?", "/usr/bin/python3.11"));
  EXPECT_FALSE(globMatches("/a?b", "/a/b"));
  EXPECT_TRUE(globMatches("/usr/bin/python3.[0-9]*", "/usr/bin/python3.11"));
  EXPECT_FALSE(globMatches("/usr/bin/python3.[0-9]*", "/usr/bin/python3.x"));
  EXPECT_TRUE(globMatches("/bin/[!a-c]sh", "/bin/zsh"));
  EXPECT_FALSE(globMatches("/bin/[!a-c]sh", "/bin/bsh"));
  EXPECT_TRUE(globMatches("/bin/[^a-c]sh", "/bin/dsh"));
  EXPECT_TRUE(globMatches("/x/[]]", "/x/]"));
  EXPECT_TRUE(globMatches("/x/[a-]", "/x/-"));
  EXPECT_TRUE(globMatches("/x/[\\]]", "/x/]"));
}

TEST(Glob, Escapes) {
  EXPECT_TRUE(globMatches("/x/a\\*b", "/x/a*b"));
  EXPECT_FALSE(globMatches("/x/a\\*b", "/x/aXb"));
  EXPECT_TRUE(globMatches("/x/\\?", "/x/?"));
}

TEST(Glob, DoubleStarCrossesComponents) {
  EXPECT_TRUE(globMatches("/opt/**/bin/app", "/opt/bin/app"));
  EXPECT_TRUE(globMatches("/opt/**/bin/app", "/opt/x/bin/app"));
  EXPECT_TRUE(globMatches("/opt/**/bin/app", "/opt/x/y/z/bin/app"));
  EXPECT_FALSE(globMatches("/opt/**/bin/app", "/opt/x/y/z/bin/app2"));
  EXPECT_FALSE(globMatches("/opt/**/bin/app", "/usr/x/bin/app"));
  EXPECT_TRUE(globMatches("/opt/**", "/opt/a/b/c"));
  EXPECT_FALSE(globMatches("/opt/**", "/opt"));  // inside /opt only, like .gitignore
  EXPECT_TRUE(globMatches("/**/python3*", "/usr/local/bin/python3.11"));
  EXPECT_TRUE(globMatches("/home/*/.local/**/bin/*", "/home/al/.local/share/x/bin/tool"));
  EXPECT_FALSE(globMatches("/home/*/.local/**/bin/*", "/home/al/x/.local/bin/tool"));
  EXPECT_TRUE(globMatches("/a/**/b/**/c", "/a/1/b/2/3/c"));
  EXPECT_TRUE(globMatches("/a/**/b/**/c", "/a/b/b/c"));
}

TEST(Glob, Prefixes) {
  const auto glob = Glob::compile("/usr/lib/firefox*/firefox");
  ASSERT_TRUE(glob);
  EXPECT_EQ(glob->directoryPrefix(), "/usr/lib/");
  EXPECT_EQ(glob->literalPrefix(), "/usr/lib/firefox");
  EXPECT_EQ(Glob::compile("/**")->directoryPrefix(), "/");
  EXPECT_EQ(Glob::compile("/a/b\\*")->directoryPrefix(), "/a/");
}

TEST(Glob, Errors) {
  EXPECT_EQ(errorOf("usr/bin/*"), "must be an absolute path");
  EXPECT_EQ(errorOf(""), "must be an absolute path");
  EXPECT_EQ(errorOf("/usr/bin/[a-z"), "unclosed '['");
  EXPECT_EQ(errorOf("/usr/bin/[]"), "unclosed '['");
  EXPECT_EQ(errorOf("/usr/[a/b]"), "'/' inside '[...]'");
  EXPECT_EQ(errorOf("/usr/bin\\"), "ends with a lone '\\'");
  EXPECT_EQ(errorOf("/usr\\/bin"), "'\\/' cannot quote a '/'");
  EXPECT_EQ(errorOf("/usr/bin/[\\"), "unclosed '['");
}

// Without "**", a glob is what fnmatch(3) with FNM_PATHNAME does; compare on random input.
TEST(Glob, AgreesWithFnmatchOnRandomInput) {
  std::mt19937 random(7);
  const auto pick = [&](std::string_view from) { return from[random() % from.size()]; };
  const std::string_view patternPieces[] = {"a", "b", "/", "*", "?", "[ab]", "[!a]", "\\*", "-"};
  for (int round = 0; round < 20000; ++round) {
    std::string pattern = "/";
    for (int i = 0, n = 1 + static_cast<int>(random() % 6); i < n; ++i) {
      pattern += patternPieces[random() % std::size(patternPieces)];
    }
    if (("/" + pattern + "/").find("/**/") != std::string::npos) continue;  // ours, not fnmatch's
    std::string path = "/";
    for (int i = 0, n = static_cast<int>(random() % 7); i < n; ++i) path += pick("ab/*-");
    const auto glob = Glob::compile(pattern);
    ASSERT_TRUE(glob) << pattern;
    const bool expected = ::fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0;
    ASSERT_EQ(glob->matches(path), expected) << pattern << " on " << path;
  }
}

}  // namespace
}  // namespace warden::rules
