// SPEC section 7: a SIGKILL during a heavy burst loses at most what was not yet committed and
// never corrupts the database. A child process writes as fast as it can and reports, through
// a pipe, how many rows it knows are committed; the parent kills it mid-burst and checks.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <thread>

#include "base/unique_fd.h"
#include "db/log_writer.h"
#include "db/store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/db/log_rows.h"

namespace warden::db {
namespace {

using namespace std::chrono_literals;

[[noreturn]] void writeUntilKilled(const std::filesystem::path& path, int reportFd) {
  auto db = openStore(path);
  if (!db) _exit(2);
  auto log = LogWriter::create(std::move(*db), {.maxBatch = 512, .flushInterval = 5ms});
  if (!log) _exit(3);
  (*log)->start();
  LogProducer producer = (*log)->producer();
  for (std::uint16_t port = 0;; ++port) {
    LogRow row = testing::sampleRow();
    row.remotePort = port;
    if (!producer.tryEnqueue(std::move(row))) std::this_thread::yield();
    if (port % 256 == 0) {
      const std::uint64_t written = (*log)->counters().written;
      if (write(reportFd, &written, sizeof written) != sizeof written) _exit(4);
    }
  }
}

TEST(LogCrash, SigkillMidBurstKeepsEveryCommittedRowAndAnIntactFile) {
  warden::testing::TempDir dir;
  const auto path = dir.file("warden.db");
  ASSERT_TRUE(openStore(path).has_value());  // schema exists before the child starts
  auto reports = base::makePipe();
  ASSERT_TRUE(reports) << reports.error().message();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    reports->readEnd.reset();
    writeUntilKilled(path, reports->writeEnd.get());
  }
  reports->writeEnd.reset();

  // Let it commit a good number of batches, then kill it without warning.
  std::uint64_t reported = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (reported < 20000 && std::chrono::steady_clock::now() < deadline) {
    std::uint64_t value = 0;
    if (read(reports->readEnd.get(), &value, sizeof value) != sizeof value) break;
    reported = value;
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  // Reports still in the pipe were sent before the kill: they are committed too.
  for (std::uint64_t value = 0;
       read(reports->readEnd.get(), &value, sizeof value) == sizeof value;) {
    reported = value;
  }
  reports->readEnd.reset();
  ASSERT_GE(reported, 20000u);

  auto db = openStore(path);
  ASSERT_TRUE(db.has_value()) << db.error().message();
  auto check = db->prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.has_value());
  ASSERT_TRUE(check->step().value());
  EXPECT_EQ(check->columnText(0), "ok");
  EXPECT_GE(db->queryInt("SELECT count(*) FROM verdict_log").value(),
            static_cast<std::int64_t>(reported));
}

}  // namespace
}  // namespace warden::db
