#include <gtest/gtest.h>

#include "rules/process_info.h"

namespace warden::rules {
namespace {

TEST(Environment, CopiesShareUntilOneChanges) {
  Environment original{{"HOME", "/root"}, {"LANG", "C"}};
  Environment copy = original;
  EXPECT_TRUE(copy.sharesWith(original));
  copy["LANG"] = "C.UTF-8";
  EXPECT_FALSE(copy.sharesWith(original));
  EXPECT_EQ(original.find("LANG")->second, "C");
  EXPECT_EQ(copy.find("LANG")->second, "C.UTF-8");
  Environment erased = original;
  EXPECT_EQ(erased.erase("HOME"), 1u);
  EXPECT_EQ(erased.erase("HOME"), 0u);
  EXPECT_EQ(erased.size(), 1u);
  EXPECT_EQ(original.size(), 2u);
}

TEST(Environment, EmptyAndEqual) {
  Environment empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.find("X"), empty.end());
  EXPECT_FALSE(empty.sharesWith(Environment{}));
  EXPECT_EQ(Environment({{"A", "1"}}), Environment({{"A", "1"}}));
  EXPECT_FALSE(Environment({{"A", "1"}}) == Environment({{"A", "2"}}));
}

}  // namespace
}  // namespace warden::rules
