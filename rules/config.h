#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "rules/diagnostic.h"
#include "rules/rule.h"
#include "rules/verdict.h"

namespace warden::rules {

enum class FailMode : std::uint8_t { kOpen, kClosed };

// The engine configuration, warden.toml (SPEC section 2). Relative paths in the file are
// resolved against the directory holding the file, so a checkout or a test directory
// works the same as /etc/warden.
struct Config {
  std::filesystem::path file;  // the warden.toml this came from

  // [engine]
  Mode mode = Mode::kEnforce;
  Action defaultAction = Action::kAllow;
  Action unknownAction = Action::kDeny;
  Action kernelAction = Action::kAllow;
  FailMode fail = FailMode::kOpen;
  std::vector<std::uint16_t> queues = {0};  // consecutive, ascending
  bool inbound = true;
  // Read the DNS replies of accepted flows to learn remote host names (for `host` rules and
  // the log's host column). Off: no flow has a host name, so no `host` rule matches.
  bool dns = true;
  // `invalid`: drop (true, the default) or accept the packets conntrack calls invalid (no flow
  // they could belong to, such as TCP segments with impossible flags). Counted either way.
  bool dropInvalid = true;
  // Conntrack-mark bits warden owns (at least two bits); other bits are preserved.
  std::uint32_t markMask = 0x00f00000;
  std::uint32_t queueMaxLen = 4096;  // packets waiting in each kernel queue
  // Kernel-held verdicts (SPEC section 12): decisions also kept in eBPF maps, so that a known
  // process's repeat flows are decided at the syscall; each lives at most the TTL (seconds),
  // in a table of at most `entries` (least recently used go first). Needs eBPF attribution.
  bool kernelVerdicts = true;
  std::uint32_t kernelVerdictsTtlS = 600;
  std::uint32_t kernelVerdictsEntries = 16384;

  // [attribution]
  bool ebpf = true;
  std::string cgroup = "auto";
  std::uint32_t flowEntries = 65536;  // flow_entries: size of the eBPF flow map (LRU)

  // [log]
  std::filesystem::path logDb = "/var/lib/warden/warden.db";
  int retentionDays = 30;
  bool logAllowed = true;

  // [profiles]
  std::filesystem::path profilesDir = "/etc/warden/profiles.d";

  // [control]
  std::filesystem::path controlSocket = "/run/warden/control.sock";

  // [prompt]: while a `warden prompt` client is connected, the first packet of a flow whose
  // process no profile matches waits for its answer at most promptTimeoutS seconds, and at
  // most promptHold such flows wait at once (across every queue).
  std::uint32_t promptTimeoutS = 30;
  std::uint32_t promptHold = 64;

  // [[rule]]
  std::vector<Rule> globalRules;
};

inline constexpr std::string_view kDefaultConfigPath = "/etc/warden/warden.toml";

// Parses warden.toml text. `file` names it in diagnostics and anchors relative paths.
// Errors make the result unexpected; warnings (if any) are appended to `warnings`.
std::expected<Config, Diagnostics> parseConfig(std::string_view text,
                                               const std::filesystem::path& file,
                                               Diagnostics* warnings = nullptr);

// Reads and parses the file; an unreadable file is one diagnostic at line 0.
std::expected<Config, Diagnostics> loadConfig(const std::filesystem::path& file,
                                              Diagnostics* warnings = nullptr);

}  // namespace warden::rules
