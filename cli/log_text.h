#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/table.h"
#include "db/log_query.h"

namespace warden::cli {

// How `warden log` shows one verdict-log row: a table row, or one JSON object (NDJSON).

// The table's columns. `follow`: minimum widths that fit usual rows, since rows printed
// later as they arrive cannot widen the columns above them.
Table logTable(bool follow);
std::vector<std::string> logCells(const db::LogEntry& entry);

// What decided the flow, in words: "rule 10-browser.toml:12 allow out tcp ports=443",
// "global rule warden.toml:31 deny out tcp", "profile default deny (10-browser.toml:3)",
// "engine default", "unknown" (no process could be attributed), "kernel" (no socket).
std::string decidedByText(const db::LogEntry& entry);

// "192.0.2.2:443", "[2001:db8::2]:443"; the address alone for ICMP.
std::string remoteText(const db::LogEntry& entry);

// Every stored field; absent values are null. Times as ns and as ISO 8601 local time.
nlohmann::json logJson(const db::LogEntry& entry);

}  // namespace warden::cli
