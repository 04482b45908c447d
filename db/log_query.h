#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "db/database.h"
#include "db/log_row.h"
#include "rules/config.h"
#include "rules/verdict.h"

namespace warden::db {

// Reading the verdict log for `warden log` (SPEC section 8). A read-only connection is enough;
// WAL lets these run while wardend writes. Thread-safety: that of the connection passed in.

struct LogFilter {
  std::optional<std::string> profile = {};   // exact profile name
  std::optional<rules::Action> action = {};  // the decided action
  std::optional<std::int64_t> sinceNs = {};  // rows with time_ns >= this
  std::optional<std::int64_t> untilNs = {};  // rows with time_ns < this
  std::size_t limit = 100;                   // 0: no limit
};

// Where the decision came from in the policy files, when the stored revision knows it.
struct DecisionSource {
  std::string file;
  int line = 0;
  std::string summary;  // the rule's summary, or "default <action>" for a profile default

  bool operator==(const DecisionSource&) const = default;
};

// One stored row, as read back. Texts are as stored (addresses and protocol as words); empty
// strings and absent optionals mean the log did not know.
struct LogEntry {
  std::int64_t id = 0;  // increases with insertion; `warden log -f` resumes after it
  std::int64_t timeNs = 0;
  rules::Direction direction = rules::Direction::kOut;
  std::string protocol;
  std::string localAddr;
  std::uint16_t localPort = 0;
  std::string remoteAddr;
  std::uint16_t remotePort = 0;
  std::string host;
  std::optional<std::int32_t> pid;
  std::optional<std::int64_t> processStartNs;
  std::optional<std::uint32_t> uid;
  std::string exe;
  std::vector<std::string> argv;  // scrubbed
  std::vector<std::string> tags;  // the process's tags (SPEC section 5) when it was described
  std::string profile;
  DecidedBy decidedBy = DecidedBy::kEngineDefault;
  std::optional<int> ruleIndex;
  rules::Action action = rules::Action::kAllow;
  rules::Mode mode = rules::Mode::kEnforce;
  std::int64_t revision = 0;
  double latencyUs = 0;
  std::optional<DecisionSource> source;
};

// Matching rows, newest first (by time, then id), at most filter.limit.
[[nodiscard]] base::Result<std::vector<LogEntry>> queryLog(Database& db, const LogFilter& filter);

// Matching rows with id > afterId, oldest first, at most filter.limit: what `warden log -f`
// polls for after showing the newest rows.
[[nodiscard]] base::Result<std::vector<LogEntry>> queryLogAfter(Database& db, std::int64_t afterId,
                                                                const LogFilter& filter);

// The rows `warden suggest` drafts policy from, oldest first, one at a time (a long log is not
// held in memory): rows of a described process decided by a profile rule, a profile default or
// the engine default that were refused (deny or reject, whatever the mode), and every such row
// of a process without a profile (the profile drafted for it must cover its allowed flows too).
// Global rules, unknown and kernel flows are left out: no profile can change their verdict.
// Returns how many rows were visited.
[[nodiscard]] base::Result<std::size_t> scanDraftableRows(
    Database& db, std::optional<std::int64_t> sinceNs, std::optional<std::int64_t> untilNs,
    const std::function<void(const LogEntry&)>& visit);

}  // namespace warden::db
