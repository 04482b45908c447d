#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "rules/process_info.h"

namespace warden::cli {

// The profile matcher's view of a process, from wardend's description of it (the "process"
// member of its answer to {"command":"explain"}), built the way the engine builds it
// (engine/process_tracker.cpp, matchView) so that `warden explain` selects the profile the
// engine selects: what wardend could not obtain stays unknown, and keys needing it do not
// hold. wardend does not send environment values (they hold secrets): `env` is the
// environment read here, absent when unknown. The sha256 it sent, if any, answers hashes.
rules::ProcessInfo processInfoOf(const nlohmann::json& process,
                                 std::optional<rules::Environment> env);

// /proc/PID/environ as the matcher sees it, if process `pid` is still the one that started at
// `startTicks` (field 22 of /proc/PID/stat) and its environment is readable.
std::optional<rules::Environment> readEnvironment(int pid, std::uint64_t startTicks);

}  // namespace warden::cli
