#include "cli/color.h"

namespace warden::cli {
namespace {

std::string_view sgr(Tone tone) {
  switch (tone) {
    case Tone::kAllow:
      return "\x1b[32m";
    case Tone::kRefuse:
      return "\x1b[31m";
    case Tone::kWarning:
      return "\x1b[33m";
    case Tone::kError:
      return "\x1b[1;31m";
    case Tone::kHeader:
      return "\x1b[1m";
    case Tone::kPlain:
      break;
  }
  return {};
}

constexpr std::string_view kReset = "\x1b[0m";

}  // namespace

std::optional<ColorMode> parseColorMode(std::string_view text) {
  if (text == "auto") return ColorMode::kAuto;
  if (text == "always") return ColorMode::kAlways;
  if (text == "never") return ColorMode::kNever;
  return std::nullopt;
}

bool useColor(ColorMode mode, bool isTerminal, const char* noColor, const char* term) {
  switch (mode) {
    case ColorMode::kAlways:
      return true;
    case ColorMode::kNever:
      return false;
    case ColorMode::kAuto:
      break;
  }
  if (!isTerminal) return false;
  if (noColor != nullptr && *noColor != '\0') return false;
  // As systemd: a terminal that does not say what it is gets no escape sequences.
  return term != nullptr && *term != '\0' && std::string_view(term) != "dumb";
}

Tone actionTone(std::string_view text) {
  const std::string_view word = text.substr(0, text.find(' '));
  if (word == "allow") return Tone::kAllow;
  if (word == "deny" || word == "reject") return Tone::kRefuse;
  return Tone::kPlain;
}

std::string Palette::paint(std::string_view text, Tone tone) const {
  const std::string_view start = sgr(tone);
  if (!on_ || start.empty() || text.empty()) return std::string(text);
  std::string painted;
  painted.reserve(text.size() + start.size() + kReset.size());
  painted.append(start).append(text).append(kReset);
  return painted;
}

}  // namespace warden::cli
