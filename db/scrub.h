#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace warden::db {

// Secret scrubbing for the argv the verdict log stores (SPEC section 7). It lives in db/
// because it is the log's storage policy: whatever writes argv to the database applies it, so
// a secret never reaches the file. It is pure and has no SQLite dependency, so the `warden`
// tool can apply it to argv it prints from a live process too. Pure functions: safe from any
// thread.
//
// A *secret name* contains "pass", "secret", "token" or "key" in any case. Scrubbed, with
// the value replaced by kScrubbed:
//   --password X, -storepass X   an option (one or two dashes, name of 2+ characters) with a
//                                secret name: the next argument, whatever it is
//   --api-key=X, -Dtrust.pass=X  an option with a secret name before '='
//   DB_PASSWORD=X                a KEY=value argument whose KEY is a secret name
//   https://h/p?a=1&token=X      query parameters with secret names, up to the next '&' or '#'
//   https://user:X@host          the password of URL user information
// argv[0] is the program and is kept. Single-letter options are never taken for secrets:
// `-p` is a port for ssh, psql and nc and a password only for a few tools (mysql -pX), so
// scrubbing it would hide useful data everywhere and still miss other tools' letters.
// Over-scrubbing is accepted where a name merely looks secret (--passive-ftp URL hides URL):
// losing a log detail is better than storing a password.

inline constexpr std::string_view kScrubbed = "***";

[[nodiscard]] std::vector<std::string> scrubArgv(std::span<const std::string_view> argv);

// Whether a name (option, variable or parameter) looks like it holds a secret.
[[nodiscard]] bool isSecretName(std::string_view name);

// The elements of /proc/PID/cmdline text: NUL-separated, the last one NUL-terminated.
[[nodiscard]] std::vector<std::string_view> splitCmdline(std::string_view cmdline);

}  // namespace warden::db
