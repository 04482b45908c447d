#include "engine/daemon/control_server.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "base/clock.h"
#include "base/logging.h"
#include "base/trusted_path.h"

namespace warden::engine {
namespace {

// Events taken per epoll_wait; more wait for the next call, which serve() makes at once.
constexpr int kEventBatch = 64;
// SO_SNDBUF of a client's socket; answers larger than this are written as the client reads.
constexpr int kClientSendBuffer = 32 * 1024;
// How long accepting pauses when the process is out of descriptors or memory.
constexpr std::int64_t kAcceptPauseMs = 100;

std::int64_t monotonicMs() { return static_cast<std::int64_t>(base::monotonicNs() / 1'000'000); }

bool watch(int epoll, int op, int fd, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  return epoll_ctl(epoll, op, fd, &event) == 0;
}

bool peerIsRoot(int fd) {
  ucred peer{};
  socklen_t length = sizeof peer;
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 && peer.uid == 0;
}

}  // namespace

base::Result<ControlServer> ControlServer::open(const std::filesystem::path& path,
                                                const ControlLimits& limits, Clock clock) {
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
  if (geteuid() == 0) {
    // Whoever can write the socket's directory (unless it is sticky: root's socket is then
    // root's to remove) can remove wardend's socket and serve their own under its name, and
    // answer `warden reload` and `warden prompt` in its place (found by attack).
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    if (auto why = base::whyOthersCanChange(dir, base::Sticky::kTrusted)) {
      return std::unexpected(base::makeError(
          0, where + ": on a path others can change: " + *why + " (chown root, chmod go-w)"));
    }
  }

  auto fd = base::makeSocket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, where);
  if (!fd) return std::unexpected(fd.error());
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) return std::unexpected(base::errnoError(where));
  ControlServer server(std::move(*fd), base::UniqueFd(epoll), path, limits,
                       clock ? std::move(clock) : Clock(monotonicMs));

  // A socket file left by a crashed run is in the way; a live daemon holds the queues, so
  // reaching this point means nobody else serves it.
  if (::unlink(path.c_str()) < 0 && errno != ENOENT)
    return std::unexpected(base::errnoError(where));
  // Created 0600 from the start: no window in which others could connect.
  const mode_t old = umask(0177);
  const int bound =
      bind(server.listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  umask(old);
  if (bound < 0) return std::unexpected(base::errnoError(where));
  if (listen(server.listener_.get(), static_cast<int>(limits.maxClients)) < 0 ||
      !watch(epoll, EPOLL_CTL_ADD, server.listener_.get(), EPOLLIN)) {
    return std::unexpected(base::errnoError(where));
  }
  return server;
}

ControlServer::ControlServer(base::UniqueFd listener, base::UniqueFd epoll,
                             std::filesystem::path path, const ControlLimits& limits, Clock clock)
    : listener_(std::move(listener)),
      epoll_(std::move(epoll)),
      path_(std::move(path)),
      limits_(limits),
      clock_(std::move(clock)) {}

ControlServer::~ControlServer() {
  if (listener_) {
    listener_.reset();
    ::unlink(path_.c_str());
  }
}

void ControlServer::serve(ControlCommands& commands) {
  watchFailures_.flush();
  if (acceptPausedUntilMs_ && clock_() >= *acceptPausedUntilMs_) resumeAccepting();
  epoll_event events[kEventBatch];
  const int ready = epoll_wait(epoll_.get(), events, kEventBatch, 0);
  for (int i = 0; i < ready; ++i) {
    const int fd = events[i].data.fd;
    if (fd == listener_.get()) {
      acceptWaiting(commands);
    } else if (Client* client = find(fd)) {
      if (client->prompt) {
        advancePrompt(*client);
      } else {
        advance(*client, commands);
      }
    }
  }
  // A client past its deadline gets one last look first: its request (or its reading of the
  // answer) may have come while a long command (a reload) kept the loop busy.
  for (Client& client : clients_) {
    if (client.prompt || client.session.need() == ControlSession::Need::kClose) continue;
    if (clock_() < client.session.deadlineMs()) continue;
    advance(client, commands);
    if (client.session.expire(clock_())) finishIfClosed(client);
  }
  // Ended sessions go; their descriptors were closed as they ended.
  std::erase_if(clients_, [](const Client& client) { return !client.fd; });
}

