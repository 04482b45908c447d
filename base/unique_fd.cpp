#include "base/unique_fd.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace warden::base {
namespace {

// `fd` owned, or the errno of the call that did not make it: read before `where()` builds its
// text, since an allocation may change errno.
template <typename Where>
Result<UniqueFd> owned(int fd, Where where) {
  if (fd >= 0) return UniqueFd(fd);
  const int error = errno;
  return std::unexpected(makeError(error, where()));
}

}  // namespace

void UniqueFd::reset() {
  // Not retried on EINTR: Linux releases the descriptor even then, and a retry could close a
  // descriptor another thread has just been given.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<UniqueFd> openFile(const std::filesystem::path& path, int flags, unsigned mode) {
  return owned(::open(path.c_str(), flags | O_CLOEXEC, mode),
               [&] { return "opening " + path.string(); });
}

Result<UniqueFd> openAt(int dirFd, const std::filesystem::path& name, int flags) {
  return owned(::openat(dirFd, name.c_str(), flags | O_CLOEXEC),
               [&] { return "opening " + name.string(); });
}

Result<UniqueFd> makeSocket(int domain, int type, int protocol, std::string where) {
  return owned(::socket(domain, type | SOCK_CLOEXEC, protocol), [&] { return std::move(where); });
}

Result<UniqueFd> acceptConnection(int fd, std::string where) {
  return owned(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC), [&] { return std::move(where); });
}

Result<UniqueFd> makeEventFd(int flags, std::string where) {
  return owned(::eventfd(0, flags | EFD_CLOEXEC), [&] { return std::move(where); });
}

Result<UniqueFd> makeInotify(int flags, std::string where) {
  return owned(::inotify_init1(flags | IN_CLOEXEC), [&] { return std::move(where); });
}

Result<Pipe> makePipe() {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) return std::unexpected(errnoError("creating a pipe"));
  return Pipe{UniqueFd(ends[0]), UniqueFd(ends[1])};
}

Result<UniqueFd> makeSignalFd(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int signal : signals) sigaddset(&set, signal);
  // pthread_sigmask returns the error instead of setting errno.
  if (const int error = pthread_sigmask(SIG_BLOCK, &set, nullptr); error != 0) {
    return std::unexpected(makeError(error, "blocking signals for a signalfd"));
  }
  return owned(::signalfd(-1, &set, SFD_CLOEXEC),
               [] { return std::string("creating a signalfd"); });
}

}  // namespace warden::base
