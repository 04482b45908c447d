#pragma once

#include <functional>
#include <ostream>

#include "cli/color.h"

namespace warden::cli {

// The global options that shape how every command prints (`warden --no-pager --color never
// log`); filled in by the parser before any command runs.
struct OutputOptions {
  bool noPager = false;
  ColorMode color = ColorMode::kAuto;
};

// The palette for standard output and for standard error, each by whether it is a terminal.
Palette stdoutPalette(const OutputOptions& options);
Palette stderrPalette(const OutputOptions& options);

// Runs `print` with the stream to print on and the stdout palette. When stdout is a terminal,
// `pageable` (not for --json, which is for programs, nor for -f, which never ends) and no
// --no-pager, the output is collected and shown through the pager (cli/pager.h) once the
// command is done, so messages on stderr come first and an empty output opens no pager;
// otherwise it goes to std::cout as it is printed. Returns print's exit status.
int printPaged(const OutputOptions& options, bool pageable,
               const std::function<int(std::ostream&, const Palette&)>& print);

}  // namespace warden::cli