std::size_t ControlServer::clients() const {
  return static_cast<std::size_t>(std::count_if(
      clients_.begin(), clients_.end(), [](const Client& client) { return bool(client.fd); }));
}

std::size_t ControlServer::promptClients() const {
  return static_cast<std::size_t>(
      std::count_if(clients_.begin(), clients_.end(),
                    [](const Client& client) { return client.fd && client.prompt; }));
}

std::vector<std::uint64_t> ControlServer::promptClientIds() const {
  std::vector<std::uint64_t> ids;
  for (const Client& client : clients_) {
    if (client.fd && client.prompt) ids.push_back(client.id);
  }
  return ids;
}

ControlServer::PromptTraffic ControlServer::takePromptTraffic() {
  return std::exchange(promptTraffic_, PromptTraffic{});
}

std::optional<std::int64_t> ControlServer::nextDeadlineMs() const {
  std::optional<std::int64_t> next = acceptPausedUntilMs_;
  for (const Client& client : clients_) {
    if (client.prompt || client.session.need() == ControlSession::Need::kClose) continue;
    next = std::min(next.value_or(client.session.deadlineMs()), client.session.deadlineMs());
  }
  return next;
}

void ControlServer::acceptWaiting(ControlCommands& commands) {
  // At most one bound's worth per call, so that a flood of connections cannot keep the
  // control thread here.
  for (std::size_t n = 0; n < limits_.maxClients; ++n) {
    auto accepted = base::acceptConnection(listener_.get(), "accepting a control connection");
    if (!accepted) {
      const int error = accepted.error().code;
      if (error == EAGAIN || error == EWOULDBLOCK) return;
      if (error == EINTR || error == ECONNABORTED) continue;
      pauseAccepting(accepted.error());  // EMFILE, ENFILE, ENOBUFS, ENOMEM
      return;
    }
    acceptFailureLogged_ = false;
    // At the bound the oldest goes: clients that behave are done within milliseconds, so the
    // oldest is the likeliest to be idle, and a new `warden status` is always answered.
    // Prompt clients have places of their own (kMaxPromptClients).
    if (clients() - promptClients() >= limits_.maxClients) {
      for (Client& client : clients_) {
        if (!client.fd || client.prompt) continue;  // a prompt client waits on purpose
        client.session.close(ControlSession::Ending::kEvicted);
        finishIfClosed(client);
        break;
      }
    }
    const int fd = accepted->get();
    // The kernel holds at most this much of an answer for a client (doubled by the kernel):
    // 32 clients that do not read cost ~2 MB, not 32 x net.core.wmem_default. Best effort.
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kClientSendBuffer, sizeof kClientSendBuffer);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
        !watch(epoll_.get(), EPOLL_CTL_ADD, fd, EPOLLIN)) {
      // Per connection (epoll's ENOSPC or ENOMEM): a client that connects in a loop must not
      // fill the journal.
      watchFailures_.note("watching a control connection: ", std::strerror(errno));
      continue;  // closed as it goes out of scope
    }
    clients_.push_back(
        {std::move(*accepted), ControlSession(clock_(), limits_), nextClientId_++, std::nullopt});
    Client& client = clients_.back();
    if (!peerIsRoot(fd)) {
      client.session.answer(socketRefusal("permission denied: the control socket is for root only"),
                            clock_());
      writeAnswer(client);
    } else {
      advance(client, commands);  // a client sends its request with its connect: read it now
    }
  }
}

void ControlServer::pauseAccepting(const base::Error& error) {
  if (!acceptFailureLogged_) {
    base::logWarning(error.message(), "; control connections wait until it passes");
    acceptFailureLogged_ = true;
  }
  // Not watched when resuming failed; the pause is what matters.
  (void)watch(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), 0);
  acceptPausedUntilMs_ = clock_() + kAcceptPauseMs;
}

void ControlServer::resumeAccepting() {
  acceptPausedUntilMs_.reset();
  if (!watch(epoll_.get(), EPOLL_CTL_ADD, listener_.get(), EPOLLIN)) {
    pauseAccepting(base::errnoError("watching the control socket"));
  }
}

ControlServer::Client* ControlServer::find(int fd) {
  for (Client& client : clients_) {
    if (client.fd.get() == fd) return &client;
  }
  return nullptr;
}

