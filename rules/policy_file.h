#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "base/file_identity.h"
#include "base/unique_fd.h"
#include "rules/diagnostic.h"

namespace warden::rules {

// SPEC section 9: a policy file or directory that anyone but root can change is refused,
// since whoever can write it decides what the firewall lets through. Returns why a file
// with this owner and mode is unsafe for a root process, or nothing.
std::optional<std::string> unsafeOwnership(std::uint32_t ownerUid, std::uint32_t mode);

// An open policy file (warden.toml or a profile) that passed the checks: a regular file,
// not too large, and, when the process runs as root, owned by root and not writable by
// group or others. Failures are one diagnostic naming the file at line 0.
class PolicyFile {
 public:
  static std::expected<PolicyFile, Diagnostic> open(const std::filesystem::path& file);

  const base::FileIdentity& identity() const { return identity_; }
  std::expected<std::string, Diagnostic> read();

 private:
  PolicyFile(std::filesystem::path file, base::UniqueFd fd, base::FileIdentity identity)
      : file_(std::move(file)), fd_(std::move(fd)), identity_(identity) {}

  std::filesystem::path file_;
  base::UniqueFd fd_;
  base::FileIdentity identity_;
};

// PolicyFile::open and read in one.
std::expected<std::string, Diagnostic> readPolicyFile(const std::filesystem::path& file);

// The same ownership rule for a directory holding policy files (anyone who can write it
// can add or replace files in it).
std::optional<Diagnostic> checkPolicyDirectory(const std::filesystem::path& directory);

}  // namespace warden::rules
