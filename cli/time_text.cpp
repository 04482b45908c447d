#include "cli/time_text.h"

#include <time.h>

#include <charconv>
#include <cstdio>
#include <limits>
#include <optional>

namespace warden::cli {
namespace {

constexpr std::int64_t kNsPerSecond = 1'000'000'000;
constexpr std::int64_t kCenturySeconds = std::int64_t{100} * 366 * 86400;
// The seconds whose nanoseconds (plus a fraction) fit in an int64: 1677-09-21 to 2262-04-11.
constexpr std::int64_t kMinSeconds = std::numeric_limits<std::int64_t>::min() / kNsPerSecond;
constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / kNsPerSecond - 1;

// Reads exactly `digits` decimal digits at text[pos] and advances pos.
std::optional<int> fixedNumber(std::string_view text, std::size_t& pos, std::size_t digits) {
  if (pos + digits > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += digits;
  return value;
}

bool take(std::string_view text, std::size_t& pos, char c) {
  if (pos < text.size() && text[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

std::optional<std::int64_t> parseSpan(std::string_view text) {
  std::int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t number = 0;
    const auto [end, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), number);
    if (ec != std::errc() || number < 0 || end == text.data() + text.size()) return std::nullopt;
    pos = static_cast<std::size_t>(end - text.data());
    std::int64_t unit = 0;
    switch (text[pos++]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = std::int64_t{7} * 86400;
        break;
      default:
        return std::nullopt;
    }
    // Beyond a century is a typo. The total is bounded too: several parts of a century each
    // would overflow the count of nanoseconds (and "now" minus it).
    if (number > kCenturySeconds / unit) return std::nullopt;
    total += number * unit;
    if (total > kCenturySeconds) return std::nullopt;
  }
  return total * kNsPerSecond;
}

// YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][Z|(+|-)HH[:MM]]
std::optional<std::int64_t> parseIso(std::string_view text) {
  std::size_t pos = 0;
  tm fields{};
  const auto year = fixedNumber(text, pos, 4);
  if (!year || !take(text, pos, '-')) return std::nullopt;
  const auto month = fixedNumber(text, pos, 2);
  if (!month || !take(text, pos, '-')) return std::nullopt;
  const auto day = fixedNumber(text, pos, 2);
  if (!day) return std::nullopt;
  fields.tm_year = *year - 1900;
  fields.tm_mon = *month - 1;
  fields.tm_mday = *day;
  std::int64_t fractionNs = 0;
  if (take(text, pos, 'T') || take(text, pos, ' ')) {
    const auto hour = fixedNumber(text, pos, 2);
    if (!hour || !take(text, pos, ':')) return std::nullopt;
    const auto minute = fixedNumber(text, pos, 2);
    if (!minute) return std::nullopt;
    fields.tm_hour = *hour;
    fields.tm_min = *minute;
    if (take(text, pos, ':')) {
      const auto second = fixedNumber(text, pos, 2);
      if (!second) return std::nullopt;
      fields.tm_sec = *second;
      if (take(text, pos, '.') || take(text, pos, ',')) {
        std::int64_t scale = kNsPerSecond / 10;
        const std::size_t first = pos;
        for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
          fractionNs += (text[pos] - '0') * scale;
          scale /= 10;
        }
        if (pos == first) return std::nullopt;
      }
    }
  }
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || fields.tm_hour > 23 ||
      fields.tm_min > 59 || fields.tm_sec > 60) {
    return std::nullopt;
  }
  const tm asGiven = fields;
  std::optional<std::int64_t> offsetSeconds;  // absent: local time
  if (take(text, pos, 'Z') || take(text, pos, 'z')) {
    offsetSeconds = 0;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos++] == '-' ? -1 : 1;
    const auto hours = fixedNumber(text, pos, 2);
    if (!hours) return std::nullopt;
    take(text, pos, ':');
    int minutes = 0;
    if (pos < text.size()) {
      const auto m = fixedNumber(text, pos, 2);
      if (!m) return std::nullopt;
      minutes = *m;
    }
    if (*hours > 23 || minutes > 59) return std::nullopt;
    offsetSeconds = sign * (*hours * 3600 + minutes * 60);
  }
  if (pos != text.size()) return std::nullopt;

