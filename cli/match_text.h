#pragma once

#include <string>

#include "rules/profile.h"

namespace warden::cli {

// A profile's [[match]] in one line, in the words of the file:
// `path=/usr/bin/curl user=alice`, `path_glob=/opt/firefox/* cmdline=~--proxy\s`,
// `sha256=9f86d081884c… env=DISPLAY=*`. Long hashes are shortened (`warden hash` prints whole
// ones). An empty [[match]] (matches every process) is "any process".
std::string describeMatch(const rules::Match& match);

}  // namespace warden::cli
