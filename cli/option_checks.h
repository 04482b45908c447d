#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace warden::cli {

// Checks of option values that say in words what the option accepts. CLI11 puts the
// option's name in front, so a user reads "--limit: must be a whole number from 0 to
// 1000000000, got -3" instead of CLI11's "[0 - 1.79769e+308]".

// Empty when `text` is a whole number (decimal digits, an optional leading '-') from `min` to
// `max`; otherwise what was expected and what was given.
std::string wholeNumberProblem(std::string_view text, std::int64_t min, std::int64_t max);
CLI::Validator wholeNumber(std::int64_t min, std::int64_t max);

// Empty when `text` is one of `choices`; otherwise "must be allow, deny or reject, got 'x'".
std::string oneOfProblem(std::string_view text, const std::vector<std::string>& choices);
CLI::Validator oneOf(std::vector<std::string> choices);

}  // namespace warden::cli
