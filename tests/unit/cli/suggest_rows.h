#pragma once

#include <string>

#include "db/log_query.h"

namespace warden::cli::testing {

// A verdict-log row as `warden suggest` reads it: by default an outbound TCP flow of a
// process without a profile, decided by the engine default in learn mode.
struct Row {
  std::string exe = "/usr/bin/curl";
  std::string protocol = "tcp";
  std::string remote = "192.0.2.10";
  std::uint16_t port = 443;
  std::string host = {};
  rules::Direction direction = rules::Direction::kOut;
  std::uint16_t localPort = 40000;
  rules::Action action = rules::Action::kDeny;
  rules::Mode mode = rules::Mode::kLearn;
  std::string profile = {};
  db::DecidedBy decidedBy = db::DecidedBy::kEngineDefault;
  std::vector<std::string> tags = {};
  std::int64_t timeNs = 1'800'000'000'000'000'000;

  db::LogEntry entry() const {
    db::LogEntry e;
    e.timeNs = timeNs;
    e.direction = direction;
    e.protocol = protocol;
    e.localAddr = "192.0.2.1";
    e.localPort = localPort;
    e.remoteAddr = remote;
    e.remotePort = port;
    e.host = host;
    e.pid = 100;
    e.exe = exe;
    e.profile = profile;
    e.decidedBy = decidedBy;
    e.action = action;
    e.mode = mode;
    e.tags = tags;
    return e;
  }
};

}  // namespace warden::cli::testing
