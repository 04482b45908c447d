#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warden::cli {

// Colour on a terminal, with the habits of systemctl and journalctl: `--color auto` (the
// default) colours only a terminal, never a pipe or a file, and not when NO_COLOR is set
// (https://no-color.org: present and not empty) or TERM is dumb or unset; `always` and `never`
// decide alone. The option is spelled as most tools spell it, so the code follows the option.

enum class ColorMode : std::uint8_t { kAuto, kAlways, kNever };

std::optional<ColorMode> parseColorMode(std::string_view text);

// Whether output to a stream is coloured; `noColor` and `term` are the environment's values
// (null when unset).
bool useColor(ColorMode mode, bool isTerminal, const char* noColor, const char* term);

// What a piece of text is, which decides its colour.
enum class Tone : std::uint8_t {
  kPlain,
  kAllow,    // green
  kRefuse,   // red: deny, reject
  kWarning,  // yellow
  kError,    // bold red
  kHeader,   // bold
};

// "allow" -> kAllow, "deny"/"reject" -> kRefuse, anything else kPlain; only the first word
// counts, so a rule's text ("deny out tcp ports=22") is toned by its action.
Tone actionTone(std::string_view text);

// Paints text with ANSI SGR sequences when on; when off, text passes through unchanged.
// Plain value, copied freely.
class Palette {
 public:
  Palette() = default;
  explicit Palette(bool on) : on_(on) {}

  bool on() const { return on_; }
  std::string paint(std::string_view text, Tone tone) const;

 private:
  bool on_ = false;
};

}  // namespace warden::cli
