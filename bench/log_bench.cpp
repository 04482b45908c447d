// Verdict log benchmarks (SPEC section 10: >= 100,000 rows/s sustained, enqueue <= 1 us).
//
//   BM_EnqueueMoveOnly      tryEnqueue of a row built beforehand: the ring's own cost.
//   BM_EnqueueBuildAndMove  what the verdict path pays: copy the strings a row must own from
//                           long-lived process and policy data, then tryEnqueue.
//   BM_EnqueueWhileWriting  the same with the writer thread draining and inserting meanwhile.
//   BM_WriterDrain          the writer's capacity: rings filled beforehand, timed from start()
//                           until stop() returns with every row committed; rows/cpu-s is the
//                           same per second of CPU, which other load on the machine does not
//                           change. With every row's argv the same, or every one different.
//   BM_WriterSustained      an offered load (rows/s, paced by two producer threads like two
//                           NFQUEUE workers) for one second: rows written per second and the
//                           share dropped.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "db/log_writer.h"
#include "db/store.h"

namespace warden::db {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

class TempDb {
 public:
  TempDb() {
    std::string pattern = (std::filesystem::temp_directory_path() / "warden-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    dir_ = pattern;
  }
  ~TempDb() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::unique_ptr<LogWriter> writer(const LogWriterOptions& options) {
    auto db = openStore(dir_ / "warden.db");
    if (!db) std::abort();
    auto writer = LogWriter::create(std::move(*db), options);
    if (!writer) std::abort();
    return std::move(*writer);
  }

 private:
  std::filesystem::path dir_;
};

// What the engine keeps per process and per policy, outliving any one flow.
struct ProcessInfo {
  std::shared_ptr<const LogProcess> logged = std::make_shared<const LogProcess>(
      LogProcess{"/usr/lib/firefox-esr/firefox-esr",
                 "/usr/lib/firefox-esr/firefox-esr\0-contentproc\0-childID\0"
                 "7\0-isForBrowser\0-prefsLen\0"
                 "31034\0tab\0"s,
                 tagsJson({"systemd:session-2.scope"})});
  std::shared_ptr<const std::string> profile = std::make_shared<const std::string>("firefox");
  std::string host = "detectportal.firefox.com";
};

LogRow makeRow(const ProcessInfo& process, std::uint16_t port) {
  LogRow row;
  row.timeNs = warden::base::realtimeNs();
  row.revision = 1;
  row.localAddr = warden::rules::IpAddress::v4(10, 0, 0, 2);
  row.remoteAddr = warden::rules::IpAddress::v4(192, 0, 2, 10);
  row.localPort = port;
  row.remotePort = 443;
  row.ipProto = 6;
  row.pid = 4242;
  row.processStartNs = 987654321;
  row.uid = 1000;
  row.latencyNs = 1800;
  row.decidedBy = DecidedBy::kProfileRule;
  row.ruleIndex = 2;
  row.host = process.host;
  row.process = process.logged;
  row.profile = process.profile;
  return row;
}

double processCpuSeconds() {
  return static_cast<double>(base::clockNs(CLOCK_PROCESS_CPUTIME_ID)) / 1e9;
}

void reportCounters(benchmark::State& state, const LogCounters& c) {
  state.counters["written"] = static_cast<double>(c.written);
  state.counters["dropped"] = static_cast<double>(c.dropped);
  state.counters["batches"] = static_cast<double>(c.batches);
}

constexpr int kEnqueueRows = 50'000;

void BM_EnqueueMoveOnly(benchmark::State& state) {
  TempDb db;
  auto log = db.writer({.ringCapacity = kEnqueueRows, .retentionDays = 0});
  LogProducer producer = log->producer();
  const ProcessInfo process;
  std::vector<LogRow> rows;
  rows.reserve(kEnqueueRows);
  for (int i = 0; i < kEnqueueRows; ++i) rows.push_back(makeRow(process, std::uint16_t(i)));
  std::size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(producer.tryEnqueue(std::move(rows[next++])));
  }
  state.SetItemsProcessed(state.iterations());
  log->stop();
  reportCounters(state, log->counters());
}
BENCHMARK(BM_EnqueueMoveOnly)->Iterations(kEnqueueRows)->Repetitions(5);

void BM_EnqueueBuildAndMove(benchmark::State& state) {
  TempDb db;
  auto log = db.writer({.ringCapacity = kEnqueueRows, .retentionDays = 0});
  LogProducer producer = log->producer();
  const ProcessInfo process;
  std::uint16_t port = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(producer.tryEnqueue(makeRow(process, port++)));
  }
  state.SetItemsProcessed(state.iterations());
  log->stop();
  reportCounters(state, log->counters());
}
BENCHMARK(BM_EnqueueBuildAndMove)->Iterations(kEnqueueRows)->Repetitions(5);

