#include "rules/process_info.h"

#include <gtest/gtest.h>

namespace warden::rules {
namespace {

TEST(ProcessInfo, Sha256RoundTrip) {
  const std::string hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  const auto digest = parseSha256(hex);
  ASSERT_TRUE(digest);
  EXPECT_EQ((*digest)[0], 0x9f);
  EXPECT_EQ(toHex(*digest), hex);
  EXPECT_EQ(parseSha256("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"),
            digest);
  EXPECT_FALSE(parseSha256(hex.substr(1)));
  EXPECT_FALSE(parseSha256(hex + "0"));
  EXPECT_FALSE(parseSha256(std::string(63, '0') + "g"));
}

TEST(ProcessInfo, ArgvIsJoinedBySingleSpaces) {
  ProcessInfo process;
  process.setArgv({"curl", "--proxy", "http://p:3128", ""});
  EXPECT_EQ(process.cmdline, "curl --proxy http://p:3128 ");
  EXPECT_EQ(joinArgv({}), "");
  EXPECT_EQ(joinArgv({"", "x"}), " x");
}

}  // namespace
}  // namespace warden::rules
