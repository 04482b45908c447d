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

using ParseTimeBound = InTimeZone;
using FormatTime = InTimeZone;

TEST_F(ParseTimeBound, SpansCountBackFromNow) {
  const std::int64_t now = kMay1Noon;
  EXPECT_EQ(parseTimeBound("90s", now), now - 90 * kSecond);
  EXPECT_EQ(parseTimeBound("30m", now), now - kSecond * 30 * 60);
  EXPECT_EQ(parseTimeBound("1h", now), now - 3600 * kSecond);
  EXPECT_EQ(parseTimeBound("2d", now), now - kSecond * 2 * 86400);
  EXPECT_EQ(parseTimeBound("1w", now), now - kSecond * 7 * 86400);
  EXPECT_EQ(parseTimeBound("1h30m", now), now - 5400 * kSecond);
  EXPECT_EQ(parseTimeBound("0s", now), now);
}

TEST_F(ParseTimeBound, IsoTimesWithAndWithoutZone) {
  EXPECT_EQ(parseTimeBound("2026-05-01T12:00:00Z", 0), kMay1Noon);
  EXPECT_EQ(parseTimeBound("2026-05-01 12:00:00z", 0), kMay1Noon);
  EXPECT_EQ(parseTimeBound("2026-05-01T14:00+02:00", 0), kMay1Noon);
  EXPECT_EQ(parseTimeBound("2026-05-01T07:00-0500", 0), kMay1Noon);
  EXPECT_EQ(parseTimeBound("2026-05-01T12:00:00.25Z", 0), kMay1Noon + kSecond / 4);
  EXPECT_EQ(parseTimeBound("2026-05-01", 0), kMay1Noon - kSecond * 12 * 3600);  // local = UTC
  use("CET-1CEST,M3.5.0,M10.5.0/3");  // Central Europe: UTC+2 in May
  EXPECT_EQ(parseTimeBound("2026-05-01T14:00", 0), kMay1Noon);
  EXPECT_EQ(parseTimeBound("2026-05-01T12:00Z", 0), kMay1Noon);  // a zone given wins
}

TEST_F(ParseTimeBound, RefusesWhatIsNeitherWithAMessage) {
  for (const char* bad : {"",
                          "1",
                          "h",
                          "1x",
                          "-1h",
                          "1h-",
                          "1.5h",
                          "Yesterday",
                          "2026-5-1",
                          "24:00",
                          "14:60",
                          "14",
                          "14:0",
                          "14:00:61",
                          "14:00 ",
                          "2026-13-01",
                          "2026-02-30",
                          "2026-05-01T25:00",
                          "2026-05-01T12",
                          "2026-05-01T12:00+25:00",
                          "2026-05-01X",
                          "99999999999999999999s"}) {
    auto since = parseTimeBound(bad, kMay1Noon);
    EXPECT_FALSE(since.has_value()) << bad;
    if (!since) {
      EXPECT_NE(since.error().find("'" + std::string(bad) + "'"), std::string::npos);
      EXPECT_NE(since.error().find("1h"), std::string::npos);
    }
  }
}

