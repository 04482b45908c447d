#pragma once

#include <filesystem>

namespace warden::rules::testing {

// The checkout this test was built from, for the shipped files under etc/.
inline std::filesystem::path sourceDir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

}  // namespace warden::rules::testing
