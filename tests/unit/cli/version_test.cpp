#include <gtest/gtest.h>

#include "cli/version_command.h"

namespace warden::cli {
namespace {

TEST(DaemonVersionLine, RunningWithItsRevision) {
  const nlohmann::json answer = {
      {"ok", true},
      {"status", {{"running", true}, {"version", "0.1.0"}, {"policy", {{"revision", 7}}}}}};
  EXPECT_EQ(daemonVersionLine(answer), "wardend 0.1.0 (running, policy revision 7)");
}

TEST(DaemonVersionLine, AnOlderDaemonWithoutAVersionIsNotGuessed) {
  const nlohmann::json answer = {{"ok", true},
                                 {"status", {{"running", true}, {"policy", {{"revision", 3}}}}}};
  EXPECT_EQ(daemonVersionLine(answer), "wardend (version unknown) (running, policy revision 3)");
}

TEST(DaemonVersionLine, NotRunningOrNotAllowedSaysWhy) {
  EXPECT_EQ(daemonVersionLine(std::unexpected(Failure{
                ExitCode::kDaemonDown, "wardend is not running (no control socket at /x)"})),
            "wardend is not running (no control socket at /x)");
  EXPECT_EQ(daemonVersionLine(std::unexpected(
                Failure{ExitCode::kPermissionDenied, "permission denied: the control socket"})),
            "wardend: version unknown (permission denied: the control socket)");
}

}  // namespace
}  // namespace warden::cli
