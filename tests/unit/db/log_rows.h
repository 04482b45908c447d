#pragma once

#include <cstdint>
#include <string>

#include "base/clock.h"
#include "db/log_row.h"

namespace warden::db::testing {

inline constexpr rules::IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                     std::uint8_t d) {
  return rules::IpAddress::v4(a, b, c, d);
}

// A typical outbound TCP row from curl, decided by its profile's first rule.
inline LogRow sampleRow(std::int64_t timeNs = base::realtimeNs()) {
  using namespace std::string_literals;
  LogRow row;
  row.timeNs = timeNs;
  row.revision = 1;
  row.localAddr = v4(10, 0, 0, 2);
  row.remoteAddr = v4(192, 0, 2, 10);
  row.localPort = 40000;
  row.remotePort = 443;
  row.ipProto = 6;
  row.pid = 4242;
  row.processStartNs = 123456789;
  row.uid = 1000;
  row.latencyNs = 1500;
  row.direction = rules::Direction::kOut;
  row.action = rules::Action::kAllow;
  row.mode = rules::Mode::kEnforce;
  row.decidedBy = DecidedBy::kProfileRule;
  row.ruleIndex = 0;
  row.host = "www.example.org";
  row.process = std::make_shared<const LogProcess>(
      LogProcess{"/usr/bin/curl", "curl\0-s\0--token\0abc\0https://www.example.org/\0"s,
                 tagsJson({"systemd:curl.service", "script:/opt/a \"b\""})});
  row.profile = std::make_shared<const std::string>("curl");
  return row;
}

}  // namespace warden::db::testing
