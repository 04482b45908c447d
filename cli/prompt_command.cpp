#include "cli/prompt_command.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "base/unique_fd.h"
#include "cli/config_files.h"
#include "cli/control_client.h"
#include "cli/prompt_view.h"
#include "cli/table.h"

extern char** environ;

namespace warden::cli {
namespace {

// The terminal in one-key mode (no line editing, no echo) for as long as this lives; Ctrl-C
// still interrupts (ISIG), and is read as a signal.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(fd_, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

Failure failure(std::string message) { return {ExitCode::kError, std::move(message)}; }

bool sendLine(int fd, std::string line) {
  line += '\n';
  for (std::string_view rest = line; !rest.empty();) {
    const ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads what the socket has into `buffer`; false when wardend closed it.
bool readSome(int fd, std::string& buffer) {
  char chunk[65536];
  const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  buffer.append(chunk, static_cast<std::size_t>(n));
  return true;
}

// The next whole line of `buffer`, taken out of it.
std::optional<std::string> takeLine(std::string& buffer) {
  const auto newline = buffer.find('\n');
  if (newline == std::string::npos) return std::nullopt;
  std::string line = buffer.substr(0, newline);
  buffer.erase(0, newline + 1);
  return line;
}

// Runs this same `warden` with `args` (and the configuration) to write a rule into the policy
// files, its output on the terminal; its exit status.
int runEdit(const std::vector<std::string>& args, const std::filesystem::path& configPath) {
  std::vector<std::string> argv = {"warden"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--config", configPath.string(), "--no-pager"});
  std::vector<char*> pointers;
  for (std::string& arg : argv) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  // The child gets the signals this process reads from its signalfd back.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, "/proc/self/exe", nullptr, &attr, pointers.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (spawned != 0) {
    std::cout << "could not run warden " << args.front() << ": " << std::strerror(spawned) << "\n";
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string shellWords(const std::vector<std::string>& args) {
  std::string out = "warden";
  for (const std::string& arg : args) out += " " + printable(arg);  // a path a user named
  return out;
}

}  // namespace

int runPrompt(const std::filesystem::path& configPath) {
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    return report(failure("prompt is interactive: it needs a terminal on stdin and stdout"),
                  std::cerr);
  }
  auto config = readConfig(configPath, std::cerr);
  if (!config) return report(config.error(), std::cerr);
  auto connected = connectDaemon(config->controlSocket);
  if (!connected) return report(connected.error(), std::cerr);
  const base::UniqueFd socket = std::move(*connected);
  if (!sendLine(socket.get(), R"({"version":1,"command":"prompt"})")) {
    return report(failure("sending to wardend: " + std::string(std::strerror(errno))), std::cerr);
  }
  std::string buffer;
  std::optional<std::string> first;
  while (!(first = takeLine(buffer))) {
    if (!readSome(socket.get(), buffer)) {
      return report(failure("wardend closed the control connection without an answer"), std::cerr);
    }
  }
  auto greeting = interpretAnswer(config->controlSocket, *first);
  if (!greeting) return report(greeting.error(), std::cerr);

  // Ctrl-C and SIGTERM are read from a descriptor, so that leaving restores the terminal.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  const base::UniqueFd signalFd(signalfd(-1, &signals, SFD_CLOEXEC));
  const RawTerminal terminal(STDIN_FILENO);

  PromptView view;
  std::cout << PromptView::greeting(*greeting) << "waiting for questions...\n" << std::flush;
  pollfd fds[3] = {
      {socket.get(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}, {signalFd.get(), POLLIN, 0}};
  for (;;) {
    while (auto line = takeLine(buffer)) std::cout << view.received(*line);
    std::cout << std::flush;
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return report(failure("poll: " + std::string(std::strerror(errno))), std::cerr);
    }
    if (fds[2].revents & POLLIN) break;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!readSome(socket.get(), buffer)) {
        while (auto line = takeLine(buffer)) std::cout << view.received(*line);
        std::cout << "wardend closed the connection (it stopped?)\n" << std::flush;
        return toInt(ExitCode::kDaemonDown);
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      char key = 0;
      const ssize_t n = ::read(STDIN_FILENO, &key, 1);
      if (n == 0) break;  // the terminal went away
      if (n < 0) continue;
      PromptView::Keyed keyed = view.key(key);
      if (keyed.quit) break;
      if (keyed.send && !sendLine(socket.get(), *keyed.send)) {
        std::cout << "wardend closed the connection (it stopped?)\n" << std::flush;
        return toInt(ExitCode::kDaemonDown);
      }
      if (!keyed.edit.empty()) {
        std::cout << "writing the rule: " << shellWords(keyed.edit) << "\n" << std::flush;
        const int status = runEdit(keyed.edit, configPath);
        if (status != 0) {
          std::cout << "the rule was not written (exit status " << status
                    << "); the held flow got the answer all the same\n";
        }
      }
      std::cout << keyed.text << std::flush;
    }
  }
  std::cout << "leaving: " << view.open() << " open questions get the engine verdict from wardend\n"
            << std::flush;
  return toInt(ExitCode::kOk);
}

Command addPromptCommand(CLI::App& app, std::string& configPath) {
  CLI::App* prompt = addSubcommand(
      app, "prompt",
      "Answer, at a terminal, for each new flow of a program no profile matches: wardend holds "
      "its first packet while this runs",
      configPath);
  return {prompt, [&configPath] { return runPrompt(configPath); }};
}

}  // namespace warden::cli
