#include "cli/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "base/unique_fd.h"

namespace warden::cli {
namespace {

constexpr std::size_t kMaxAnswerBytes = std::size_t{16} << 20;
constexpr std::string_view kPermissionPrefix = "permission denied";

Failure failure(ExitCode code, std::string message) { return {code, std::move(message)}; }

std::string errnoText(int error) { return std::strerror(error); }

}  // namespace

Failure connectFailure(const std::filesystem::path& socket, int error) {
  const std::string where = socket.string();
  switch (error) {
    case ENOENT:
      return failure(ExitCode::kDaemonDown,
                     "wardend is not running (no control socket at " + where + ")");
    case ECONNREFUSED:
      return failure(ExitCode::kDaemonDown,
                     "wardend is not running (nothing listens on " + where + ")");
    case EACCES:
    case EPERM:
      return failure(ExitCode::kPermissionDenied, "permission denied: the control socket " + where +
                                                      " is for root only (run warden as root)");
    case ENOTSOCK:
      return failure(ExitCode::kError, where + " is not a socket: check [control] socket");
    default:
      return failure(ExitCode::kError, "cannot connect to " + where + ": " + errnoText(error));
  }
}

Outcome<nlohmann::json> interpretAnswer(const std::filesystem::path& socket,
                                        std::string_view line) {
  auto answer = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object() || !answer.contains("ok") || !answer["ok"].is_boolean()) {
    return std::unexpected(
        failure(ExitCode::kError, "wardend sent an answer this warden does not understand on " +
                                      socket.string() + ": " + std::string(line.substr(0, 200))));
  }
  if (answer["ok"].get<bool>()) return answer;
  std::string message = "wardend refused the request";
  if (auto error = answer.find("error"); error != answer.end() && error->is_string()) {
    message = error->get<std::string>();
  }
  if (message.starts_with(kPermissionPrefix)) {
    return std::unexpected(failure(ExitCode::kPermissionDenied, message + " (run warden as root)"));
  }
  return std::unexpected(failure(ExitCode::kError, "wardend: " + message));
}

namespace {

// The control socket's address; refused when the path does not fit in one.
Outcome<sockaddr_un> socketAddress(const std::filesystem::path& socket) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return std::unexpected(failure(
        ExitCode::kError, "control socket path '" + path + "' is empty or too long for a socket"));
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// A unix stream socket connected to the control socket; `timeout`, if given, also bounds
// connect (a full backlog) and every later send and receive.
Outcome<base::UniqueFd> connectTo(const std::filesystem::path& socket,
                                  std::optional<std::chrono::milliseconds> timeout) {
  const auto address = socketAddress(socket);
  if (!address) return std::unexpected(address.error());
  auto opened = base::makeSocket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, "socket");
  if (!opened) return std::unexpected(failure(ExitCode::kError, opened.error().message()));
  if (timeout) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(*timeout).count();
    const timeval limit{static_cast<time_t>(micros / 1'000'000),
                        static_cast<suseconds_t>(micros % 1'000'000)};
    setsockopt(opened->get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(opened->get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  }
  if (::connect(opened->get(), reinterpret_cast<const sockaddr*>(&*address), sizeof *address) < 0) {
    return std::unexpected(connectFailure(socket, errno));
  }
  // wardend runs as root: anyone else listening there would answer reloads and prompts in its
  // name (a user who can write the socket's directory can bind their own socket there).
  ucred peer{};
  socklen_t length = sizeof peer;
  if (getsockopt(opened->get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    return std::unexpected(failure(
        ExitCode::kError, "cannot tell who serves " + socket.string() + ": " + errnoText(errno)));
  }
  if (peer.uid != 0) {
    return std::unexpected(failure(
        ExitCode::kError, socket.string() + " is served by uid " + std::to_string(peer.uid) +
                              " (pid " + std::to_string(peer.pid) + "), not root: not wardend"));
  }
  return std::move(*opened);
}

}  // namespace

Outcome<base::UniqueFd> connectDaemon(const std::filesystem::path& socket) {
  return connectTo(socket, std::nullopt);
}

Outcome<nlohmann::json> askDaemon(const std::filesystem::path& socket, std::string_view command,
                                  const nlohmann::json& fields, std::chrono::milliseconds timeout) {
  // Both bound: connect (a full backlog) and the wait for the answer (a reload takes time).
  auto connected = connectTo(socket, timeout);
  if (!connected) return std::unexpected(connected.error());
  const base::UniqueFd fd = std::move(*connected);
  const std::string path = socket.string();

  nlohmann::json request = {{"version", 1}, {"command", command}};
  if (fields.is_object()) request.update(fields);
  std::string line = request.dump() + '\n';
  // A daemon that refuses the peer answers and closes without reading: the send then fails
  // (EPIPE), but its answer is waiting to be read and says why.
  int sendError = 0;
  for (std::string_view rest = line; !rest.empty();) {
    const ssize_t n = ::send(fd.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      sendError = n < 0 ? errno : EPIPE;
      break;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }

  std::string answer;
  char buffer[65536];
  while (answer.find('\n') == std::string::npos && answer.size() < kMaxAnswerBytes) {
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return std::unexpected(
          failure(ExitCode::kError, "wardend did not answer on " + path + " within " +
                                        std::to_string(timeout.count()) + " ms"));
    }
    if (n < 0) {
      return std::unexpected(failure(
          ExitCode::kError, "reading wardend's answer on " + path + ": " + errnoText(errno)));
    }
    if (n == 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  if (const auto newline = answer.find('\n'); newline != std::string::npos) answer.resize(newline);
  if (answer.empty() && sendError != 0) {
    return std::unexpected(
        failure(ExitCode::kError, "sending to wardend on " + path + ": " + errnoText(sendError)));
  }
  if (answer.empty()) {
    return std::unexpected(
        failure(ExitCode::kError, "wardend closed the control connection without an answer"));
  }
  return interpretAnswer(socket, answer);
}

}  // namespace warden::cli
