#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>

#include "rules/diagnostic.h"

namespace warden::rules {

// SPEC section 9: a policy file or directory that anyone but root can change is refused,
// since whoever can write it decides what the firewall lets through. Returns why a file
// with this owner and mode is unsafe for a root process, or nothing.
std::optional<std::string> unsafeOwnership(std::uint32_t ownerUid, std::uint32_t mode);

// Reads a policy file (warden.toml or a profile). When the process runs as root the file
// must be owned by root and not writable by group or others. Failures are one diagnostic
// naming the file at line 0.
std::expected<std::string, Diagnostic> readPolicyFile(const std::filesystem::path& file);

// The same ownership rule for a directory holding policy files (anyone who can write it
// can add or replace files in it).
std::optional<Diagnostic> checkPolicyDirectory(const std::filesystem::path& directory);

}  // namespace warden::rules
