#pragma once

#include <filesystem>

#include "base/error.h"
#include "base/unique_fd.h"
#include "engine/daemon/control_protocol.h"

namespace warden::engine {

// The control socket: a unix stream socket, mode 0600, that only root may talk to (checked
// with SO_PEERCRED). One JSON request line per connection, one JSON answer line back (what
// they say is control_protocol.h's). Owned and served by the control thread; not thread-safe.
class ControlServer {
 public:
  [[nodiscard]] static base::Result<ControlServer> open(const std::filesystem::path& path);
  ControlServer(ControlServer&& other) noexcept;
  ControlServer& operator=(ControlServer&&) = delete;
  ~ControlServer();

  int fd() const { return fd_.get(); }
  // Accepts one waiting connection and answers its request with `commands`; never blocks for
  // long.
  void serveOne(ControlCommands& commands);

 private:
  ControlServer(base::UniqueFd fd, std::filesystem::path path)
      : fd_(std::move(fd)), path_(std::move(path)) {}
  base::UniqueFd fd_;
  std::filesystem::path path_;
};

}  // namespace warden::engine
