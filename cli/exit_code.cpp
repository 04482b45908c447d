#include "cli/exit_code.h"

#include <cerrno>

namespace warden::cli {

std::string exitStatusHelp() {
  return "Exit status:\n"
         "  0  success\n"
         "  1  error, or wardend refused the request (e.g. a reload of a broken policy)\n"
         "  2  usage error: unknown command or option, bad option value\n"
         "  3  wardend is not running (no control socket, or nothing listens on it)\n"
         "  4  permission denied: the control socket and the database are for root\n"
         "  5  the verdict log database does not exist yet (wardend creates it)";
}

ExitCode exitCodeForErrno(int error) {
  return error == EACCES || error == EPERM ? ExitCode::kPermissionDenied : ExitCode::kError;
}

int report(const Failure& failure, std::ostream& err) {
  err << "warden: " << failure.message;
  if (failure.message.empty() || failure.message.back() != '\n') err << '\n';
  return toInt(failure.code);
}

}  // namespace warden::cli
