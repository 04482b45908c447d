#include "cli/output.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "cli/pager.h"

namespace warden::cli {
namespace {

Palette paletteFor(const OutputOptions& options, int fd) {
  return Palette(
      useColor(options.color, ::isatty(fd) == 1, std::getenv("NO_COLOR"), std::getenv("TERM")));
}

}  // namespace

Palette stdoutPalette(const OutputOptions& options) { return paletteFor(options, STDOUT_FILENO); }

Palette stderrPalette(const OutputOptions& options) { return paletteFor(options, STDERR_FILENO); }

int printPaged(const OutputOptions& options, bool pageable,
               const std::function<int(std::ostream&, const Palette&)>& print) {
  // Decided before the pager takes stdout: colour follows the terminal the pager shows.
  const Palette palette = stdoutPalette(options);
  const auto pager = pageable && !options.noPager && ::isatty(STDOUT_FILENO) == 1
                         ? pagerCommand(std::getenv("WARDEN_PAGER"), std::getenv("PAGER"))
                         : std::nullopt;
  if (!pager) return print(std::cout, palette);
  std::ostringstream text;
  const int status = print(text, palette);
  std::cout.flush();
  if (!text.view().empty()) showPaged(text.view(), *pager);
  return status;
}

}  // namespace warden::cli