void BM_EnqueueWhileWriting(benchmark::State& state) {
  TempDb db;
  auto log = db.writer({.ringCapacity = kEnqueueRows, .flushInterval = 10ms, .retentionDays = 0});
  log->start();
  LogProducer producer = log->producer();
  const ProcessInfo process;
  std::uint16_t port = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(producer.tryEnqueue(makeRow(process, port++)));
  }
  state.SetItemsProcessed(state.iterations());
  log->stop();
  reportCounters(state, log->counters());
}
BENCHMARK(BM_EnqueueWhileWriting)->Iterations(kEnqueueRows)->Repetitions(5);

void BM_WriterDrain(benchmark::State& state) {
  const auto rowsPerRing = static_cast<int>(state.range(0));
  // 0: every row from the same process (argv encoded once, as for a browser's many flows);
  // 1: every row from a different command line (each one scrubbed and encoded).
  const bool uniqueArgv = state.range(1) != 0;
  const ProcessInfo process;
  std::uint64_t rows = 0;
  double cpuSeconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    TempDb db;
    auto log =
        db.writer({.ringCapacity = static_cast<std::size_t>(rowsPerRing), .retentionDays = 0});
    // Two rings, as two NFQUEUE workers would fill them.
    LogProducer first = log->producer();
    LogProducer second = log->producer();
    for (int i = 0; i < rowsPerRing; ++i) {
      LogRow a = makeRow(process, std::uint16_t(i));
      LogRow b = makeRow(process, std::uint16_t(i));
      if (uniqueArgv) {  // every row a process of its own
        a.process = std::make_shared<const LogProcess>(
            LogProcess{process.logged->exe, process.logged->argv + "a" + std::to_string(i) + '\0',
                       process.logged->tags});
        b.process = std::make_shared<const LogProcess>(
            LogProcess{process.logged->exe, process.logged->argv + "b" + std::to_string(i) + '\0',
                       process.logged->tags});
      }
      first.tryEnqueue(std::move(a));
      second.tryEnqueue(std::move(b));
    }
    const double cpuBefore = processCpuSeconds();
    state.ResumeTiming();
    log->start();
    log->stop();
    state.PauseTiming();
    // The main thread sleeps in join(): the process's CPU time is the writer's.
    cpuSeconds += processCpuSeconds() - cpuBefore;
    const LogCounters c = log->counters();
    if (c.written != 2u * rowsPerRing) state.SkipWithError("not every row was written");
    rows += c.written;
    reportCounters(state, c);
    log.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(rows));
  // Independent of other load on the machine, unlike items_per_second (wall clock).
  state.counters["rows/cpu-s"] = static_cast<double>(rows) / cpuSeconds;
}
BENCHMARK(BM_WriterDrain)
    ->ArgNames({"rows_per_ring", "unique_argv"})
    ->Args({50'000, 0})
    ->Args({50'000, 1})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_WriterSustained(benchmark::State& state) {
  const auto rate = static_cast<double>(state.range(0));  // rows/s offered in total
  constexpr int kProducers = 2;
  constexpr auto kDuration = 1s;
  const ProcessInfo process;
  std::uint64_t written = 0;
  std::uint64_t dropped = 0;
  for (auto _ : state) {
    TempDb db;
    auto log = db.writer({.retentionDays = 0});
    log->start();
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, producer = log->producer()]() mutable {
        // Paced in bursts of 64 rows, sleeping until each burst is due.
        const auto period = std::chrono::duration<double>(64.0 * kProducers / rate);
        const auto start = std::chrono::steady_clock::now();
        std::uint16_t port = 0;
        for (int burst = 0;; ++burst) {
          const auto due =
              start + std::chrono::duration_cast<std::chrono::nanoseconds>(period * burst);
          if (due - start >= kDuration) break;
          std::this_thread::sleep_until(due);
          for (int i = 0; i < 64; ++i) producer.tryEnqueue(makeRow(process, port++));
        }
      });
    }
    for (auto& producer : producers) producer.join();
    log->stop();
    const LogCounters c = log->counters();
    written += c.written;
    dropped += c.dropped;
    reportCounters(state, c);
  }
  state.counters["written/s"] =
      benchmark::Counter(static_cast<double>(written), benchmark::Counter::kIsRate);
  state.counters["dropped%"] =
      100.0 * static_cast<double>(dropped) / static_cast<double>(written + dropped);
}
BENCHMARK(BM_WriterSustained)
    ->Arg(100'000)
    ->Arg(150'000)
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace warden::db
