#pragma once

#include <filesystem>

namespace warden::rules::testing {

// The checkout this test was built from, for the shipped files under etc/. Given by CMake
// rather than taken from __FILE__, which a compiler cache may have made relative.
inline std::filesystem::path sourceDir() { return WARDEN_SOURCE_DIR; }

}  // namespace warden::rules::testing
