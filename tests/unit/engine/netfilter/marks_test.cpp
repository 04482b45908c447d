#include "engine/netfilter/marks.h"

#include <gtest/gtest.h>

namespace warden::engine {
namespace {

TEST(MarkBits, ValuesAreTheMasksTwoLowestBits) {
  const MarkBits contiguous{0x00f00000};
  EXPECT_EQ(contiguous.accept(), 0x00100000u);
  EXPECT_EQ(contiguous.reject(), 0x00200000u);
  EXPECT_EQ(contiguous.dnsReply(), 0x00300000u);

  // A mask with gaps still holds every value: one outside it would never match the table.
  const MarkBits gaps{0x00000101};
  EXPECT_EQ(gaps.accept(), 0x1u);
  EXPECT_EQ(gaps.reject(), 0x100u);
  EXPECT_EQ(gaps.dnsReply(), 0x101u);
  for (const MarkBits& marks : {contiguous, gaps}) {
    EXPECT_EQ(marks.accept() & ~marks.mask, 0u);
    EXPECT_EQ(marks.reject() & ~marks.mask, 0u);
    EXPECT_NE(marks.accept(), marks.reject());
  }
}

TEST(MarkBits, DnsReplyTagIsOnlyBothBits) {
  const MarkBits marks{0x00f00000};
  EXPECT_TRUE(marks.isDnsReply(0x12300000 | 0x0000abcd));  // foreign bits do not matter
  EXPECT_FALSE(marks.isDnsReply(0x00100000));
  EXPECT_FALSE(marks.isDnsReply(0x00200000));
  EXPECT_FALSE(marks.isDnsReply(0x00700000));
  EXPECT_FALSE(marks.isDnsReply(0));
  EXPECT_FALSE(MarkBits{}.isDnsReply(0));
}

TEST(MarkBits, WithValueReplacesOnlyOurBits) {
  const MarkBits marks{0x00f00000};
  EXPECT_EQ(marks.withValue(0x12345678, 0), 0x12045678u);
  EXPECT_EQ(marks.withValue(0x12345678, marks.accept()), 0x12145678u);
}

}  // namespace
}  // namespace warden::engine
