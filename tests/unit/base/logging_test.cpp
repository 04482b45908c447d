// Where stderr goes decides the form of wardend's lines: systemd's journal (JOURNAL_STREAM
// names stderr's device and inode) gets `<N>` priorities, anything else the plain form.
#include "base/logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace warden::base {
namespace {

std::string devIno(int fd) {
  struct stat st {};
  EXPECT_EQ(fstat(fd, &st), 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

// A pipe put in place of stderr for the test's life, read back with text().
class StderrPipe {
 public:
  StderrPipe() {
    EXPECT_EQ(pipe2(fds_, O_CLOEXEC | O_NONBLOCK), 0);
    saved_ = dup(STDERR_FILENO);
    dup2(fds_[1], STDERR_FILENO);
  }
  ~StderrPipe() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fds_[0]);
    close(fds_[1]);
  }
  int writeEnd() const { return fds_[1]; }
  std::string text() const {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = read(fds_[0], buf, sizeof buf)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
};

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* old = std::getenv("JOURNAL_STREAM")) saved_ = old;
  }
  void TearDown() override {
    if (saved_.empty()) {
      unsetenv("JOURNAL_STREAM");
    } else {
      setenv("JOURNAL_STREAM", saved_.c_str(), 1);
    }
    detectLogSink();  // as the other tests expect it: the plain form
  }
  std::string saved_;
};

TEST_F(LoggingTest, JournalStreamMatchesOnlyTheFileItNames) {
  int a[2];
  int b[2];
  ASSERT_EQ(pipe(a), 0);
  ASSERT_EQ(pipe(b), 0);
  EXPECT_TRUE(isJournalStream(devIno(a[1]), a[1]));
  EXPECT_TRUE(isJournalStream(devIno(a[1]), a[0]));  // one pipe, one inode
  EXPECT_FALSE(isJournalStream(devIno(a[1]), b[1]));
  EXPECT_FALSE(isJournalStream("", a[1]));
  EXPECT_FALSE(isJournalStream(devIno(a[1]) + "x", a[1]));
  EXPECT_FALSE(isJournalStream(":" + devIno(a[1]), a[1]));
  EXPECT_FALSE(isJournalStream("12", a[1]));
  EXPECT_FALSE(isJournalStream(devIno(a[1]), 9999));  // not open
  for (int fd : {a[0], a[1], b[0], b[1]}) close(fd);
}

TEST_F(LoggingTest, EachLevelHasItsSyslogPriorityInTheJournalForm) {
  EXPECT_EQ(formatLogLine(LogLevel::kError, "queue lost", true), "<3>queue lost\n");
  EXPECT_EQ(formatLogLine(LogLevel::kWarning, "w", true), "<4>w\n");
  EXPECT_EQ(formatLogLine(LogLevel::kInfo, "ready", true), "<6>ready\n");
  EXPECT_EQ(formatLogLine(LogLevel::kDebug, "d", true), "<7>d\n");
  EXPECT_EQ(formatLogLine(LogLevel::kError, "queue lost", false), "wardend: error: queue lost\n");
  // Every line of a message carries it, or journald files the rest as info.
  EXPECT_EQ(formatLogLine(LogLevel::kError, "a\nb\n", true), "<3>a\n<3>b\n");
  EXPECT_EQ(formatLogLine(LogLevel::kError, "a\nb", false),
            "wardend: error: a\nwardend: error: b\n");
}

TEST_F(LoggingTest, StderrThatIsTheJournalGetsPrioritiesAnythingElseThePlainForm) {
  StderrPipe err;
  setenv("JOURNAL_STREAM", devIno(err.writeEnd()).c_str(), 1);
  detectLogSink();
  logError("reload refused");
  logInfo("ready: queues 0-1");
  EXPECT_EQ(err.text(), "<3>reload refused\n<6>ready: queues 0-1\n");

  // Inherited by a process whose stderr went elsewhere: it names another file.
  int other[2];
  ASSERT_EQ(pipe(other), 0);
  setenv("JOURNAL_STREAM", devIno(other[1]).c_str(), 1);
  detectLogSink();
  logError("reload refused");
  EXPECT_EQ(err.text(), "wardend: error: reload refused\n");
  close(other[0]);
  close(other[1]);

  unsetenv("JOURNAL_STREAM");
  detectLogSink();
  logWarning("w");
  EXPECT_EQ(err.text(), "wardend: warning: w\n");
}

}  // namespace
}  // namespace warden::base
