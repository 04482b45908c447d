#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "db/log_query.h"
#include "rules/rule.h"
#include "rules/verdict.h"

namespace warden::cli {

// What `warden suggest` drafts from the verdict log (SPEC section 8), before it is written as
// TOML: plain data, made without SQLite, files or root, so that every generalisation is
// unit-tested on rows alone.

// One drafted `[[rule]]`, always `action = "allow"`: it admits flows that were observed.
struct DraftRule {
  rules::Direction direction = rules::Direction::kOut;
  rules::Proto proto = rules::Proto::kAny;
  std::string host = {};                     // a name or "*.domain"; empty: not by name
  std::optional<rules::Scope> scope = {};    // localhost or lan instead of their addresses
  std::vector<std::string> ip = {};          // remote addresses (internet, no name known)
  std::vector<rules::PortRange> ports = {};  // remote port (out) or local port (in); empty: any
  std::size_t flows = 0;                     // log rows it covers

  bool operator==(const DraftRule& other) const;
};

enum class DraftKind : std::uint8_t {
  kNewProfile,  // a process no profile matched: a profile of its own, `default = "deny"`
  kAddition,    // refused flows of a profile: a drop-in (`extends = NAME`) that allows them
};

struct ProfileDraft {
  DraftKind kind = DraftKind::kNewProfile;
  std::string name;  // kNewProfile: unique against the policy and each other; else the extended
  std::string path;  // kNewProfile: the executable
  std::vector<std::string> tags;  // kNewProfile: tags every row of it had that identify it
  // kNewProfile: the file's SHA-256 and where it came from; filled in by the command.
  std::optional<std::string> sha256;
  std::string sha256Note;
  std::vector<DraftRule> rules;
  std::size_t flows = 0;  // log rows behind it
  std::int64_t firstNs = 0;
  std::int64_t lastNs = 0;

  // The file `--out` writes: NAME.toml, or NAME.suggested.toml for an addition.
  std::string fileName() const;
};

// Collects log rows (in any order) and drafts profiles from them. Which rows count:
// - a row of a process without a profile, decided by the engine default: its executable gets
//   a new profile when at least one such row was in learn mode or refused; the profile covers
//   all of them, since its `default = "deny"` would otherwise refuse flows the engine allowed;
// - a refused row (deny or reject, learn mode or not) decided by a profile's rule or default:
//   an addition to that profile;
// - anything else (rows without an executable, allowed rows of a profile, global rules,
//   unknown and kernel flows) is not drafted from: no profile could change its verdict.
// Generalisations, per executable or profile and per (direction, protocol): a host name
// rather than its addresses, "*.D" for several names below one registrable domain
// (cli/host_domain.h), scope localhost or lan rather than such addresses, one rule per
// destination with its ports merged into a list with ranges ("8000-8002" for three or more
// consecutive ports), and remote internet addresses without a name that share the same ports
// merged into one `ip` list. Inbound flows give `direction = "in"` rules on the local port.
// Output order is deterministic: drafts by name, rules by direction, protocol, destination.
class PolicyDrafter {
 public:
  // `takenNames`: profile names of the policy in force, which a new profile must not take.
  explicit PolicyDrafter(std::set<std::string> takenNames) : taken_(std::move(takenNames)) {}

  // A profile of the policy in force whose [[match]] names `path`: rows of that executable
  // logged before the profile existed are put to its rules now (`fallback`: its default, or
  // the engine's). What they allow needs nothing; what they refuse becomes an addition to it,
  // not a second profile for the same program. The first claim of a path holds.
  void claim(const std::string& path, const std::string& profile, std::vector<rules::Rule> rules,
             rules::Action fallback);

  void add(const db::LogEntry& row);
  [[nodiscard]] std::vector<ProfileDraft> finish() const;

  std::size_t rowsUsed() const { return rowsUsed_; }

 private:
  enum class PeerKind : std::uint8_t { kLocalhost, kLan, kHost, kIp, kAny };
  // One destination of one direction and protocol.
  using FlowKey = std::tuple<rules::Direction, rules::Proto, PeerKind, std::string>;
  struct Destination {
    std::set<std::uint16_t> ports;
    std::size_t flows = 0;
  };
  struct Subject {
    bool drafted = false;  // a learn-mode or refused row was seen (new profiles)
    std::optional<std::set<std::string>> tags;  // intersection over rows
    std::map<FlowKey, Destination> destinations;
    std::size_t flows = 0;
    std::int64_t firstNs = 0;
    std::int64_t lastNs = 0;
  };

  static void note(Subject& subject, const db::LogEntry& row);
  static std::vector<DraftRule> draftRules(const Subject& subject);

  struct Claim {
    std::string profile;
    std::vector<rules::Rule> rules;
    rules::Action fallback = rules::Action::kDeny;
  };

  std::set<std::string> taken_;
  std::map<std::string, Claim> claims_;         // by executable path
  std::map<std::string, Subject> executables_;  // by path: processes without a profile
  std::map<std::string, Subject> profiles_;     // by name: refused flows of a profile
  std::size_t rowsUsed_ = 0;
};

// A profile name made from an executable's base name: characters a name may not hold become
// '-', leading ones that may not start a name are dropped ("program" if nothing is left).
std::string profileNameFor(const std::string& executable);

// Ports as rule lists write them: runs of three or more consecutive ports become a range.
std::vector<rules::PortRange> mergePorts(const std::set<std::uint16_t>& ports);

}  // namespace warden::cli
