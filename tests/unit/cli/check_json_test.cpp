#include <gtest/gtest.h>

#include <sstream>

#include "cli/check_command.h"
#include "tests/support/temp_dir.h"

namespace warden::cli {
namespace {

using nlohmann::json;

TEST(CheckJson, ErrorsWithTheirPlaceAndNoCounts) {
  const std::string config = std::string(WARDEN_SOURCE_DIR) + "/tests/cli/bad-policy/warden.toml";
  std::ostringstream out, err;
  EXPECT_EQ(runCheck(config, /*json=*/true, out, err), 1);
  EXPECT_EQ(err.str(), "");
  const json document = json::parse(out.str());
  EXPECT_EQ(document["ok"], false);
  EXPECT_EQ(document["config"], config);
  ASSERT_EQ(document["diagnostics"].size(), 8u) << document.dump(2);
  EXPECT_EQ(document["diagnostics"][0],
            json({{"file", config},
                  {"line", 4},
                  {"column", 14},
                  {"severity", "error"},
                  {"message", "'queues' must be consecutive numbers"}}));
  EXPECT_EQ(document["summary"], json({{"errors", 8},
                                       {"warnings", 0},
                                       {"profiles", nullptr},
                                       {"rules", nullptr},
                                       {"global_rules", nullptr}}));
}

TEST(CheckJson, APolicyThatPassesCountsWithWarnings) {
  warden::testing::TempDir dir;
  dir.write("warden.toml",
            "[profiles]\ndir = \"p\"\n[[rule]]\naction = \"allow\"\n"
            "scope = \"localhost\"\n");
  // Two profiles with the same score for one path: loaded, with a warning about the overlap.
  dir.write("p/10-a.toml",
            "name = \"a\"\n[[match]]\npath = \"/usr/bin/curl\"\n"
            "[[rule]]\naction = \"deny\"\nports = [22]\n");
  dir.write("p/20-b.toml", "name = \"b\"\n[[match]]\npath = \"/usr/bin/curl\"\n");
  std::ostringstream out, err;
  EXPECT_EQ(runCheck(dir.file("warden.toml").string(), true, out, err), 0);
  const json document = json::parse(out.str());
  EXPECT_EQ(document["ok"], true);
  EXPECT_EQ(document["summary"]["profiles"], 2);
  EXPECT_EQ(document["summary"]["rules"], 1);
  EXPECT_EQ(document["summary"]["global_rules"], 1);
  EXPECT_EQ(document["summary"]["errors"], 0);
  EXPECT_EQ(document["summary"]["warnings"], document["diagnostics"].size());
  for (const auto& d : document["diagnostics"]) EXPECT_EQ(d["severity"], "warning") << d;
}

TEST(CheckJson, AMissingFileIsAnErrorWithoutAPlace) {
  std::ostringstream out, err;
  EXPECT_EQ(runCheck("/nonexistent/warden.toml", true, out, err), 1);
  const json document = json::parse(out.str());
  EXPECT_EQ(document["ok"], false);
  ASSERT_FALSE(document["diagnostics"].empty());
  EXPECT_EQ(document["diagnostics"][0]["severity"], "error");
  EXPECT_EQ(document["diagnostics"][0]["line"], nullptr);
}

TEST(DiagnosticText, SeverityColouredAsCompilersDo) {
  rules::Diagnostic error{rules::Severity::kError, {"w.toml", 3, 7}, "bad"};
  rules::Diagnostic warning{rules::Severity::kWarning, {"w.toml", 4, 1}, "odd"};
  EXPECT_EQ(diagnosticText(error, Palette(false)), "w.toml:3:7: error: bad");
  EXPECT_EQ(diagnosticText(error, Palette(true)), "w.toml:3:7: \x1b[1;31merror\x1b[0m: bad");
  EXPECT_EQ(diagnosticText(warning, Palette(true)), "w.toml:4:1: \x1b[33mwarning\x1b[0m: odd");
}

}  // namespace
}  // namespace warden::cli
