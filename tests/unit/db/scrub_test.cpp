#include "db/scrub.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warden::db {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> scrub(std::vector<std::string_view> argv) { return scrubArgv(argv); }

TEST(Scrub, SeparateValueOfSecretOption) {
  EXPECT_THAT(scrub({"mysql", "--password", "hunter2", "-h", "db"}),
              ElementsAre("mysql", "--password", "***", "-h", "db"));
  EXPECT_THAT(scrub({"tool", "--token", "abc", "--verbose"}),
              ElementsAre("tool", "--token", "***", "--verbose"));
  // One dash, long name (openssl, keytool style).
  EXPECT_THAT(scrub({"keytool", "-storepass", "changeit", "-list"}),
              ElementsAre("keytool", "-storepass", "***", "-list"));
  // The value is taken whatever it looks like: a password may start with a dash.
  EXPECT_THAT(scrub({"tool", "--password", "-x9"}), ElementsAre("tool", "--password", "***"));
}

TEST(Scrub, AttachedValueOfSecretOption) {
  EXPECT_THAT(scrub({"curl", "--api-key=s3cr3t", "https://example.org/"}),
              ElementsAre("curl", "--api-key=***", "https://example.org/"));
  EXPECT_THAT(scrub({"x", "--PASSWORD=Hunter2"}), ElementsAre("x", "--PASSWORD=***"));
  EXPECT_THAT(scrub({"java", "-Djavax.net.ssl.keyStorePassword=pw", "-jar", "app.jar"}),
              ElementsAre("java", "-Djavax.net.ssl.keyStorePassword=***", "-jar", "app.jar"));
  EXPECT_THAT(scrub({"x", "--client-secret=", "y"}), ElementsAre("x", "--client-secret=***", "y"));
}

TEST(Scrub, CaseInsensitiveSecretNames) {
  for (std::string_view name :
       {"--Password", "--AUTH-TOKEN", "--ClientSecret", "--apiKey", "--passwd", "--db-pass"}) {
    EXPECT_THAT(scrub({"x", name, "v"}), ElementsAre("x", std::string(name), "***")) << name;
  }
}

TEST(Scrub, KeyValuePairs) {
  EXPECT_THAT(scrub({"env", "DB_PASSWORD=hunter2", "GITHUB_TOKEN=ghp_x", "HOME=/root", "prog"}),
              ElementsAre("env", "DB_PASSWORD=***", "GITHUB_TOKEN=***", "HOME=/root", "prog"));
  EXPECT_THAT(scrub({"x", "aws_secret_access_key=abc", "SSH_KEY_PATH=/k"}),
              ElementsAre("x", "aws_secret_access_key=***", "SSH_KEY_PATH=***"));
  // A value containing '=' is hidden whole.
  EXPECT_THAT(scrub({"x", "API_KEY=a=b=c"}), ElementsAre("x", "API_KEY=***"));
}

TEST(Scrub, UrlsCarryingSecrets) {
  EXPECT_THAT(scrub({"curl", "https://alice:hunter2@example.org/path?q=1"}),
              ElementsAre("curl", "https://alice:***@example.org/path?q=1"));
  EXPECT_THAT(scrub({"curl", "https://example.org/cb?code=1&access_token=abc&x=2#frag"}),
              ElementsAre("curl", "https://example.org/cb?code=1&access_token=***&x=2#frag"));
  // User without password, port, '@' in the path: nothing to hide.
  EXPECT_THAT(scrub({"git", "clone", "ssh://git@example.org:22/repo.git"}),
              ElementsAre("git", "clone", "ssh://git@example.org:22/repo.git"));
  EXPECT_THAT(scrub({"curl", "https://example.org/users/@me:1"}),
              ElementsAre("curl", "https://example.org/users/@me:1"));
}

TEST(Scrub, LeavesOrdinaryArgumentsAlone) {
  const std::vector<std::string_view> argv = {
      "/usr/bin/curl",     "-s", "-p",         "8080", "--proxy",
      "http://proxy:3128", "--", "file=a.txt", "-o",   "out"};
  const std::vector<std::string> expected(argv.begin(), argv.end());
  EXPECT_EQ(scrubArgv(argv), expected);
}

TEST(Scrub, ShortOptionsAreNotSecrets) {
  // -p is a port for ssh, psql and nc: kept, and so is its value.
  EXPECT_THAT(scrub({"ssh", "-p", "2222", "host"}), ElementsAre("ssh", "-p", "2222", "host"));
  EXPECT_THAT(scrub({"x", "-k", "v"}), ElementsAre("x", "-k", "v"));
}

TEST(Scrub, ProgramNameIsKeptAndEdgesAreSafe) {
  EXPECT_THAT(scrub({"--password"}), ElementsAre("--password"));
  EXPECT_THAT(scrub({"x", "--password"}), ElementsAre("x", "--password"));
  EXPECT_THAT(scrub({}), ElementsAre());
  EXPECT_THAT(scrub({"x", "", "=", "=v", "-", "--"}), ElementsAre("x", "", "=", "=v", "-", "--"));
}

TEST(Scrub, SecretNames) {
  EXPECT_TRUE(isSecretName("PASS"));
  EXPECT_TRUE(isSecretName("my_Secret"));
  EXPECT_TRUE(isSecretName("tokens"));
  EXPECT_TRUE(isSecretName("apikey"));
  EXPECT_FALSE(isSecretName("user"));
  EXPECT_FALSE(isSecretName("ke"));
  EXPECT_FALSE(isSecretName(""));
}

TEST(Scrub, SplitsProcCmdline) {
  using namespace std::string_view_literals;
  EXPECT_THAT(splitCmdline("curl\0-s\0https://x/\0"sv), ElementsAre("curl", "-s", "https://x/"));
  EXPECT_THAT(splitCmdline("a\0\0b\0"sv), ElementsAre("a", "", "b"));
  EXPECT_THAT(splitCmdline("no-terminator"sv), ElementsAre("no-terminator"));
  EXPECT_THAT(splitCmdline(""sv), ElementsAre());
  EXPECT_THAT(splitCmdline("\0"sv), ElementsAre());
}

}  // namespace
}  // namespace warden::db