// Found by fuzz/since_fuzzer: "9999-05-11" overflowed the nanoseconds (undefined behaviour,
// in practice a time in 1685), and so did spans of several centuries' parts.
TEST_F(ParseTimeBound, RefusesWhatTheClockCannotCount) {
  for (const char* bad : {"9999-05-11", "2262-04-12Z", "1600-01-01T00:00Z", "0000-01-01",
                          "3162240000s3162240000s3162240000s", "5000w5000w5000w5000w5000w"}) {
    EXPECT_FALSE(parseTimeBound(bad, kMay1Noon).has_value()) << bad;
  }
  // The ends of what it can count still count, and a century is still a span.
  EXPECT_EQ(parseTimeBound("2262-04-11Z", 0), std::int64_t{9'223'286'400} * kSecond);
  EXPECT_EQ(parseTimeBound("1677-09-22Z", 0), std::int64_t{-9'223'286'400} * kSecond);
  EXPECT_EQ(parseTimeBound("3162240000s", kMay1Noon),
            kMay1Noon - std::int64_t{3'162'240'000} * kSecond);
}

constexpr const char* kCentralEurope = "CET-1CEST,M3.5.0,M10.5.0/3";

TEST_F(ParseTimeBound, TodayAndYesterdayAreLocalMidnight) {
  use(kCentralEurope);                                                     // 2026-05-01 14:00 local
  EXPECT_EQ(parseTimeBound("today", kMay1Noon), 1'777'586'400 * kSecond);  // 04-30T22:00Z
  EXPECT_EQ(parseTimeBound("yesterday", kMay1Noon), 1'777'500'000 * kSecond);  // 04-29T22:00Z
  EXPECT_EQ(parseTimeBound("tomorrow", kMay1Noon), (1'777'586'400 + 86400) * kSecond);
  EXPECT_EQ(parseTimeBound("now", kMay1Noon), kMay1Noon);
  use("UTC0");
  EXPECT_EQ(parseTimeBound("today", kMay1Noon), kMay1Noon - 12 * 3600 * kSecond);
}

// 2026-03-29 has 23 hours in Central Europe: midnights are counted by the calendar, not as
// 86400 s steps back from now.
TEST_F(ParseTimeBound, MidnightsAcrossADaylightSavingChange) {
  use(kCentralEurope);
  const std::int64_t now = 1'774'785'600 * kSecond;  // 2026-03-29T12:00Z, 14:00 CEST
  EXPECT_EQ(parseTimeBound("today", now), 1'774'738'800 * kSecond);      // 03-28T23:00Z (CET)
  EXPECT_EQ(parseTimeBound("yesterday", now), 1'774'652'400 * kSecond);  // 03-27T23:00Z
  EXPECT_EQ(parseTimeBound("tomorrow", now), 1'774'821'600 * kSecond);   // 03-29T22:00Z (CEST)
}

TEST_F(ParseTimeBound, AClockTimeIsThatTimeToday) {
  use(kCentralEurope);
  EXPECT_EQ(parseTimeBound("14:00", kMay1Noon), kMay1Noon);
  EXPECT_EQ(parseTimeBound("09:30:15", kMay1Noon), 1'777'620'615 * kSecond);  // 07:30:15Z
  // Later today is still today: --until 23:00 is this evening.
  EXPECT_EQ(parseTimeBound("23:00", kMay1Noon), kMay1Noon + 9 * 3600 * kSecond);
  EXPECT_EQ(parseTimeBound("2026-05-01 14:00", 0), kMay1Noon);
}

TEST_F(ParseTimeBound, RangeReadsBothBoundsWithOneNow) {
  auto range = parseTimeRange("2h", "1h", kMay1Noon);
  ASSERT_TRUE(range.has_value()) << range.error();
  EXPECT_EQ(range->sinceNs, kMay1Noon - 7200 * kSecond);
  EXPECT_EQ(range->untilNs, kMay1Noon - 3600 * kSecond);
  range = parseTimeRange(std::nullopt, "today", kMay1Noon);
  ASSERT_TRUE(range.has_value());
  EXPECT_FALSE(range->sinceNs.has_value());
  EXPECT_EQ(range->untilNs, kMay1Noon - 12 * 3600 * kSecond);
  range = parseTimeRange(std::nullopt, std::nullopt, kMay1Noon);
  ASSERT_TRUE(range.has_value());
  EXPECT_FALSE(range->sinceNs || range->untilNs);
}

TEST_F(ParseTimeBound, UntilNotAfterSinceIsAnErrorShowingBoth) {
  auto range = parseTimeRange("today", "yesterday", kMay1Noon);
  ASSERT_FALSE(range.has_value());
  EXPECT_EQ(range.error(),
            "--until yesterday (2026-04-30 00:00:00) is not after --since today (2026-05-01 "
            "00:00:00): no row can be in between");
  EXPECT_FALSE(parseTimeRange("12:00", "12:00", kMay1Noon).has_value());  // an empty range
  range = parseTimeRange("soon", std::nullopt, kMay1Noon);
  ASSERT_FALSE(range.has_value());
  EXPECT_TRUE(range.error().starts_with("--since: invalid time 'soon'")) << range.error();
  range = parseTimeRange(std::nullopt, "later", kMay1Noon);
  ASSERT_FALSE(range.has_value());
  EXPECT_TRUE(range.error().starts_with("--until: invalid time 'later'")) << range.error();
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
