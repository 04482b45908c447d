#include "base/error.h"

#include <cerrno>
#include <cstring>

namespace warden::base {

std::string Error::message() const {
  if (!reason.empty()) return where + ": " + reason;
  if (source == Source::kErrno && code != 0) return where + ": " + std::strerror(code);
  return where;
}

Error errnoError(std::string where) { return makeError(errno, std::move(where)); }

Error makeError(int code, std::string where) {
  return Error{Error::Source::kErrno, code, std::move(where), {}};
}

Error makeSqliteError(int code, std::string where, std::string reason) {
  return Error{Error::Source::kSqlite, code, std::move(where), std::move(reason)};
}

}  // namespace warden::base
