#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "engine/attribution/process_description.h"
#include "engine/verdict/flow_decision.h"
#include "rules/compiled_policy.h"
#include "rules/config.h"
#include "rules/profile_codec.h"

namespace warden::engine::testing {

// Longer than std::string keeps inline (15 characters), as profile and host names often are.
inline constexpr std::string_view kBrowserProfile = "corporate-web-browser";
inline constexpr std::string_view kBrowserPath = "/usr/lib/browser/browser";

// A policy whose profile kBrowserProfile denies whatever the browser does (denials are always
// logged).
inline PolicySnapshot browserPolicy() {
  rules::Policy policy;
  policy.config = *rules::parseConfig("", "/t/warden.toml");
  policy.profiles = *rules::parseProfiles(R"(
[[profile]]
name = "corporate-web-browser"
default = "deny"
[[profile.match]]
path = "/usr/lib/browser/browser"
)",
                                          "/t/browser.toml");
  return PolicySnapshot{*rules::CompiledPolicy::compile(std::move(policy), 7)};
}

// The browser's process as a worker has it once the tracker described it.
inline FlowOwner browserOwner() {
  auto match = std::make_shared<rules::ProcessInfo>();
  match->path = kBrowserPath;
  auto info = std::make_shared<ProcessDescription>();
  info->path = kBrowserPath;
  info->argv = {std::string(kBrowserPath), "--no-sandbox"};
  info->source = ProcessSource::kExecEvent;
  info->complete = true;
  info->match = std::move(match);
  info->logged = loggedProcess(*info);
  FlowOwner owner;
  owner.attribution.kind = OwnerKind::kProcess;
  owner.attribution.owner.tgid = 4242;
  owner.attribution.owner.uid = 1000;
  owner.attribution.owner.start_time_ns = 123'000'000;
  owner.process = std::move(info);
  return owner;
}

// An outbound HTTPS flow to `host` (which must outlive the flow).
inline rules::Flow outboundFlow(std::string_view host) {
  rules::Flow flow;
  flow.direction = rules::Direction::kOut;
  flow.ipProto = 6;
  flow.local = *rules::IpAddress::parse("192.0.2.1");
  flow.remote = *rules::IpAddress::parse("198.51.100.7");
  flow.localPort = 40000;
  flow.remotePort = 443;
  flow.host = host;
  return flow;
}

}  // namespace warden::engine::testing
