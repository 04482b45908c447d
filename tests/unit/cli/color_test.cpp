#include "cli/color.h"

#include <gtest/gtest.h>

#include <sstream>

#include "cli/table.h"

namespace warden::cli {
namespace {

TEST(UseColor, AutoOnlyOnATerminalThatSaysWhatItIs) {
  EXPECT_TRUE(useColor(ColorMode::kAuto, true, nullptr, "xterm-256color"));
  EXPECT_FALSE(useColor(ColorMode::kAuto, false, nullptr, "xterm-256color"));  // a pipe
  EXPECT_FALSE(useColor(ColorMode::kAuto, true, "1", "xterm"));                // NO_COLOR
  EXPECT_TRUE(useColor(ColorMode::kAuto, true, "", "xterm"));  // NO_COLOR empty: not set
  EXPECT_FALSE(useColor(ColorMode::kAuto, true, nullptr, "dumb"));
  EXPECT_FALSE(useColor(ColorMode::kAuto, true, nullptr, nullptr));
}

TEST(UseColor, AlwaysAndNeverDecideAlone) {
  EXPECT_TRUE(useColor(ColorMode::kAlways, false, "1", "dumb"));
  EXPECT_FALSE(useColor(ColorMode::kNever, true, nullptr, "xterm"));
}

TEST(ParseColorMode, TheThreeWords) {
  EXPECT_EQ(parseColorMode("auto"), ColorMode::kAuto);
  EXPECT_EQ(parseColorMode("always"), ColorMode::kAlways);
  EXPECT_EQ(parseColorMode("never"), ColorMode::kNever);
  EXPECT_EQ(parseColorMode("yes"), std::nullopt);
}

TEST(Palette, PaintsOnlyWhenOn) {
  EXPECT_EQ(Palette(true).paint("deny", Tone::kRefuse), "\x1b[31mdeny\x1b[0m");
  EXPECT_EQ(Palette(true).paint("allow", Tone::kAllow), "\x1b[32mallow\x1b[0m");
  EXPECT_EQ(Palette(true).paint("warning", Tone::kWarning), "\x1b[33mwarning\x1b[0m");
  EXPECT_EQ(Palette(true).paint("error", Tone::kError), "\x1b[1;31merror\x1b[0m");
  EXPECT_EQ(Palette(true).paint("NAME", Tone::kHeader), "\x1b[1mNAME\x1b[0m");
  EXPECT_EQ(Palette(true).paint("x", Tone::kPlain), "x");
  EXPECT_EQ(Palette(false).paint("deny", Tone::kRefuse), "deny");
}

TEST(ActionTone, ByTheFirstWord) {
  EXPECT_EQ(actionTone("allow"), Tone::kAllow);
  EXPECT_EQ(actionTone("deny out tcp ports=22"), Tone::kRefuse);
  EXPECT_EQ(actionTone("reject"), Tone::kRefuse);
  EXPECT_EQ(actionTone("engine (deny)"), Tone::kPlain);
  EXPECT_EQ(actionTone("denying"), Tone::kPlain);
}

// Colour codes take no columns: a painted table lines up as the plain one does.
TEST(Table, PaintedColumnsKeepTheirWidths) {
  Table table({{"ACTION", Table::Align::kLeft, 0, actionTone}, {"PORT", Table::Align::kRight}});
  table.addRow({"deny", "22"});
  table.addRow({"allow", "443"});
  std::ostringstream plain;
  table.print(plain);
  EXPECT_EQ(plain.str(), "ACTION  PORT\ndeny      22\nallow    443\n");
  table.paint(Palette(true));
  std::ostringstream painted;
  table.print(painted);
  EXPECT_EQ(painted.str(),
            "\x1b[1mACTION\x1b[0m  \x1b[1mPORT\x1b[0m\n"
            "\x1b[31mdeny\x1b[0m      22\n"
            "\x1b[32mallow\x1b[0m    443\n");
}

}  // namespace
}  // namespace warden::cli
