#include "rules/diagnostic.h"

#include <algorithm>

namespace warden::rules {

std::string Diagnostic::format() const {
  std::string out = where.file.empty() ? std::string("<input>") : where.file;
  if (where.line > 0) {
    out += ':' + std::to_string(where.line) + ':' + std::to_string(where.column);
  }
  out += severity == Severity::kError ? ": error: " : ": warning: ";
  out += message;
  return out;
}

bool hasErrors(const Diagnostics& diagnostics) {
  return std::ranges::any_of(diagnostics,
                             [](const Diagnostic& d) { return d.severity == Severity::kError; });
}

}  // namespace warden::rules
