#include "cli/time_text.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <string>

namespace warden::cli {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
// 2026-05-01T12:00:00Z
constexpr std::int64_t kMay1Noon = 1'777'636'800 * kSecond;

// Runs a test in a fixed time zone (a POSIX TZ string: no tzdata needed) and restores the
// caller's afterwards.
class InTimeZone : public ::testing::Test {
 protected:
  void use(const char* zone) {
    setenv("TZ", zone, 1);
    tzset();
  }
  void SetUp() override {
    if (const char* tz = getenv("TZ")) saved_ = tz;
    hadTz_ = getenv("TZ") != nullptr;
    use("UTC0");
  }
  void TearDown() override {
    if (hadTz_) {
      setenv("TZ", saved_.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::string saved_;
  bool hadTz_ = false;
};

using ParseSince = InTimeZone;
using FormatTime = InTimeZone;

TEST_F(ParseSince, SpansCountBackFromNow) {
  const std::int64_t now = kMay1Noon;
  EXPECT_EQ(parseSince("90s", now), now - 90 * kSecond);
  EXPECT_EQ(parseSince("30m", now), now - kSecond * 30 * 60);
  EXPECT_EQ(parseSince("1h", now), now - 3600 * kSecond);
  EXPECT_EQ(parseSince("2d", now), now - kSecond * 2 * 86400);
  EXPECT_EQ(parseSince("1w", now), now - kSecond * 7 * 86400);
  EXPECT_EQ(parseSince("1h30m", now), now - 5400 * kSecond);
  EXPECT_EQ(parseSince("0s", now), now);
}

TEST_F(ParseSince, IsoTimesWithAndWithoutZone) {
  EXPECT_EQ(parseSince("2026-05-01T12:00:00Z", 0), kMay1Noon);
  EXPECT_EQ(parseSince("2026-05-01 12:00:00z", 0), kMay1Noon);
  EXPECT_EQ(parseSince("2026-05-01T14:00+02:00", 0), kMay1Noon);
  EXPECT_EQ(parseSince("2026-05-01T07:00-0500", 0), kMay1Noon);
  EXPECT_EQ(parseSince("2026-05-01T12:00:00.25Z", 0), kMay1Noon + kSecond / 4);
  EXPECT_EQ(parseSince("2026-05-01", 0), kMay1Noon - kSecond * 12 * 3600);  // local = UTC
  use("CET-1CEST,M3.5.0,M10.5.0/3");  // Central Europe: UTC+2 in May
  EXPECT_EQ(parseSince("2026-05-01T14:00", 0), kMay1Noon);
  EXPECT_EQ(parseSince("2026-05-01T12:00Z", 0), kMay1Noon);  // a zone given wins
}

TEST_F(ParseSince, RefusesWhatIsNeitherWithAMessage) {
  for (const char* bad : {"", "1", "h", "1x", "-1h", "1h-", "1.5h", "yesterday", "2026-5-1",
                          "2026-13-01", "2026-02-30", "2026-05-01T25:00", "2026-05-01T12",
                          "2026-05-01T12:00+25:00", "2026-05-01X", "99999999999999999999s"}) {
    auto since = parseSince(bad, kMay1Noon);
    EXPECT_FALSE(since.has_value()) << bad;
    if (!since) {
      EXPECT_NE(since.error().find("'" + std::string(bad) + "'"), std::string::npos);
      EXPECT_NE(since.error().find("1h"), std::string::npos);
    }
  }
}

// Found by fuzz/since_fuzzer: "9999-05-11" overflowed the nanoseconds (undefined behaviour,
// in practice a time in 1685), and so did spans of several centuries' parts.
TEST_F(ParseSince, RefusesWhatTheClockCannotCount) {
  for (const char* bad : {"9999-05-11", "2262-04-12Z", "1600-01-01T00:00Z", "0000-01-01",
                          "3162240000s3162240000s3162240000s", "5000w5000w5000w5000w5000w"}) {
    EXPECT_FALSE(parseSince(bad, kMay1Noon).has_value()) << bad;
  }
  // The ends of what it can count still count, and a century is still a span.
  EXPECT_EQ(parseSince("2262-04-11Z", 0), std::int64_t{9'223'286'400} * kSecond);
  EXPECT_EQ(parseSince("1677-09-22Z", 0), std::int64_t{-9'223'286'400} * kSecond);
  EXPECT_EQ(parseSince("3162240000s", kMay1Noon),
            kMay1Noon - std::int64_t{3'162'240'000} * kSecond);
}

TEST_F(FormatTime, LocalAndIso) {
  EXPECT_EQ(localTime(kMay1Noon), "2026-05-01 12:00:00");
  EXPECT_EQ(isoTime(kMay1Noon + 123'456'789), "2026-05-01T12:00:00.123+00:00");
  use("CET-1CEST,M3.5.0,M10.5.0/3");
  EXPECT_EQ(localTime(kMay1Noon), "2026-05-01 14:00:00");
  EXPECT_EQ(isoTime(kMay1Noon), "2026-05-01T14:00:00.000+02:00");
  use("<-0330>3:30");
  EXPECT_EQ(isoTime(kMay1Noon), "2026-05-01T08:30:00.000-03:30");
}

TEST(FormatAge, AtMostTwoUnits) {
  EXPECT_EQ(formatAge(0), "0s");
  EXPECT_EQ(formatAge(-5 * kSecond), "0s");
  EXPECT_EQ(formatAge(42 * kSecond + 999'999'999), "42s");
  EXPECT_EQ(formatAge(192 * kSecond), "3m 12s");
  EXPECT_EQ(formatAge((5 * 3600 + 2 * 60 + 7) * kSecond), "5h 02m");
  EXPECT_EQ(formatAge((3 * 86400 + 4 * 3600 + 59) * kSecond), "3d 4h");
}

}  // namespace
}  // namespace warden::cli
