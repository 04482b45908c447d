#pragma once

#include <expected>
#include <string>

namespace warden::base {

// An OS-facing failure: the errno it carried and what was being done when it happened.
struct Error {
  int code = 0;       // errno value, 0 when the failure has no errno
  std::string where;  // "binding NFQUEUE 0", "installing table inet warden", ...

  std::string message() const;  // "binding NFQUEUE 0: Device or resource busy"
};

template <typename T>
using Result = std::expected<T, Error>;

// Builds an Error from the current errno.
Error errnoError(std::string where);
Error makeError(int code, std::string where);

}  // namespace warden::base
