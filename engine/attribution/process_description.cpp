#include "engine/attribution/process_description.h"

#include <unistd.h>

namespace warden::engine {

std::uint64_t clockTicksPerSecond() {
  static const std::uint64_t ticks = [] {
    const long value = sysconf(_SC_CLK_TCK);
    return value > 0 ? static_cast<std::uint64_t>(value) : 100u;
  }();
  return ticks;
}

std::uint64_t ticksFromBootNs(std::uint64_t ns) {
  // What the kernel's nsec_to_clock_t does for /proc/PID/stat: truncating division.
  return ns / (1'000'000'000ull / clockTicksPerSecond());
}

std::string_view toString(ProcessSource source) {
  switch (source) {
    case ProcessSource::kExecEvent:
      return "exec";
    case ProcessSource::kForkEvent:
      return "fork";
    case ProcessSource::kProcScan:
      return "proc";
    case ProcessSource::kOwnerOnly:
      return "socket";
  }
  return "?";
}

std::optional<std::string_view> ProcessDescription::envValue(std::string_view name) const {
  if (!envKnown) return std::nullopt;
  if (env.empty() && match && match->env) {
    auto it = match->env->find(name);
    if (it == match->env->end()) return std::nullopt;
    return std::string_view(it->second);
  }
  for (const std::string& entry : env) {
    if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
        entry[name.size()] == '=') {
      return std::string_view(entry).substr(name.size() + 1);
    }
  }
  return std::nullopt;
}

std::string ProcessDescription::commandLine() const {
  std::string line;
  for (const std::string& arg : argv) {
    if (!line.empty()) line.push_back(' ');
    line += arg;
  }
  return line;
}

std::shared_ptr<const db::LogProcess> loggedProcess(const ProcessDescription& info) {
  if (info.logged) return info.logged;
  auto logged = std::make_shared<db::LogProcess>();
  logged->exe = info.path;
  for (const std::string& arg : info.argv) {
    logged->argv.append(arg);
    logged->argv.push_back('\0');
  }
  logged->tags = db::tagsJson(info.tags);
  return logged;
}

}  // namespace warden::engine