  time_t seconds = 0;
  if (offsetSeconds) {
    seconds = timegm(&fields);
    // timegm normalizes 2026-02-31 into March: refuse dates that do not exist.
    if (fields.tm_mday != asGiven.tm_mday || fields.tm_mon != asGiven.tm_mon) return std::nullopt;
    seconds -= *offsetSeconds;
  } else {
    fields.tm_isdst = -1;
    seconds = mktime(&fields);
    if (seconds == static_cast<time_t>(-1) || fields.tm_mday != asGiven.tm_mday ||
        fields.tm_mon != asGiven.tm_mon) {
      return std::nullopt;
    }
  }
  // A date the log's clock cannot count to (year 9999) is refused, not wrapped around.
  if (seconds < kMinSeconds || seconds > kMaxSeconds) return std::nullopt;
  return static_cast<std::int64_t>(seconds) * kNsPerSecond + fractionNs;
}

// Local midnight `daysFromToday` days from the day of `nowNs` (mktime counts the days, so a
// day of 23 or 25 hours at a DST change is still midnight to midnight).
std::optional<std::int64_t> localMidnight(std::int64_t nowNs, int daysFromToday, int hour = 0,
                                          int minute = 0, int second = 0) {
  const time_t now = static_cast<time_t>(nowNs / kNsPerSecond - (nowNs % kNsPerSecond < 0));
  tm fields{};
  if (localtime_r(&now, &fields) == nullptr) return std::nullopt;
  fields.tm_mday += daysFromToday;
  fields.tm_hour = hour;
  fields.tm_min = minute;
  fields.tm_sec = second;
  fields.tm_isdst = -1;
  const time_t seconds = mktime(&fields);
  if (seconds == static_cast<time_t>(-1)) return std::nullopt;
  return static_cast<std::int64_t>(seconds) * kNsPerSecond;
}

// HH:MM[:SS]: that time today, local.
std::optional<std::int64_t> parseClockTime(std::string_view text, std::int64_t nowNs) {
  std::size_t pos = 0;
  const auto hour = fixedNumber(text, pos, 2);
  if (!hour || !take(text, pos, ':')) return std::nullopt;
  const auto minute = fixedNumber(text, pos, 2);
  if (!minute) return std::nullopt;
  int second = 0;
  if (take(text, pos, ':')) {
    const auto s = fixedNumber(text, pos, 2);
    if (!s) return std::nullopt;
    second = *s;
  }
  if (pos != text.size() || *hour > 23 || *minute > 59 || second > 59) return std::nullopt;
  return localMidnight(nowNs, 0, *hour, *minute, second);
}

tm localFields(std::int64_t ns) {
  const time_t seconds = static_cast<time_t>(ns / kNsPerSecond - (ns % kNsPerSecond < 0));
  tm fields{};
  localtime_r(&seconds, &fields);
  return fields;
}

}  // namespace

std::expected<std::int64_t, std::string> parseTimeBound(std::string_view text, std::int64_t nowNs) {
  if (text == "now") return nowNs;
  if (text == "today") {
    if (auto midnight = localMidnight(nowNs, 0)) return *midnight;
  } else if (text == "yesterday") {
    if (auto midnight = localMidnight(nowNs, -1)) return *midnight;
  } else if (text == "tomorrow") {
    if (auto midnight = localMidnight(nowNs, 1)) return *midnight;
  } else if (!text.empty() && text.front() >= '0' && text.front() <= '9') {
    if (auto span = parseSpan(text)) return nowNs - *span;
    if (auto time = parseClockTime(text, nowNs)) return *time;
    if (auto time = parseIso(text)) return *time;
  }
  return std::unexpected("invalid time '" + std::string(text) +
                         "': expected today, yesterday, now, a span back from now such as 90s, "
                         "30m, 1h, 2d, 1w or 1h30m, a time today such as 14:00, or a date or "
                         "time such as 2026-05-01, 2026-05-01 14:00 or 2026-05-01T12:00:00Z");
}

std::expected<TimeRange, std::string> parseTimeRange(const std::optional<std::string>& since,
                                                     const std::optional<std::string>& until,
                                                     std::int64_t nowNs) {
  TimeRange range;
  if (since) {
    auto start = parseTimeBound(*since, nowNs);
    if (!start) return std::unexpected("--since: " + start.error());
    range.sinceNs = *start;
  }
  if (until) {
    auto end = parseTimeBound(*until, nowNs);
    if (!end) return std::unexpected("--until: " + end.error());
    range.untilNs = *end;
  }
  if (range.sinceNs && range.untilNs && *range.untilNs <= *range.sinceNs) {
    return std::unexpected("--until " + *until + " (" + localTime(*range.untilNs) +
                           ") is not after --since " + *since + " (" + localTime(*range.sinceNs) +
                           "): no row can be in between");
  }
  return range;
}

std::optional<std::int64_t> parseDurationNs(std::string_view text) { return parseSpan(text); }

std::string localTime(std::int64_t ns) {
  const tm fields = localFields(ns);
  char buffer[32];
  strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &fields);
  return buffer;
}

std::string isoTime(std::int64_t ns) {
  const tm fields = localFields(ns);
  char date[32];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &fields);
  const long offset = fields.tm_gmtoff;
  const long absolute = offset < 0 ? -offset : offset;
  const auto millis = ((ns % kNsPerSecond) + kNsPerSecond) % kNsPerSecond / 1'000'000;
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s.%03lld%c%02ld:%02ld", date,
                static_cast<long long>(millis), offset < 0 ? '-' : '+', absolute / 3600,
                absolute % 3600 / 60);
  return buffer;
}

std::string formatAge(std::int64_t ns) {
  const std::int64_t s = ns > 0 ? ns / kNsPerSecond : 0;
  char buffer[48];
  if (s < 60) {
    std::snprintf(buffer, sizeof buffer, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buffer, sizeof buffer, "%lldm %02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buffer, sizeof buffer, "%lldh %02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(buffer, sizeof buffer, "%lldd %lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  }
  return buffer;
}

}  // namespace warden::cli
