#include <gtest/gtest.h>

#include "rules/config.h"

namespace warden::rules {
namespace {

constexpr std::string_view kFile = "/etc/warden/warden.toml";

TEST(ConfigAttribution, FlowEntriesSizesTheFlowMap) {
  EXPECT_EQ(parseConfig("", kFile)->flowEntries, 65536u);
  auto config = parseConfig("[attribution]\nflow_entries = 262144\n", kFile);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->flowEntries, 262144u);
}

TEST(ConfigAttribution, FlowEntriesOutOfRangeIsAnError) {
  for (std::string_view text :
       {"[attribution]\nflow_entries = 10\n", "[attribution]\nflow_entries = 99999999\n",
        "[attribution]\nflow_entries = \"big\"\n"}) {
    auto config = parseConfig(text, kFile);
    ASSERT_FALSE(config) << text;
    EXPECT_EQ(config.error().front().where.line, 2) << text;
  }
}

}  // namespace
}  // namespace warden::rules
