#include "cli/json_output.h"

namespace warden::cli {

nlohmann::json failureJson(const Failure& failure) {
  std::string message = failure.message;
  while (!message.empty() && message.back() == '\n') message.pop_back();
  return {{"ok", false}, {"error", message}, {"exit_status", toInt(failure.code)}};
}

int reportFailure(const Failure& failure, bool json, std::ostream& out, std::ostream& err) {
  if (json) out << jsonLine(failureJson(failure)) << '\n';
  return report(failure, err);
}

}  // namespace warden::cli
