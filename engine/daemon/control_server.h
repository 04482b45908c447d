#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "base/error.h"
#include "base/repeated_log.h"
#include "base/unique_fd.h"
#include "engine/daemon/control_protocol.h"
#include "engine/daemon/control_session.h"
#include "engine/daemon/prompt_stream.h"

namespace warden::engine {

// What the client bounds and deadlines did since start (status shows them).
struct ControlCounters {
  std::uint64_t answered = 0;        // answers taken whole
  std::uint64_t requestLate = 0;     // no whole request within the request deadline
  std::uint64_t requestTooLong = 0;  // a request line over the size bound
  std::uint64_t answerNotTaken = 0;  // an answer not read within the answer deadline
  std::uint64_t evicted = 0;         // the oldest client closed for a newer one at the bound
};

// The control socket: a unix stream socket, mode 0600, that only root may talk to (checked
// with SO_PEERCRED). One JSON request line per connection, one JSON answer line back (what
// they say is control_protocol.h's). Clients are served side by side without ever blocking:
// non-blocking sockets on an epoll set, each with its deadlines and its bounded request
// (ControlSession), so that one idle, slow or flooding client holds up neither the others nor
// the control thread's signals, reloads and shutdown. Owned and served by the control
// thread; not thread-safe.
// A `prompt` request turns its connection into a prompt client's (PromptStream): it stays
// open, with no deadline, and is never evicted for a newer client; at most kMaxPromptClients
// at once. What such clients send and who joined or left is collected for the daemon
// (takePromptTraffic), which answers through sendPrompt.
class ControlServer {
 public:
  using Clock = std::function<std::int64_t()>;  // monotonic milliseconds
  static constexpr std::size_t kMaxPromptClients = 8;

  // What prompt clients did since the last takePromptTraffic().
  struct PromptTraffic {
    std::vector<std::uint64_t> joined;                         // new prompt clients
    std::vector<std::pair<std::uint64_t, std::string>> lines;  // each line a client sent
  };

  [[nodiscard]] static base::Result<ControlServer> open(const std::filesystem::path& path,
                                                        const ControlLimits& limits = {},
                                                        Clock clock = {});
  ControlServer(ControlServer&& other) noexcept = default;
  ControlServer& operator=(ControlServer&&) = delete;
  ~ControlServer();

  // Readable when a connection waits to be accepted or a client to be served.
  int fd() const { return epoll_.get(); }
  // Accepts, reads, answers with `commands` and writes whatever is ready, then closes the
  // clients past their deadlines. Never blocks; call it when fd() is readable or
  // nextDeadlineMs() has come.
  void serve(ControlCommands& commands);
  // The earliest client deadline (or end of a pause in accepting), if there is one.
  std::optional<std::int64_t> nextDeadlineMs() const;

  std::size_t clients() const;  // connected now, prompt clients included
  std::size_t promptClients() const;
  std::vector<std::uint64_t> promptClientIds() const;
  PromptTraffic takePromptTraffic();
  // Queues a line for prompt client `client` and writes what it can now; a client that has
  // left, or leaves too much unread, is closed (and no longer counted).
  void sendPrompt(std::uint64_t client, std::string_view line);
  const ControlLimits& limits() const { return limits_; }
  const ControlCounters& counters() const { return counters_; }

 private:
  struct Client {
    base::UniqueFd fd;
    ControlSession session;
    std::uint64_t id = 0;
    std::optional<PromptStream> prompt;  // set once it asked for `prompt`
  };

  ControlServer(base::UniqueFd listener, base::UniqueFd epoll, std::filesystem::path path,
                const ControlLimits& limits, Clock clock);
  void acceptWaiting(ControlCommands& commands);
  Client* find(int fd);
  // Reads what the client sent and, once its request is whole, answers it and starts writing.
  void advance(Client& client, ControlCommands& commands);
  void writeAnswer(Client& client);
  // Whether a whole request asks for `prompt`; if so the client becomes a prompt client (or,
  // past the bound, is refused).
  bool startPrompt(Client& client);
  void advancePrompt(Client& client);
  void writePrompt(Client& client);
  // Once the session has ended: closes its descriptor and counts how it ended (at once, so
  // that a status answer made in the same pass already counts it).
  void finishIfClosed(Client& client);
  // Out of descriptors or memory: the waiting connection stays readable, so accepting pauses
  // for a moment instead of spinning (and the cause is logged once).
  void pauseAccepting(const base::Error& error);
  void resumeAccepting();

  base::UniqueFd listener_;
  base::UniqueFd epoll_;
  std::filesystem::path path_;
  ControlLimits limits_;
  Clock clock_;
  std::vector<Client> clients_;  // oldest first
  std::uint64_t nextClientId_ = 1;
  PromptTraffic promptTraffic_;
  std::optional<std::int64_t> acceptPausedUntilMs_;
  bool acceptFailureLogged_ = false;
  base::RepeatedLog watchFailures_{base::LogLevel::kWarning};
  ControlCounters counters_;
};

}  // namespace warden::engine