void ControlServer::advance(Client& client, ControlCommands& commands) {
  using Need = ControlSession::Need;
  ControlSession& session = client.session;
  char buffer[4096];
  while (session.need() == Need::kBytes) {
    const ssize_t n = ::read(client.fd.get(), buffer, std::min(sizeof buffer, session.room()));
    if (n > 0) {
      session.received({buffer, static_cast<std::size_t>(n)}, clock_());
    } else if (n == 0) {
      session.hungUp();
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else if (errno != EINTR) {
      session.close(ControlSession::Ending::kHungUp);
    }
  }
  if (session.need() == Need::kAnswer) {
    if (startPrompt(client)) return;
    std::string answer = answerControlRequest(session.request(), commands);
    session.answer(std::move(answer), clock_());
  }
  writeAnswer(client);
}

void ControlServer::writeAnswer(Client& client) {
  ControlSession& session = client.session;
  while (session.need() == ControlSession::Need::kWrite) {
    const std::string_view rest = session.output();
    const ssize_t n =
        ::send(client.fd.get(), rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      session.wrote(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Written on when the client makes room: level-triggered, so until then no event.
      if (!watch(epoll_.get(), EPOLL_CTL_MOD, client.fd.get(), EPOLLOUT)) {
        session.close(ControlSession::Ending::kHungUp);
      }
      break;
    } else if (n == 0 || errno != EINTR) {
      session.close(ControlSession::Ending::kHungUp);
    }
  }
  finishIfClosed(client);
}

bool ControlServer::startPrompt(Client& client) {
  const auto request = parseControlRequest(client.session.request());
  if (!request || !std::holds_alternative<PromptRequest>(*request)) return false;
  if (promptClients() >= kMaxPromptClients) {
    client.session.answer(socketRefusal("too many prompt clients (at most " +
                                        std::to_string(kMaxPromptClients) + ")"),
                          clock_());
    writeAnswer(client);
    return true;
  }
  client.prompt.emplace();
  promptTraffic_.joined.push_back(client.id);
  return true;
}

void ControlServer::advancePrompt(Client& client) {
  char buffer[4096];
  std::vector<std::string> lines;
  bool open = true;
  for (;;) {
    const ssize_t n = ::read(client.fd.get(), buffer, sizeof buffer);
    if (n > 0) {
      if (!client.prompt->received({buffer, static_cast<std::size_t>(n)}, lines)) {
        open = false;  // a line longer than any answer: not a prompt client
        break;
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      open = false;  // hung up, or its socket failed
      break;
    }
  }
  for (std::string& line : lines) promptTraffic_.lines.emplace_back(client.id, std::move(line));
  if (!open) {
    client.fd.reset();
    return;
  }
  writePrompt(client);
}

void ControlServer::sendPrompt(std::uint64_t id, std::string_view line) {
  for (Client& client : clients_) {
    if (client.id != id || !client.fd || !client.prompt) continue;
    if (!client.prompt->queue(line)) {
      client.fd.reset();  // more than a megabyte unread: it does not read
      return;
    }
    writePrompt(client);
  }
}

void ControlServer::writePrompt(Client& client) {
  PromptStream& stream = *client.prompt;
  while (!stream.output().empty()) {
    const std::string_view rest = stream.output();
    const ssize_t n =
        ::send(client.fd.get(), rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      stream.wrote(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else if (n == 0 || errno != EINTR) {
      client.fd.reset();
      return;
    }
  }
  // Readable always (answers, hang-up); writable only while something waits to be sent.
  const std::uint32_t events = stream.output().empty() ? EPOLLIN : (EPOLLIN | EPOLLOUT);
  if (!watch(epoll_.get(), EPOLL_CTL_MOD, client.fd.get(), events)) client.fd.reset();
}

void ControlServer::finishIfClosed(Client& client) {
  using Ending = ControlSession::Ending;
  if (!client.fd || client.session.need() != ControlSession::Need::kClose) return;
  client.fd.reset();
  switch (client.session.ending()) {
    case Ending::kAnswered:
      ++counters_.answered;
      break;
    case Ending::kRequestLate:
      ++counters_.requestLate;
      break;
    case Ending::kRequestTooLong:
      ++counters_.requestTooLong;
      break;
    case Ending::kAnswerNotTaken:
      ++counters_.answerNotTaken;
      break;
    case Ending::kEvicted:
      ++counters_.evicted;
      break;
    case Ending::kNone:
    case Ending::kHungUp:
      break;
  }
}

}  // namespace warden::engine
