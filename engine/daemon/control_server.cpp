#include "engine/daemon/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "base/logging.h"

namespace warden::engine {
namespace {

constexpr int kClientTimeoutMs = 1000;

}  // namespace

base::Result<ControlServer> ControlServer::open(const std::filesystem::path& path) {
  const std::string where = "opening control socket " + path.string();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.string().size() >= sizeof address.sun_path) {
    return std::unexpected(base::makeError(ENAMETOOLONG, where));
  }
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);

  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return std::unexpected(base::makeError(ec.value(), where));

  auto fd = base::makeSocket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, where);
  if (!fd) return std::unexpected(fd.error());
  ControlServer server(std::move(*fd), path);

  // A socket file left by a crashed run is in the way; a live daemon holds the queues, so
  // reaching this point means nobody else serves it.
  if (::unlink(path.c_str()) < 0 && errno != ENOENT)
    return std::unexpected(base::errnoError(where));
  // Created 0600 from the start: no window in which others could connect.
  const mode_t old = umask(0177);
  const int bound = bind(server.fd(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  umask(old);
  if (bound < 0) return std::unexpected(base::errnoError(where));
  if (listen(server.fd(), 16) < 0) return std::unexpected(base::errnoError(where));
  return server;
}

ControlServer::ControlServer(ControlServer&& other) noexcept
    : fd_(std::move(other.fd_)), path_(std::move(other.path_)) {}

ControlServer::~ControlServer() {
  if (fd_) {
    fd_.reset();
    ::unlink(path_.c_str());
  }
}

void ControlServer::serveOne(ControlCommands& commands) {
  auto accepted = base::acceptConnection(fd_.get(), "accepting a control connection");
  if (!accepted) return;
  const int client = accepted->get();
  timeval timeout{0, kClientTimeoutMs * 1000};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

  std::string response;
  ucred peer{};
  socklen_t length = sizeof peer;
  if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &length) < 0 || peer.uid != 0) {
    response = socketRefusal("permission denied: the control socket is for root only");
  } else {
    std::string received;
    char buffer[4096];
    while (!requestComplete(received)) {
      const ssize_t n = read(client, buffer, sizeof buffer);
      if (n <= 0) break;
      received.append(buffer, static_cast<std::size_t>(n));
    }
    response = answerControlRequest(requestLine(received), commands);
  }
  response += '\n';
  for (std::string_view rest = response; !rest.empty();) {
    const ssize_t n = write(client, rest.data(), rest.size());
    if (n <= 0) break;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace warden::engine
