// RepeatedLog with a clock the test moves: which occurrences make a line, and what it says.
#include "base/repeated_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace warden::base {
namespace {

using namespace std::chrono_literals;

std::uint64_t gNowNs = 0;
std::uint64_t fakeNow() { return gNowNs; }

void passTime(std::chrono::nanoseconds by) { gNowNs += static_cast<std::uint64_t>(by.count()); }

// The lines the logger wrote to stderr while `body` ran.
template <typename Body>
std::vector<std::string> linesOf(Body&& body) {
  ::testing::internal::CaptureStderr();
  body();
  const std::string text = ::testing::internal::GetCapturedStderr();
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

class RepeatedLogTest : public ::testing::Test {
 protected:
  void SetUp() override { gNowNs = 1'000'000'000'000; }
  RepeatedLog log_{LogLevel::kError, 60s, fakeNow};
};

TEST_F(RepeatedLogTest, TheFirstOccurrenceIsLoggedAtOnceTheNextOnesOnlyCounted) {
  const auto lines = linesOf([&] {
    for (int i = 0; i < 1000; ++i) {
      log_.note("sending a verdict: error ", i);
      passTime(10ms);
    }
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "wardend: error: sending a verdict: error 0");
  EXPECT_EQ(log_.occurrences(), 1000u);
}

TEST_F(RepeatedLogTest, AfterTheIntervalTheNextOccurrenceSaysHowManyWereNotLogged) {
  const auto lines = linesOf([&] {
    log_.note("read failed: ", 1);
    for (int i = 0; i < 41; ++i) {
      passTime(1s);
      log_.note("read failed: ", 2);
    }
    passTime(20s);  // 61 s after the first line
    log_.note("read failed: ", 3);
    passTime(1s);
    log_.note("read failed: ", 4);  // within the new interval: counted only
  });
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "wardend: error: read failed: 1");
  EXPECT_EQ(lines[1], "wardend: error: read failed: 3 (and 41 more like it in the last 61 s)");
  EXPECT_EQ(log_.occurrences(), 44u);
}

TEST_F(RepeatedLogTest, FlushReportsTheUnloggedCountOnceItsIntervalIsOver) {
  const auto lines = linesOf([&] {
    log_.note("write failed");
    passTime(5s);
    log_.note("write failed");
    log_.note("write failed");
    log_.flush();  // too early: nothing
    passTime(55s);
    log_.flush();
    log_.flush();  // nothing left to report
    passTime(2h);
    log_.note("write failed");  // the problem again, long after: logged at once, alone
  });
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], "wardend: error: write failed (and 2 more like it in the last 60 s)");
  EXPECT_EQ(lines[2], "wardend: error: write failed");
}

TEST_F(RepeatedLogTest, AQuietProblemCostsNoLineAtFlush) {
  const auto lines = linesOf([&] {
    log_.note("once");
    passTime(10min);
    log_.flush();
  });
  EXPECT_EQ(lines.size(), 1u);
}

}  // namespace
}  // namespace warden::base
