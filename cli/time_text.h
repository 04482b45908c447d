#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace warden::cli {

// Times as the commands read and show them. Times are ns since the Unix epoch (CLOCK_REALTIME),
// as the verdict log and the daemon's status store them (base::realtimeNs() is now); shown in
// the local time zone.

// A bound of `warden log --since/--until`: "now", "today", "yesterday" or "tomorrow" (local
// midnight), a span back from `nowNs` ("90s", "30m", "1h", "2d", "1w", or several as in
// "1h30m"), a time today ("14:00", "14:00:30", local), or an ISO 8601 date or time
// ("2026-05-01", "2026-05-01T12:00", "2026-05-01 12:00:00.5", optionally ending in "Z" or
// "+02:00"; local time without one). The error says what was expected.
std::expected<std::int64_t, std::string> parseTimeBound(std::string_view text, std::int64_t nowNs);

// A span such as "90s", "10m", "2h", "1d", "1w" or "1h30m" in nanoseconds (at most a
// century), or nothing.
std::optional<std::int64_t> parseDurationNs(std::string_view text);

// Rows from sinceNs on (inclusive) and before untilNs (exclusive, so that `--since yesterday
// --until today` is exactly yesterday); absent: unbounded.
struct TimeRange {
  std::optional<std::int64_t> sinceNs;
  std::optional<std::int64_t> untilNs;
};

// Both bounds read with the same "now"; an --until that is not after --since is an error
// that shows both as local times.
std::expected<TimeRange, std::string> parseTimeRange(const std::optional<std::string>& since,
                                                     const std::optional<std::string>& until,
                                                     std::int64_t nowNs);

// "2026-05-01 12:00:00", local time.
std::string localTime(std::int64_t ns);
// "2026-05-01T12:00:00.123+02:00": local time with its offset, for JSON.
std::string isoTime(std::int64_t ns);
// An elapsed time in at most two units: "42s", "3m 12s", "5h 02m", "3d 4h". Negative = "0s".
std::string formatAge(std::int64_t ns);

}  // namespace warden::cli
