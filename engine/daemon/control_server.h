#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"

namespace warden::engine {

// The control socket: a unix stream socket, mode 0600, that only root may talk to (checked
// with SO_PEERCRED). One JSON request line per connection, one JSON answer line back.
// Owned and served by the control thread; not thread-safe.
class ControlServer {
 public:
  // Answers one request line with one response line (without the newline).
  using Handler = std::function<std::string(std::string_view request)>;

  [[nodiscard]] static base::Result<ControlServer> open(const std::filesystem::path& path);
  ControlServer(ControlServer&& other) noexcept;
  ControlServer& operator=(ControlServer&&) = delete;
  ~ControlServer();

  int fd() const { return fd_.get(); }
  // Accepts one waiting connection and serves it; never blocks for long.
  void serveOne(const Handler& handler);

 private:
  ControlServer(base::UniqueFd fd, std::filesystem::path path)
      : fd_(std::move(fd)), path_(std::move(path)) {}
  base::UniqueFd fd_;
  std::filesystem::path path_;
};

}  // namespace warden::engine
