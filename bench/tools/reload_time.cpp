// The policy half of wardend's reload, timed: what Daemon::loadPolicy does between SIGHUP and
// the new snapshot (read and validate every file with warnings, store the revision in SQLite,
// compile), without the kernel's table. bench/policy_size.py runs it over policies of growing
// size to show that reload time is linear in the number of rules.
//
//   reload_time CONFIG DB ROUNDS   ->   {"rules": N, "warnings": W, "seconds": [...],
//                                        "cpu_seconds": [...], "load": [...], ...}
//
// Each round uses a fresh loader (every file parsed, as at start-up).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "db/store.h"
#include "engine/daemon/policy_record.h"
#include "rules/compiled_policy.h"
#include "rules/policy_loader.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int fail(const std::string& message) {
  std::fprintf(stderr, "reload_time: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace warden;
  if (argc != 4) return fail("usage: reload_time CONFIG DB ROUNDS");
  const std::string config = argv[1];
  const int rounds = std::atoi(argv[3]);
  auto store = db::openStore(argv[2]);
  if (!store) return fail(store.error().message());
  std::vector<double> total, cpu, load, record, compile;
  std::size_t rules = 0;
  std::size_t warnings = 0;
  for (int round = 0; round < rounds; ++round) {
    rules::PolicyLoader loader;
    rules::Diagnostics found;
    const std::uint64_t cpuStart = base::clockNs(CLOCK_PROCESS_CPUTIME_ID);
    const auto start = Clock::now();
    auto policy = loader.load(config, &found);
    if (!policy) return fail("the policy has errors: " + policy.error().front().format());
    const auto loaded = Clock::now();
    auto stored = engine::storeRecord(*store, *policy, 0);
    if (!stored) return fail(stored.error().message());
    const auto recorded = Clock::now();
    rules = policy->config.globalRules.size();
    for (const auto& profile : policy->profiles) rules += profile.rules.size();
    auto compiled = rules::CompiledPolicy::compile(std::move(*policy));
    if (!compiled) return fail("cannot compile");
    const auto end = Clock::now();
    warnings = found.size();
    total.push_back(seconds(end - start));
    cpu.push_back(static_cast<double>(base::clockNs(CLOCK_PROCESS_CPUTIME_ID) - cpuStart) / 1e9);
    load.push_back(seconds(loaded - start));
    record.push_back(seconds(recorded - loaded));
    compile.push_back(seconds(end - recorded));
  }
  const nlohmann::json out = {{"rules", rules},     {"warnings", warnings}, {"seconds", total},
                              {"cpu_seconds", cpu}, {"load", load},         {"record", record},
                              {"compile", compile}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
