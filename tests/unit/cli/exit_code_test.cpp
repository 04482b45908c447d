// What each failure means to a script: the exit status, and the message a user reads.
#include "cli/exit_code.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <sstream>

#include "cli/control_client.h"

namespace warden::cli {
namespace {

TEST(ExitCode, NumbersAreTheDocumentedOnes) {
  EXPECT_EQ(toInt(ExitCode::kOk), 0);
  EXPECT_EQ(toInt(ExitCode::kError), 1);
  EXPECT_EQ(toInt(ExitCode::kUsage), 2);
  EXPECT_EQ(toInt(ExitCode::kDaemonDown), 3);
  EXPECT_EQ(toInt(ExitCode::kPermissionDenied), 4);
  EXPECT_EQ(toInt(ExitCode::kNoDatabase), 5);
  const std::string help = exitStatusHelp();
  for (const char* line :
       {"  0  success", "  1  error", "  2  usage", "  3  wardend is not running",
        "  4  permission denied", "  5  the verdict log database"}) {
    EXPECT_NE(help.find(line), std::string::npos) << line;
  }
}

TEST(ExitCode, ErrnoOfTheCallersPrivilegesIsPermissionDenied) {
  EXPECT_EQ(exitCodeForErrno(EACCES), ExitCode::kPermissionDenied);
  EXPECT_EQ(exitCodeForErrno(EPERM), ExitCode::kPermissionDenied);
  EXPECT_EQ(exitCodeForErrno(ENOENT), ExitCode::kError);
  EXPECT_EQ(exitCodeForErrno(EIO), ExitCode::kError);
}

TEST(ExitCode, ReportPrintsOneLineAndReturnsTheStatus) {
  std::ostringstream err;
  EXPECT_EQ(report({ExitCode::kDaemonDown, "wardend is not running"}, err), 3);
  EXPECT_EQ(report({ExitCode::kError, "two\nlines\n"}, err), 1);
  EXPECT_EQ(err.str(), "warden: wardend is not running\nwarden: two\nlines\n");
}

TEST(ConnectFailure, AbsentSocketOrNobodyListeningIsDaemonDown) {
  const Failure absent = connectFailure("/run/warden/control.sock", ENOENT);
  EXPECT_EQ(absent.code, ExitCode::kDaemonDown);
  EXPECT_EQ(absent.message,
            "wardend is not running (no control socket at /run/warden/control.sock)");
  const Failure stale = connectFailure("/run/warden/control.sock", ECONNREFUSED);
  EXPECT_EQ(stale.code, ExitCode::kDaemonDown);
  EXPECT_NE(stale.message.find("nothing listens on /run/warden/control.sock"), std::string::npos);
}

TEST(ConnectFailure, TheSocketsModeRefusingIsPermissionDenied) {
  for (int error : {EACCES, EPERM}) {
    const Failure denied = connectFailure("/run/warden/control.sock", error);
    EXPECT_EQ(denied.code, ExitCode::kPermissionDenied);
    EXPECT_NE(denied.message.find("root"), std::string::npos);
  }
}

TEST(ConnectFailure, AnythingElseIsAnErrorNamingTheSocket) {
  const Failure notSocket = connectFailure("/etc/passwd", ENOTSOCK);
  EXPECT_EQ(notSocket.code, ExitCode::kError);
  EXPECT_NE(notSocket.message.find("/etc/passwd is not a socket"), std::string::npos);
  const Failure busy = connectFailure("/run/x.sock", EAGAIN);
  EXPECT_EQ(busy.code, ExitCode::kError);
  EXPECT_NE(busy.message.find("/run/x.sock"), std::string::npos);
}

TEST(InterpretAnswer, OkAnswersAreReturnedWhole) {
  auto answer = interpretAnswer("s", R"({"version":1,"ok":true,"revision":7})");
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ((*answer)["revision"], 7);
}

TEST(InterpretAnswer, TheDaemonsPeerCheckIsPermissionDenied) {
  auto answer = interpretAnswer(
      "s",
      R"({"version":1,"ok":false,"error":"permission denied: the control socket is for root only"})");
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ExitCode::kPermissionDenied);
  EXPECT_EQ(answer.error().message,
            "permission denied: the control socket is for root only (run warden as root)");
}

TEST(InterpretAnswer, ARefusalIsAnErrorWithTheDaemonsWords) {
  auto answer = interpretAnswer(
      "s", R"({"version":1,"ok":false,"error":"reload refused: the configuration has errors"})");
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, ExitCode::kError);
  EXPECT_EQ(answer.error().message, "wardend: reload refused: the configuration has errors");
}

TEST(InterpretAnswer, GarbageIsAnError) {
  for (const char* line : {"", "not json", "[1,2]", R"({"version":1})", R"({"ok":"yes"})"}) {
    auto answer = interpretAnswer("/s.sock", line);
    ASSERT_FALSE(answer.has_value()) << line;
    EXPECT_EQ(answer.error().code, ExitCode::kError) << line;
    EXPECT_NE(answer.error().message.find("/s.sock"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace warden::cli
