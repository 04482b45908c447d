// The policy as wardend loads it, from text: warden.toml, then the profiles.d files, validated
// across files (names, lint), compiled, and a few flows decided with it.
//
// Input: the files' texts one after the other, split at lines "#%%" (a TOML comment, so every
// seed is readable TOML): the first is warden.toml, each further one a profiles.d file (at
// most kMaxProfileFiles). warden.toml is parsed from its text; the profiles are written to a
// directory of this process's own and loaded through the real loader (rules::loadPolicy), which
// opens, checks and reads files, so the path is the daemon's. The configuration's own
// `[profiles] dir` is replaced by that directory.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "rules/compiled_policy.h"
#include "rules/config.h"
#include "rules/policy.h"

namespace {

namespace fs = std::filesystem;
using namespace warden::rules;

constexpr std::string_view kSeparator = "\n#%%\n";
constexpr std::size_t kMaxProfileFiles = 8;

fs::path& workDirectory() {
  static fs::path directory;
  return directory;
}

void removeWorkDirectory() {
  std::error_code ignored;
  fs::remove_all(workDirectory(), ignored);
}

std::vector<std::string_view> splitFiles(std::string_view input) {
  std::vector<std::string_view> files;
  for (;;) {
    const std::size_t at = input.find(kSeparator);
    if (at == std::string_view::npos || files.size() == kMaxProfileFiles) break;
    files.push_back(input.substr(0, at));
    input.remove_prefix(at + kSeparator.size());
  }
  files.push_back(input);
  return files;
}

void writeProfiles(const fs::path& directory, const std::vector<std::string_view>& files) {
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(directory)) fs::remove(entry.path(), ignored);
  for (std::size_t i = 1; i < files.size(); ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%02zu.toml", i);
    std::ofstream out(directory / name, std::ios::binary);
    out.write(files[i].data(), static_cast<std::streamsize>(files[i].size()));
    if (!out) std::abort();  // the fuzzer's own directory must be writable
  }
}

void decideSomeFlows(const CompiledPolicy& policy) {
  ProcessInfo process;
  process.path = "/usr/bin/curl";
  process.setArgv({"curl", "--proxy", "http://192.0.2.1:3128", "https://example.org/"});
  process.env = Environment{{"HOME", "/root"}, {"DISPLAY", ":0"}};
  process.tags = std::vector<std::string>{"flatpak:org.mozilla.firefox"};
  process.uid = 1000;
  process.user = "alice";
  process.ancestors = std::vector<std::string>{"/usr/bin/bash", "/usr/sbin/cron"};

  Flow flow;
  flow.ipProto = 6;
  flow.local = IpAddress::v4(192, 0, 2, 2);
  flow.remote = IpAddress::v4(198, 51, 100, 7);
  flow.localPort = 40000;
  flow.remotePort = 443;
  flow.host = "www.example.org";
  (void)policy.decide(Subject::process(process), flow);
  (void)policy.decide(Subject::unknown(), flow);
  flow.direction = Direction::kIn;
  flow.ipProto = 17;
  flow.remote = *IpAddress::parse("2001:db8::1");
  flow.local = *IpAddress::parse("::1");
  flow.host = {};
  (void)policy.decide(Subject::process(process), flow);
  (void)policy.decide(Subject::kernel(), flow);
  (void)policy.decideUnreadable();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/warden-fuzz-policy.XXXXXX";
  if (!mkdtemp(pattern.data())) std::abort();
  workDirectory() = pattern;
  fs::create_directory(workDirectory() / "profiles.d");
  std::atexit(removeWorkDirectory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::string_view> files =
      splitFiles(std::string_view(reinterpret_cast<const char*>(data), size));
  const fs::path profiles = workDirectory() / "profiles.d";
  writeProfiles(profiles, files);

  Diagnostics warnings;
  auto config = parseConfig(files[0], workDirectory() / "warden.toml", &warnings);
  // A broken warden.toml still leaves the profiles to be read, as `warden check` does.
  Config used = config ? std::move(*config) : Config{};
  used.profilesDir = profiles;
  auto policy = loadPolicy(std::move(used), &warnings);
  if (!policy) {
    if (policy.error().empty()) std::abort();  // a refusal says why
    return 0;
  }
  // The compiler may refuse only what the loader refused: a policy that loads, compiles.
  auto compiled = CompiledPolicy::compile(std::move(*policy), 1);
  if (!compiled) std::abort();
  decideSomeFlows(**compiled);
  return 0;
}
