#pragma once

#include <string>
#include <vector>

namespace warden::rules {

// Where something came from in a policy file; line and column are 1-based, 0 = unknown.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

enum class Severity { kError, kWarning };

// One finding of validation, printed as `file:line:column: error: message`.
struct Diagnostic {
  Severity severity = Severity::kError;
  SourceLocation where;
  std::string message;

  std::string format() const;
};

using Diagnostics = std::vector<Diagnostic>;

bool hasErrors(const Diagnostics& diagnostics);

}  // namespace warden::rules
