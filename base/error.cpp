#include "base/error.h"

#include <cerrno>
#include <cstring>

namespace warden::base {

std::string Error::message() const {
  if (code == 0) return where;
  return where + ": " + std::strerror(code);
}

Error errnoError(std::string where) { return Error{errno, std::move(where)}; }

Error makeError(int code, std::string where) { return Error{code, std::move(where)}; }

}  // namespace warden::base
