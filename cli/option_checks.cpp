#include "cli/option_checks.h"

#include <charconv>

namespace warden::cli {

std::string wholeNumberProblem(std::string_view text, std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  // from_chars takes no '+', no blanks and no exponent: "1e3" and " 5" are not whole numbers.
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || stop != end || value < min || value > max) {
    return "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
           ", got " + (text.empty() ? std::string("nothing") : "'" + std::string(text) + "'");
  }
  return {};
}

CLI::Validator wholeNumber(std::int64_t min, std::int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) { return wholeNumberProblem(text, min, max); }, "",
      "whole number");
}

std::string oneOfProblem(std::string_view text, const std::vector<std::string>& choices) {
  for (const auto& choice : choices) {
    if (text == choice) return {};
  }
  std::string words;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) words += i + 1 == choices.size() ? " or " : ", ";
    words += choices[i];
  }
  return "must be " + words + ", got '" + std::string(text) + "'";
}

CLI::Validator oneOf(std::vector<std::string> choices) {
  return CLI::Validator(
      [choices = std::move(choices)](std::string& text) { return oneOfProblem(text, choices); }, "",
      "one of");
}

}  // namespace warden::cli
