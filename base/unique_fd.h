#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>

#include "base/error.h"

namespace warden::base {

// Owns one file descriptor and closes it; move-only. Descriptors are made by the functions
// below, which say what failed and why instead of handing back -1.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

  // Closes the descriptor now (if there is one).
  void reset();
  // Hands the descriptor over to an owner of another kind (fdopendir...) without closing it.
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// Every descriptor below is made close-on-exec (O_CLOEXEC is added to `flags`): nothing warden
// holds leaks into a program it starts.

// open(2); the error says "opening <path>".
[[nodiscard]] Result<UniqueFd> openFile(const std::filesystem::path& path, int flags,
                                        unsigned mode = 0);
// openat(2) relative to `dirFd`; the error says "opening <name>".
[[nodiscard]] Result<UniqueFd> openAt(int dirFd, const std::filesystem::path& name, int flags);
// socket(2); `where` says what the socket is for.
[[nodiscard]] Result<UniqueFd> makeSocket(int domain, int type, int protocol, std::string where);
// accept4(2) of one waiting connection on the listening socket `fd`.
[[nodiscard]] Result<UniqueFd> acceptConnection(int fd, std::string where);
// eventfd(2) with an initial count of 0.
[[nodiscard]] Result<UniqueFd> makeEventFd(int flags, std::string where);
// inotify_init1(2).
[[nodiscard]] Result<UniqueFd> makeInotify(int flags, std::string where);

// pipe2(2): bytes written to `writeEnd` are read from `readEnd`.
struct Pipe {
  UniqueFd readEnd;
  UniqueFd writeEnd;
};
[[nodiscard]] Result<Pipe> makePipe();

// A signalfd reading `signals`, which are blocked in the calling thread, and so in every
// thread it starts afterwards, so that they come only through the descriptor.
[[nodiscard]] Result<UniqueFd> makeSignalFd(std::initializer_list<int> signals);

}  // namespace warden::base
