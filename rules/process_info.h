#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warden::rules {

using Sha256 = std::array<std::uint8_t, 32>;

// 64 hex digits (either case) to a digest, or nothing.
std::optional<Sha256> parseSha256(std::string_view hex);
std::string toHex(const Sha256& digest);

using Environment = std::map<std::string, std::string, std::less<>>;

// What the engine learned about the process owning a flow's socket, as the matcher sees
// it. Every attribute is optional: one the engine could not obtain is left empty, and a
// [[match]] key that needs it does not hold (SPEC section 4). Built once per process by
// the engine and only read by the matcher; `sha256` may be called from a worker thread.
struct ProcessInfo {
  std::optional<std::string> path;  // /proc/PID/exe, " (deleted)" stripped
  std::optional<std::vector<std::string>> argv;
  std::optional<std::string> cmdline;  // argv joined by single spaces; setArgv fills it
  std::optional<Environment> env;
  std::optional<std::vector<std::string>> tags;  // "flatpak:org.mozilla.firefox", ...
  std::optional<std::uint32_t> uid;
  std::optional<std::string> user;                    // the name of `uid`
  std::optional<std::vector<std::string>> ancestors;  // executables: [0] = the parent, ...
  // Digest of the executed image, asked for only when a candidate [[match]] has `sha256`;
  // empty or returning nothing = unknown.
  std::function<std::optional<Sha256>()> sha256;

  void setArgv(std::vector<std::string> args);
};

// argv joined by single spaces, the text `cmdline` regexes see.
std::string joinArgv(const std::vector<std::string>& argv);

}  // namespace warden::rules
