// warden.toml's [prompt] section: what `warden prompt` may hold, and for how long.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "rules/config.h"

namespace warden::rules {
namespace {

using ::testing::ElementsAre;

constexpr std::string_view kFile = "/etc/warden/warden.toml";

std::vector<std::string> errorsOf(std::string_view text) {
  const auto config = parseConfig(text, kFile);
  if (config) return {};
  std::vector<std::string> out;
  for (const auto& d : config.error()) {
    out.push_back(std::to_string(d.where.line) + ":" + std::to_string(d.where.column) + ": " +
                  d.message);
  }
  return out;
}

TEST(PromptConfig, DefaultsWithoutTheSection) {
  const auto config = parseConfig("", kFile);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->promptTimeoutS, 30u);
  EXPECT_EQ(config->promptHold, 64u);
}

TEST(PromptConfig, ReadsBothKeys) {
  const auto config = parseConfig("[prompt]\ntimeout = 5\nhold = 3\n", kFile);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->promptTimeoutS, 5u);
  EXPECT_EQ(config->promptHold, 3u);
  const auto bounds = parseConfig("[prompt]\ntimeout = 300\nhold = 1024\n", kFile);
  ASSERT_TRUE(bounds);
  EXPECT_EQ(bounds->promptTimeoutS, 300u);
  EXPECT_EQ(bounds->promptHold, 1024u);
}

TEST(PromptConfig, PreciseErrors) {
  EXPECT_THAT(errorsOf("[prompt]\ntimeout = 0\n"),
              ElementsAre("2:11: 'timeout' must be between 1 and 300, got 0"));
  EXPECT_THAT(errorsOf("[prompt]\ntimeout = 301\n"),
              ElementsAre("2:11: 'timeout' must be between 1 and 300, got 301"));
  EXPECT_THAT(errorsOf("[prompt]\nhold = 0\n"),
              ElementsAre("2:8: 'hold' must be between 1 and 1024, got 0"));
  EXPECT_THAT(errorsOf("[prompt]\nhold = 1025\n"),
              ElementsAre("2:8: 'hold' must be between 1 and 1024, got 1025"));
  EXPECT_THAT(errorsOf("[prompt]\ntimeout = '30s'\n"),
              ElementsAre("2:11: expected an integer for 'timeout', got string"));
  EXPECT_THAT(errorsOf("[prompt]\nwait = 3\n"), ElementsAre("2:1: unknown key 'wait' in [prompt]"));
  EXPECT_THAT(errorsOf("prompt = 3\n"),
              ElementsAre("1:10: expected a table for 'prompt', got integer"));
}

}  // namespace
}  // namespace warden::rules
