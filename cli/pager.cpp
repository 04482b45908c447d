#include "cli/pager.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "base/unique_fd.h"

extern char** environ;

namespace warden::cli {
namespace {

constexpr const char* kLessOptions = "FRXMK";

// Writes all of `text` to `fd`; a pager that quits early (q in less) closes the pipe, which
// ends the writing without a signal or a message: the user chose to stop reading.
void writeAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Sets a signal's disposition for as long as it lives, then restores the one before.
class SignalDisposition {
 public:
  SignalDisposition(int signal, void (*handler)(int)) : signal_(signal) {
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    sigaction(signal_, &action, &saved_);
  }
  ~SignalDisposition() { sigaction(signal_, &saved_, nullptr); }
  SignalDisposition(const SignalDisposition&) = delete;
  SignalDisposition& operator=(const SignalDisposition&) = delete;

 private:
  int signal_;
  struct sigaction saved_ {};
};

// posix_spawn's file actions, destroyed with their owner.
class SpawnActions {
 public:
  SpawnActions() { posix_spawn_file_actions_init(&actions_); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
};

}  // namespace

std::optional<std::string> pagerCommand(const char* wardenPager, const char* pager) {
  const char* chosen = wardenPager != nullptr ? wardenPager : pager;
  if (chosen == nullptr) return "less";
  const std::string_view command(chosen);
  if (command.empty() || command == "cat") return std::nullopt;
  return std::string(command);
}

bool pagerFound(std::string_view command, const char* path) {
  if (command.find_first_of("'\"\\$`|&;<>(){}*?[]~=") != std::string_view::npos) return true;
  const std::size_t begin = command.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return false;
  const std::size_t end = command.find_first_of(" \t", begin);
  const std::string program(command.substr(begin, end - begin));
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  for (std::string_view dirs = path != nullptr ? path : ""; !dirs.empty();) {
    const std::size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    const std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return false;
}

void showPaged(std::string_view text, const std::string& command) {
  if (!pagerFound(command, std::getenv("PATH"))) {
    writeAll(STDOUT_FILENO, text);
    return;
  }
  auto pipe = base::makePipe();
  if (!pipe) {
    writeAll(STDOUT_FILENO, text);
    return;
  }
  // Only this process's environment, which the pager inherits; warden runs no other program.
  setenv("LESS", kLessOptions, /*overwrite=*/0);
  SpawnActions actions;
  // dup2 onto 0 clears close-on-exec there; the pipe's own descriptors close at exec.
  posix_spawn_file_actions_adddup2(actions.get(), pipe->readEnd.get(), STDIN_FILENO);
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  const SignalDisposition quietPipe(SIGPIPE, SIG_IGN);
  const SignalDisposition keepInt(SIGINT, SIG_IGN);
  const SignalDisposition keepQuit(SIGQUIT, SIG_IGN);
  // posix_spawn resets signals the parent ignores only if asked; the pager must get them.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGQUIT);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
  const int error = posix_spawn(&pid, "/bin/sh", actions.get(), &attributes,
                                const_cast<char* const*>(argv), environ);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    writeAll(STDOUT_FILENO, text);
    return;
  }
  pipe->readEnd.reset();
  writeAll(pipe->writeEnd.get(), text);
  pipe->writeEnd.reset();  // end of input: the pager shows the rest and waits for the user
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace warden::cli
