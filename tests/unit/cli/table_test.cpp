#include "cli/table.h"

#include <gtest/gtest.h>

#include <sstream>

namespace warden::cli {
namespace {

std::string render(const Table& table) {
  std::ostringstream out;
  table.print(out);
  return out.str();
}

TEST(Table, ColumnsAsWideAsTheirWidestCellAlignedAsAsked) {
  Table table({{"NAME"}, {"COUNT", Table::Align::kRight}, {"NOTE"}});
  table.addRow({"firefox", "12", "browser"});
  table.addRow({"ssh", "1234567", ""});
  EXPECT_EQ(render(table),
            "NAME       COUNT  NOTE\n"
            "firefox       12  browser\n"
            "ssh      1234567\n");  // no trailing blanks, even for an empty last cell
}

TEST(Table, MissingCellsAreEmptyAndExtraOnesIgnored) {
  Table table({{"A"}, {"B"}});
  table.addRow({"x"});
  table.addRow({"1", "2", "3"});
  EXPECT_EQ(render(table), "A  B\nx\n1  2\n");
}

TEST(Table, MinimumWidthsHoldForRowsPrintedLater) {
  Table table({{"TIME", Table::Align::kLeft, 8}, {"WHAT"}});
  const auto widths = table.widths();
  EXPECT_EQ(widths, (std::vector<std::size_t>{8, 4}));
  EXPECT_EQ(table.formatHeader(widths), "TIME      WHAT");
  EXPECT_EQ(table.formatRow({"12:00", "allow"}, widths), "12:00     allow");
  // Too wide for its column: the rest moves right rather than being cut.
  EXPECT_EQ(table.formatRow({"2026-05-01", "deny"}, widths), "2026-05-01  deny");
}

TEST(Table, CellsCannotDriveTheTerminal) {
  Table table({{"HOST"}, {"EXE"}});
  table.addRow({"evil\x1b[2J.example", "/tmp/a\nb"});
  const std::string text = render(table);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("evil\\x1b[2J.example"), std::string::npos);
  EXPECT_NE(text.find("/tmp/a\\x0ab"), std::string::npos);
  EXPECT_EQ(table.formatRow({"a\rb", "c"}, table.widths()).find('\r'), std::string::npos);
}

TEST(Printable, KeepsUtf8AndEscapesControlsAndBrokenBytes) {
  EXPECT_EQ(printable("plain text"), "plain text");
  EXPECT_EQ(printable("bücher.example"), "bücher.example");
  EXPECT_EQ(printable("tab\there"), "tab\\x09here");
  EXPECT_EQ(printable("del\x7f"), "del\\x7f");
  EXPECT_EQ(printable("c1 \xc2\x9b"), "c1 \\xc2\\x9b");    // CSI as a C1 control
  EXPECT_EQ(printable("cut \xe2\x82"), "cut \\xe2\\x82");  // truncated sequence
  EXPECT_EQ(printable("lone \x80 byte"), "lone \\x80 byte");
  EXPECT_EQ(printable("overlong \xc0\xaf"), "overlong \\xc0\\xaf");
}

TEST(DisplayWidth, CountsCodePoints) {
  EXPECT_EQ(displayWidth(""), 0u);
  EXPECT_EQ(displayWidth("abc"), 3u);
  EXPECT_EQ(displayWidth("bücher"), 6u);
  EXPECT_EQ(displayWidth("9f86d081884c…"), 13u);
  Table table({{"X"}, {"Y"}});
  table.addRow({"ü", "1"});
  table.addRow({"ab", "2"});
  EXPECT_EQ(render(table), "X   Y\nü   1\nab  2\n");
}

}  // namespace
}  // namespace warden::cli
