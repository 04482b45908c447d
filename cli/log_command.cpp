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
#include "cli/time_text.h"
#include "db/log_query.h"

namespace warden::cli {
namespace {

constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kFollowBacklog = 10;  // rows shown before following, as journalctl -f
constexpr int kPollIntervalMs = 250;        // the writer commits every 100 ms
constexpr std::size_t kFollowBatch = 1000;

// Prints rows in the order given: a table (its header once, rows that arrive later laid out
// with the widths of the first) or NDJSON.
class LogPrinter {
 public:
  LogPrinter(bool json, bool follow, std::ostream& out)
      : json_(json), follow_(follow), table_(logTable(follow)), out_(out) {}

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
    for (;;) {
      auto rows = db::queryLogAfter(db, lastId, batch);
      if (!rows) return report({ExitCode::kError, rows.error().message()}, err);
      if (rows->empty()) break;
      lastId = rows->back().id;
      printer.printMore(*rows);
      if (rows->size() < batch.limit) break;
    }
    out.flush();
    const int ready = poll(&wait, 1, kPollIntervalMs);
    if (ready > 0) break;  // SIGINT or SIGTERM: the user is done
    if (ready < 0 && errno != EINTR) break;
  }
  return toInt(ExitCode::kOk);
}

}  // namespace

int runLog(const std::filesystem::path& configPath, const LogOptions& options, std::ostream& out,
           std::ostream& err) {
  auto config = readConfig(configPath, err);
  if (!config) return report(config.error(), err);
  auto db = openLogDatabase(*config);
  if (!db) return report(db.error(), err);

  db::LogFilter filter{options.profile, options.action, options.sinceNs,
                       options.limit.value_or(options.follow ? kFollowBacklog : kDefaultLimit)};
  auto rows = db::queryLog(*db, filter);
  if (!rows) return report({ExitCode::kError, rows.error().message()}, err);

  LogPrinter printer(options.json, options.follow, out);
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

Command addLogCommand(CLI::App& app, std::string& configPath) {
  CLI::App* log =
      addSubcommand(app, "log", "The verdict log, newest first; -f follows new rows", configPath);
  // As in most tools, an option given twice takes its last value (aliases, scripts).
  log->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  auto options = std::make_shared<LogOptions>();
  log->add_flag("-f,--follow", options->follow,
                "show the last rows, then new ones as they are written, until Ctrl-C");
  log->add_option("--profile", options->profile, "only flows of processes with this profile");
  log->add_option_function<std::string>(
         "--action",
         [options](const std::string& text) { options->action = rules::parseAction(text); },
         "only flows decided this way")
      ->check(CLI::IsMember({"allow", "deny", "reject"}));
  log->add_option_function<std::string>(
         "--since",
         [options](const std::string& text) {
           if (auto since = parseSince(text, base::realtimeNs())) options->sinceNs = *since;
         },
         "only flows from this time on: a span back from now (90s, 30m, 1h, 2d, 1w) or a date "
         "or time (2026-05-01, 2026-05-01T12:00, with Z or +02:00 for other than local time)")
      ->check(CLI::Validator(
          [](std::string& text) {
            auto since = parseSince(text, base::realtimeNs());
            return since ? std::string() : since.error();
          },
          "", "time"))
      ->type_name("TIME");
  log->add_option("-n,--limit", options->limit,
                  "at most this many rows (default 100; with -f, the last 10 before following); "
                  "0 for no limit")
      ->check(CLI::NonNegativeNumber);
  log->add_flag("--json", options->json, "one JSON object per row and line (NDJSON)");
  return {log,
          [&configPath, options] { return runLog(configPath, *options, std::cout, std::cerr); }};
}

}  // namespace warden::cli
