#include "cli/log_command.h"

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <ranges>

#include "base/clock.h"
#include "base/unique_fd.h"
#include "cli/config_files.h"
#include "cli/json_output.h"
#include "cli/log_text.h"
#include "cli/option_checks.h"
#include "cli/time_text.h"
#include "db/log_query.h"

namespace warden::cli {
namespace {

constexpr std::size_t kDefaultLimit = 100;
// More rows than any log keeps; a larger number is a typo (0 asks for every row).
constexpr std::int64_t kMaxLimit = 1'000'000'000;
constexpr std::size_t kFollowBacklog = 10;  // rows shown before following, as journalctl -f
constexpr int kPollIntervalMs = 250;        // the writer commits every 100 ms
constexpr std::size_t kFollowBatch = 1000;
// How long after --until `-f` still looks for rows timed before it: the writer batches rows
// for 100 ms, and a busy one falls behind a little.
constexpr std::int64_t kCommitDelayNs = 2'000'000'000;

// Prints rows in the order given: a table (its header once, rows that arrive later laid out
// with the widths of the first) or NDJSON.
class LogPrinter {
 public:
  LogPrinter(bool json, bool follow, std::ostream& out, const Palette& palette)
      : json_(json), follow_(follow), table_(logTable(follow)), out_(out) {
    table_.paint(palette);
  }

  void printFirst(const std::vector<db::LogEntry>& entries) {
    if (json_) {
      printMore(entries);
      return;
    }
    for (const auto& e : entries) table_.addRow(logCells(e));
    widths_ = table_.widths();
    if (table_.rowCount() > 0 || follow_) {
      table_.print(out_);
    } else {
      out_ << "(no matching rows)\n";
    }
  }

  void printMore(const std::vector<db::LogEntry>& entries) {
    for (const auto& e : entries) {
      out_ << (json_ ? jsonLine(logJson(e)) : table_.formatRow(logCells(e), widths_)) << '\n';
    }
  }

 private:
  bool json_;
  bool follow_;
  Table table_;
  std::vector<std::size_t> widths_;
  std::ostream& out_;
};

// SIGINT and SIGTERM as a file descriptor, so that the wait between polls ends at once.
Outcome<base::UniqueFd> stopSignals() {
  auto fd = base::makeSignalFd({SIGINT, SIGTERM});
  if (!fd) return std::unexpected(Failure{ExitCode::kError, fd.error().message()});
  return std::move(*fd);
}

int follow(db::Database& db, const db::LogFilter& filter, std::int64_t lastId, LogPrinter& printer,
           std::ostream& out, std::ostream& err) {
  auto stop = stopSignals();
  if (!stop) return report(stop.error(), err);
  db::LogFilter batch = filter;
  batch.limit = kFollowBatch;
  pollfd wait{stop->get(), POLLIN, 0};
  while (out) {
    // Past --until and the rows before it committed: one last look, then done.
    const bool last = filter.untilNs && base::realtimeNs() > *filter.untilNs + kCommitDelayNs;
    for (;;) {
      auto rows = db::queryLogAfter(db, lastId, batch);
      if (!rows) return report({ExitCode::kError, rows.error().message()}, err);
      if (rows->empty()) break;
      lastId = rows->back().id;
      printer.printMore(*rows);
      if (rows->size() < batch.limit) break;
    }
    out.flush();
    if (last) break;
    const int ready = poll(&wait, 1, kPollIntervalMs);
    if (ready > 0) break;  // SIGINT or SIGTERM: the user is done
    if (ready < 0 && errno != EINTR) break;
  }
  return toInt(ExitCode::kOk);
}

}  // namespace

int runLog(const std::filesystem::path& configPath, const LogOptions& options, std::ostream& out,
           std::ostream& err, const Palette& palette) {
  const bool json = options.json;
  auto range = parseTimeRange(options.since, options.until, base::realtimeNs());
  if (!range) return reportFailure({ExitCode::kUsage, range.error()}, json, out, err);
  auto config = readConfig(configPath, err);
  if (!config) return reportFailure(config.error(), json, out, err);
  auto db = openLogDatabase(*config);
  if (!db) return reportFailure(db.error(), json, out, err);

  db::LogFilter filter{options.profile, options.action, range->sinceNs, range->untilNs,
                       options.limit.value_or(options.follow ? kFollowBacklog : kDefaultLimit)};
  auto rows = db::queryLog(*db, filter);
  if (!rows) return reportFailure({ExitCode::kError, rows.error().message()}, json, out, err);

  LogPrinter printer(json, options.follow, out, palette);
  if (!options.follow) {
    printer.printFirst(*rows);
    return toInt(ExitCode::kOk);
  }
  // Following reads like a journal: oldest at the top, new rows appended below.
  std::reverse(rows->begin(), rows->end());
  printer.printFirst(*rows);
  std::int64_t lastId = 0;
  for (const auto& row : *rows) lastId = std::max(lastId, row.id);
  return follow(*db, filter, lastId, printer, out, err);
}

Command addLogCommand(CLI::App& app, std::string& configPath, const OutputOptions& output) {
  CLI::App* log =
      addSubcommand(app, "log", "The verdict log, newest first; -f follows new rows", configPath);
  // As in most tools, an option given twice takes its last value (aliases, scripts).
  log->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  auto options = std::make_shared<LogOptions>();
  log->add_flag("-f,--follow", options->follow,
                "show the last rows, then new ones as they are written, until Ctrl-C (or until "
                "--until has passed)");
  log->add_option("--profile", options->profile, "only flows of processes with this profile");
  log->add_option_function<std::string>(
         "--action",
         [options](const std::string& text) { options->action = rules::parseAction(text); },
         "only flows decided this way: allow, deny or reject")
      ->check(oneOf({"allow", "deny", "reject"}))
      ->type_name("ACTION");
  // Checked here for the form, so that a typo is a usage error at once; read in runLog with
  // one "now" for both bounds.
  const CLI::Validator time(
      [](std::string& text) {
        auto bound = parseTimeBound(text, base::realtimeNs());
        return bound ? std::string() : bound.error();
      },
      "", "time");
  log->add_option("--since", options->since,
                  "only flows from this time on: today, yesterday, a span back from now (90s, "
                  "30m, 1h, 2d, 1w), a time today (14:00) or a date or time (2026-05-01, "
                  "2026-05-01 14:00, with Z or +02:00 for other than local time)")
      ->check(time)
      ->type_name("TIME");
  log->add_option("--until", options->until,
                  "only flows before this time, in the forms of --since; with -f, stop "
                  "following once it has passed")
      ->check(time)
      ->type_name("TIME");
  log->add_option("-n,--limit", options->limit,
                  "at most this many rows (default 100; with -f, the last 10 before following); "
                  "0 for no limit")
      ->check(wholeNumber(0, kMaxLimit))
      ->type_name("N");
  log->add_flag("--json", options->json, "one JSON object per row and line (NDJSON)");
  return {log, [&configPath, &output, options] {
            const bool pageable = !options->json && !options->follow;
            return printPaged(output, pageable, [&](std::ostream& out, const Palette& palette) {
              return runLog(configPath, *options, out, std::cerr,
                            options->json ? Palette() : palette);
            });
          }};
}

}  // namespace warden::cli
