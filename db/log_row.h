#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "db/log_host.h"
#include "rules/address.h"
#include "rules/config.h"
#include "rules/verdict.h"

namespace warden::db {

// What decided a flow (SPEC section 4), as the log records it.
enum class DecidedBy : std::uint8_t {
  kGlobalRule,      // a [[rule]] of warden.toml; LogRow::ruleIndex says which
  kProfileRule,     // a [[rule]] of LogRow::profile; LogRow::ruleIndex says which
  kProfileDefault,  // LogRow::profile's `default`
  kEngineDefault,   // [engine] default: no profile, or a profile without a default
  kUnknown,         // socket owned but no process attributable: [engine] unknown
  kKernel,          // no owning socket: [engine] kernel
  kPrompt,          // answered through `warden prompt`
};

inline constexpr std::uint32_t kNoUid = 0xffffffff;  // (uid_t)-1, as the kernel spells "none"

// What the log records of a process: built once when the process is described (off the
// verdict path) and shared by every row of that process, which holds a reference to it rather
// than copies of its strings.
struct LogProcess {
  std::string exe;   // executable path; empty: unknown
  std::string argv;  // raw, NUL-separated as in /proc/PID/cmdline; scrubbed when stored
  std::string tags;  // JSON array of the process's tags (tagsJson); empty: none
};

// The stored form of a process's tags: a JSON array of strings, or empty for none. Made once
// when the process is described, so the writer binds it as it is.
std::string tagsJson(const std::vector<std::string>& tags);

// One verdict-log row as the verdict path hands it over (SPEC section 7). Numbers, addresses
// and the host name are inline (see LogHost for names too long for that); the profile's name
// and the process's strings are shared, so the verdict path copies no string and only counts
// references. Empty or null means unknown. Everything costly (address text, argv scrubbing and
// JSON) is done by the writer thread, off the verdict path.
struct LogRow {
  std::int64_t timeNs = 0;    // CLOCK_REALTIME, ns since the Unix epoch
  std::int64_t revision = 0;  // policy revision in force (0: none stored)
  rules::IpAddress localAddr;
  rules::IpAddress remoteAddr;
  std::uint64_t processStartNs = 0;  // ns since boot; with pid, identifies the process
  std::int32_t pid = 0;              // 0: no process attributed
  std::uint32_t uid = kNoUid;
  std::uint32_t latencyNs = 0;  // packet read to verdict chosen; stored in microseconds
  std::int32_t ruleIndex = -1;  // with kGlobalRule / kProfileRule: 0-based rule position
  std::uint16_t localPort = 0;
  std::uint16_t remotePort = 0;
  std::uint8_t ipProto = 0;  // IPPROTO_TCP, IPPROTO_UDP, ...
  rules::Direction direction = rules::Direction::kOut;
  rules::Action action = rules::Action::kAllow;  // the decision, even when learn mode accepted
  rules::Mode mode = rules::Mode::kEnforce;
  DecidedBy decidedBy = DecidedBy::kEngineDefault;

  LogHost host;  // remote host name learned from DNS
  // The process's profile; null: none. Shared with the policy that decided (which a reload may
  // drop before the writer reads the row): see rules::Decision::profileName.
  std::shared_ptr<const std::string> profile;
  std::shared_ptr<const LogProcess> process;  // null: no process described
};

}  // namespace warden::db
