#include "cli/log_text.h"

#include <filesystem>

#include "cli/time_text.h"
#include "db/log_columns.h"

namespace warden::cli {
namespace {

using nlohmann::json;

std::string orDash(const std::string& text) { return text.empty() ? "-" : text; }

json orNull(const std::string& text) { return text.empty() ? json() : json(text); }

template <typename T>
json orNull(const std::optional<T>& value) {
  return value ? json(*value) : json();
}

// The file name is enough on a table line; JSON has the whole path.
std::string sourceText(const db::DecisionSource& source) {
  return std::filesystem::path(source.file).filename().string() + ":" + std::to_string(source.line);
}

bool isIcmp(const std::string& protocol) { return protocol == "icmp" || protocol == "icmpv6"; }

}  // namespace

Table logTable(bool follow) {
  auto width = [follow](std::size_t w) { return follow ? w : 0; };
  return Table({{"TIME", Table::Align::kLeft, width(19)},
                {"ACTION", Table::Align::kLeft, width(6), actionTone},
                {"DIR", Table::Align::kLeft, width(3)},
                {"PROTO", Table::Align::kLeft, width(6)},
                {"REMOTE", Table::Align::kLeft, width(21)},
                {"HOST", Table::Align::kLeft, width(16)},
                {"PID", Table::Align::kRight, width(7)},
                {"EXE", Table::Align::kLeft, width(16)},
                {"PROFILE", Table::Align::kLeft, width(10)},
                {"MODE", Table::Align::kLeft, width(7)},
                {"DECIDED BY", Table::Align::kLeft, 0}});
}

std::vector<std::string> logCells(const db::LogEntry& e) {
  return {localTime(e.timeNs),
          std::string(rules::toString(e.action)),
          std::string(rules::toString(e.direction)),
          e.protocol,
          remoteText(e),
          orDash(e.host),
          e.pid ? std::to_string(*e.pid) : "-",
          orDash(e.exe),
          orDash(e.profile),
          std::string(rules::toString(e.mode)),
          decidedByText(e)};
}

std::string decidedByText(const db::LogEntry& e) {
  const std::string index = e.ruleIndex ? std::to_string(*e.ruleIndex) : "?";
  switch (e.decidedBy) {
    case db::DecidedBy::kGlobalRule:
    case db::DecidedBy::kProfileRule: {
      const std::string kind = e.decidedBy == db::DecidedBy::kGlobalRule ? "global rule" : "rule";
      if (!e.source) {
        return kind + " #" + index + " of revision " + std::to_string(e.revision) +
               " (no longer stored)";
      }
      return kind + " " + sourceText(*e.source) + " " + e.source->summary;
    }
    case db::DecidedBy::kProfileDefault:
      if (!e.source) return "profile default";
      // The stored summary is "default <action>".
      return "profile " + e.source->summary + " (" + sourceText(*e.source) + ")";
    case db::DecidedBy::kEngineDefault:
      return "engine default";
    case db::DecidedBy::kUnknown:
      return "unknown";
    case db::DecidedBy::kKernel:
      return "kernel";
    case db::DecidedBy::kPrompt:
      return "prompt";
  }
  return "?";
}

std::string remoteText(const db::LogEntry& e) {
  const bool v6 = e.remoteAddr.find(':') != std::string::npos;
  if (isIcmp(e.protocol)) return e.remoteAddr;
  const std::string address = v6 ? "[" + e.remoteAddr + "]" : e.remoteAddr;
  return address + ":" + std::to_string(e.remotePort);
}

json logJson(const db::LogEntry& e) {
  json source;
  if (e.source) {
    source = {{"file", e.source->file}, {"line", e.source->line}, {"rule", e.source->summary}};
  }
  return {{"id", e.id},
          {"time_ns", e.timeNs},
          {"time", isoTime(e.timeNs)},
          {"action", rules::toString(e.action)},
          {"mode", rules::toString(e.mode)},
          {"direction", rules::toString(e.direction)},
          {"protocol", e.protocol},
          {"local_addr", e.localAddr},
          {"local_port", e.localPort},
          {"remote_addr", e.remoteAddr},
          {"remote_port", e.remotePort},
          {"host", orNull(e.host)},
          {"pid", orNull(e.pid)},
          {"process_start_ns", orNull(e.processStartNs)},
          {"uid", orNull(e.uid)},
          {"exe", orNull(e.exe)},
          {"argv", e.argv},
          {"tags", e.tags},
          {"profile", orNull(e.profile)},
          {"decided_by", db::toString(e.decidedBy)},
          {"rule_index", orNull(e.ruleIndex)},
          {"source", source},
          {"decided_by_text", decidedByText(e)},
          {"revision", e.revision},
          {"latency_us", e.latencyUs}};
}

}  // namespace warden::cli
