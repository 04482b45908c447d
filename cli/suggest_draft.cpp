#include "cli/suggest_draft.h"

#include <algorithm>
#include <filesystem>

#include "cli/exe_profile.h"
#include "cli/host_domain.h"
#include "rules/address.h"
#include "rules/rule_codec.h"

namespace warden::cli {
namespace {

constexpr std::size_t kMaxNameLength = 120;  // room for "-N" below the 128 the loader takes

rules::Proto protoOf(const std::string& protocol) {
  if (protocol == "tcp") return rules::Proto::kTcp;
  if (protocol == "udp") return rules::Proto::kUdp;
  if (protocol == "icmp" || protocol == "icmpv6") return rules::Proto::kIcmp;
  return rules::Proto::kAny;  // sctp or a bare number: rules cannot name it
}

bool refused(const db::LogEntry& row) { return row.action != rules::Action::kAllow; }

std::uint8_t ipProtoOf(const std::string& protocol) {
  if (protocol == "tcp") return 6;
  if (protocol == "udp") return 17;
  if (protocol == "icmp") return 1;
  if (protocol == "icmpv6") return 58;
  int number = 0;
  for (const char c : protocol) {
    if (c < '0' || c > '9' || number > 255) return 0;
    number = number * 10 + (c - '0');
  }
  return number <= 255 ? static_cast<std::uint8_t>(number) : 0;
}

// The flow a row records, as the decision sees it; nullopt when its addresses do not parse.
std::optional<rules::Flow> flowOf(const db::LogEntry& row) {
  auto local = rules::IpAddress::parse(row.localAddr);
  auto remote = rules::IpAddress::parse(row.remoteAddr);
  if (!local || !remote) return std::nullopt;
  rules::Flow flow;
  flow.direction = row.direction;
  flow.ipProto = ipProtoOf(row.protocol);
  flow.local = *local;
  flow.remote = *remote;
  flow.localPort = row.localPort;
  flow.remotePort = row.remotePort;
  flow.host = row.host;
  return flow;
}

// Tags worth pinning a profile to: they name the application, not one run of it. Scopes of
// systemd are made per launch (session-3.scope, run-u42.scope), services are not.
bool identifies(const std::string& tag) {
  if (tag.starts_with("systemd:")) return tag.ends_with(".service");
  return tag.starts_with("flatpak:") || tag.starts_with("snap:") || tag.starts_with("container:") ||
         tag.starts_with("appimage:") || tag.starts_with("script:");
}

bool nameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':' || c == '@' || c == '+';
}

bool nameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

bool DraftRule::operator==(const DraftRule& other) const {
  const auto samePorts = std::ranges::equal(ports, other.ports, [](const auto& a, const auto& b) {
    return a.first == b.first && a.last == b.last;
  });
  return direction == other.direction && proto == other.proto && host == other.host &&
         scope == other.scope && ip == other.ip && samePorts && flows == other.flows;
}

std::string ProfileDraft::fileName() const {
  return name + (kind == DraftKind::kAddition ? ".suggested.toml" : ".toml");
}

std::string profileNameFor(const std::string& executable) {
  std::string base = std::filesystem::path(executable).filename().string();
  for (char& c : base) {
    if (!nameChar(c)) c = '-';
  }
  const auto start = std::ranges::find_if(base, nameStart);
  std::string name(start, base.end());
  if (name.size() > kMaxNameLength) name.resize(kMaxNameLength);
  if (name.empty()) return "program";
  unreserved(name);
  return name;
}

std::vector<rules::PortRange> mergePorts(const std::set<std::uint16_t>& ports) {
  std::vector<rules::PortRange> merged;
  for (auto it = ports.begin(); it != ports.end();) {
    const std::uint16_t first = *it;
    std::uint16_t last = first;
    auto next = std::next(it);
    while (next != ports.end() && last < 65535 && *next == last + 1) {
      last = *next;
      ++next;
    }
    if (last - first >= 2) {
      merged.push_back({first, last});
    } else {
      for (auto p = it; p != next; ++p) merged.push_back({*p, *p});
    }
    it = next;
  }
  return merged;
}

void PolicyDrafter::note(Subject& subject, const db::LogEntry& row) {
  const rules::Proto proto = protoOf(row.protocol);
  const bool out = row.direction == rules::Direction::kOut;
  PeerKind kind = PeerKind::kIp;
  std::string value;
  auto normalizedHost = out && !row.host.empty() ? rules::normalizeHostPattern(row.host)
                                                 : std::optional<std::string>();
  // "*" in a learned name would read as a pattern: such a name is kept by address.
  if (normalizedHost && normalizedHost->find('*') != std::string::npos) normalizedHost.reset();
  if (normalizedHost) {
    kind = PeerKind::kHost;
    value = std::move(*normalizedHost);
  } else if (auto address = rules::IpAddress::parse(row.remoteAddr)) {
    switch (rules::scopeOf(*address)) {
      case rules::Scope::kLocalhost:
        kind = PeerKind::kLocalhost;
        break;
      case rules::Scope::kLan:
        kind = PeerKind::kLan;
        break;
      case rules::Scope::kInternet:
        value = address->toString();
        break;
    }
  } else {
    kind = PeerKind::kAny;  // an address the log could not name: by protocol and port only
  }
  Destination& destination = subject.destinations[{row.direction, proto, kind, value}];
  if (proto == rules::Proto::kTcp || proto == rules::Proto::kUdp) {
    destination.ports.insert(out ? row.remotePort : row.localPort);
  }
  ++destination.flows;

  std::set<std::string> tags;
  for (const std::string& tag : row.tags) {
    if (identifies(tag)) tags.insert(tag);
  }
  if (!subject.tags) {
    subject.tags = std::move(tags);
  } else {
    std::erase_if(*subject.tags, [&](const std::string& tag) { return !tags.contains(tag); });
  }
  if (subject.flows == 0 || row.timeNs < subject.firstNs) subject.firstNs = row.timeNs;
  subject.lastNs = std::max(subject.lastNs, row.timeNs);
  ++subject.flows;
}

void PolicyDrafter::claim(const std::string& path, const std::string& profile,
                          std::vector<rules::Rule> rules, rules::Action fallback) {
  claims_.try_emplace(path, Claim{profile, std::move(rules), fallback});
}

void PolicyDrafter::add(const db::LogEntry& row) {
  if (row.exe.empty()) return;
  switch (row.decidedBy) {
    case db::DecidedBy::kProfileRule:
    case db::DecidedBy::kProfileDefault:
    case db::DecidedBy::kEngineDefault:
      break;
    default:
      return;  // global rules, unknown and kernel flows: no profile decides them
  }
  if (row.profile.empty()) {
    if (auto claim = claims_.find(row.exe); claim != claims_.end()) {
      const auto flow = flowOf(row);
      const rules::Rule* rule = flow ? rules::firstMatch(claim->second.rules, *flow) : nullptr;
      const rules::Action now = rule ? rule->action : claim->second.fallback;
      if (now == rules::Action::kAllow) return;  // its profile allows it now
      note(profiles_[claim->second.profile], row);
      ++rowsUsed_;
      return;
    }
    Subject& subject = executables_[row.exe];
    if (row.mode == rules::Mode::kLearn || refused(row)) subject.drafted = true;
    note(subject, row);
  } else if (refused(row)) {
    note(profiles_[row.profile], row);
  } else {
    return;
  }
  ++rowsUsed_;
}

std::vector<DraftRule> PolicyDrafter::draftRules(const Subject& subject) {
  // Host names generalised per direction and protocol.
  std::map<std::pair<rules::Direction, rules::Proto>, std::set<std::string>> hosts;
  for (const auto& [key, destination] : subject.destinations) {
    const auto& [direction, proto, kind, value] = key;
    if (kind == PeerKind::kHost) hosts[{direction, proto}].insert(value);
  }
  std::map<std::pair<rules::Direction, rules::Proto>, std::map<std::string, std::string>> patterns;
  for (const auto& [group, names] : hosts) patterns[group] = generaliseHosts(names);

  std::map<FlowKey, Destination> merged;
  for (const auto& [key, destination] : subject.destinations) {
    auto [direction, proto, kind, value] = key;
    if (kind == PeerKind::kHost) value = patterns[{direction, proto}].at(value);
    Destination& into = merged[{direction, proto, kind, value}];
    into.ports.insert(destination.ports.begin(), destination.ports.end());
    into.flows += destination.flows;
  }

  // Addresses without a name that share direction, protocol and ports: one rule.
  std::map<std::tuple<rules::Direction, rules::Proto, std::set<std::uint16_t>>, DraftRule> byIp;
  std::vector<DraftRule> drafted;
  for (const auto& [key, destination] : merged) {
    const auto& [direction, proto, kind, value] = key;
    if (kind == PeerKind::kIp) {
      DraftRule& rule = byIp[{direction, proto, destination.ports}];
      rule.direction = direction;
      rule.proto = proto;
      rule.ip.push_back(value);
      rule.ports = mergePorts(destination.ports);
      rule.flows += destination.flows;
      continue;
    }
    DraftRule rule;
    rule.direction = direction;
    rule.proto = proto;
    if (kind == PeerKind::kHost) rule.host = value;
    if (kind == PeerKind::kLocalhost) rule.scope = rules::Scope::kLocalhost;
    if (kind == PeerKind::kLan) rule.scope = rules::Scope::kLan;
    rule.ports = mergePorts(destination.ports);
    rule.flows = destination.flows;
    drafted.push_back(std::move(rule));
  }
  for (auto& [key, rule] : byIp) {
    std::ranges::sort(rule.ip);
    drafted.push_back(std::move(rule));
  }
  // Out before in, then by protocol, then scopes, names and addresses, then ports.
  const auto order = [](const DraftRule& r) {
    const int peer = r.scope ? static_cast<int>(*r.scope) : (!r.host.empty() ? 2 : 3);
    std::vector<std::uint32_t> ports;
    for (const auto& p : r.ports) ports.push_back((std::uint32_t{p.first} << 16) | p.last);
    return std::tuple(r.direction, r.proto, peer, r.host, r.ip, ports);
  };
  std::ranges::sort(drafted,
                    [&](const DraftRule& a, const DraftRule& b) { return order(a) < order(b); });
  return drafted;
}

std::vector<ProfileDraft> PolicyDrafter::finish() const {
  std::vector<ProfileDraft> drafts;
  std::set<std::string> used = taken_;
  for (const auto& [name, subject] : profiles_) used.insert(name);
  for (const auto& [name, subject] : profiles_) {
    ProfileDraft draft;
    draft.kind = DraftKind::kAddition;
    draft.name = name;
    draft.rules = draftRules(subject);
    draft.flows = subject.flows;
    draft.firstNs = subject.firstNs;
    draft.lastNs = subject.lastNs;
    drafts.push_back(std::move(draft));
  }
  // By path, so that which executable gets "name-2" does not depend on row order.
  for (const auto& [path, subject] : executables_) {
    if (!subject.drafted) continue;
    ProfileDraft draft;
    draft.kind = DraftKind::kNewProfile;
    const std::string base = profileNameFor(path);
    draft.name = base;
    for (int n = 2; used.contains(draft.name); ++n) draft.name = base + "-" + std::to_string(n);
    used.insert(draft.name);
    draft.path = path;
    if (subject.tags) draft.tags.assign(subject.tags->begin(), subject.tags->end());
    draft.rules = draftRules(subject);
    draft.flows = subject.flows;
    draft.firstNs = subject.firstNs;
    draft.lastNs = subject.lastNs;
    drafts.push_back(std::move(draft));
  }
  std::ranges::sort(drafts, [](const ProfileDraft& a, const ProfileDraft& b) {
    return std::tie(a.name, a.kind) < std::tie(b.name, b.kind);
  });
  return drafts;
}

}  // namespace warden::cli
