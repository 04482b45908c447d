#include "tests/bpf/bpf_lab.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "base/clock.h"
#include "engine/attribution/system_mounts.h"

namespace warden::engine::testing {
namespace {

constexpr const char* kPrefix = "wbpf";

bool alive(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

int shell(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void killCgroup(const std::string& cgroup) {
  for (int round = 0; round < 100; ++round) {
    std::ifstream procs(cgroup + "/cgroup.procs");
    std::vector<pid_t> pids;
    for (pid_t pid; procs >> pid;) pids.push_back(pid);
    if (pids.empty()) break;
    for (pid_t pid : pids) kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  rmdir(cgroup.c_str());
}

// Namespaces and cgroups named after a test process that is gone.
void sweep(const std::string& cgroupRoot) {
  const std::regex name(std::string("^") + kPrefix + "(\\d+)[ab]?$");
  std::smatch m;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string n = entry.path().filename().string();
    if (std::regex_match(n, m, name) && !alive(std::stoi(m[1]))) shell("ip netns del " + n);
  }
  for (const auto& entry : std::filesystem::directory_iterator(cgroupRoot, ec)) {
    const std::string n = entry.path().filename().string();
    if (std::regex_match(n, m, name) && !alive(std::stoi(m[1]))) killCgroup(entry.path());
  }
}

}  // namespace

void LabClient::release() { stdinFd.reset(); }

int LabClient::wait() {
  release();
  if (pid <= 0 || reaped) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  reaped = true;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::optional<std::string> BpfLab::unavailableReason() {
  if (geteuid() != 0) return "needs root (cgroups, network namespaces, BPF)";
  if (!cgroup2MountPoint()) return "no cgroup2 mount";
  if (shell("ip -V") != 0) return "no `ip` (iproute2)";
  if (access(clientPath().c_str(), X_OK) != 0) return "attr_client not built at " + clientPath();
  return std::nullopt;
}

std::string BpfLab::clientPath() { return WARDEN_ATTR_CLIENT; }

BpfLab::BpfLab() {
  const std::string root = cgroup2MountPoint().value();
  sweep(root);
  const std::string base = kPrefix + std::to_string(getpid());
  cgroup_ = root + "/" + base;
  if (mkdir(cgroup_.c_str(), 0755) != 0 && errno != EEXIST) {
    ADD_FAILURE() << "mkdir " << cgroup_ << ": " << std::strerror(errno);
  }
  nsA_ = base + "a";
  nsB_ = base + "b";
  for (const auto& ns : {nsA_, nsB_}) {
    shell("ip netns del " + ns);
    if (shell("ip netns add " + ns) != 0 || shell("ip -n " + ns + " link set lo up") != 0) {
      ADD_FAILURE() << "cannot set up network namespace " << ns;
    }
  }
}

BpfLab::~BpfLab() {
  leaveNamespace();
  // Only what is still in the lab cgroup is killed (a pid already reaped may be reused).
  killCgroup(cgroup_);
  for (pid_t pid : started_) waitpid(pid, nullptr, WNOHANG);
  shell("ip netns del " + nsA_);
  shell("ip netns del " + nsB_);
}

LabClient BpfLab::run(const std::string& ns, const std::vector<std::string>& args, uid_t uid) {
  return runProgram(ns, clientPath(), args, uid);
}

LabClient BpfLab::runProgram(const std::string& ns, const std::string& program,
                             const std::vector<std::string>& args, uid_t uid, bool announces) {
  return start(ns, program, args, uid, announces, -1);
}

LabClient BpfLab::runInPidNamespace(const std::string& ns, int pidNamespaceFd,
                                    const std::vector<std::string>& args) {
  return start(ns, clientPath(), args, 0, true, pidNamespaceFd);
}

LabClient BpfLab::start(const std::string& ns, const std::string& program,
                        const std::vector<std::string>& args, uid_t uid, bool announces,
                        int pidNamespaceFd) {
  LabClient client;
  auto in = base::makePipe();
  auto out = base::makePipe();
  if (!in || !out) {
    ADD_FAILURE() << (in ? out : in).error().message();
    return client;
  }
  const std::string netnsPath = "/run/netns/" + ns;
  const std::string procs = cgroup_ + "/cgroup.procs";
  std::vector<std::string> argv = {program};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  client.forkedAtNs = base::bootTimeNs();
  const pid_t pid = fork();
  if (pid == 0) {
    // Child: into the cgroup and the namespace, drop to uid, become the client.
    const int cg = open(procs.c_str(), O_WRONLY);
    if (cg < 0 || write(cg, "0", 1) != 1) _exit(120);
    const int netns = open(netnsPath.c_str(), O_RDONLY);
    if (netns < 0 || setns(netns, CLONE_NEWNET) != 0) _exit(121);
    if (uid != 0 && (setgid(uid) != 0 || setuid(uid) != 0)) _exit(122);
    if (pidNamespaceFd >= 0) {
      // Only children are born into the namespace: the client is one, waited for here.
      if (setns(pidNamespaceFd, CLONE_NEWPID) != 0) _exit(124);
      const pid_t inside = fork();
      if (inside < 0) _exit(125);
      if (inside > 0) {
        // Not exec'd, so the test's pipe ends are still open here: a client waiting for its
        // stdin to close would wait for this process too.
        close(in->writeEnd.get());
        close(out->readEnd.get());
        int status = 0;
        if (waitpid(inside, &status, 0) != inside) _exit(126);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
      }
    }
    dup2(in->readEnd.get(), 0);
    dup2(out->writeEnd.get(), 1);
    execv(cargv[0], cargv.data());
    _exit(123);
  }
  in->readEnd.reset();
  out->writeEnd.reset();
  client.pid = pid;
  client.stdinFd = std::move(in->writeEnd);
  started_.push_back(pid);

  pollfd pfd{out->readEnd.get(), POLLIN, 0};
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(announces ? 10 : 0);
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    if (poll(&pfd, 1, 100) <= 0) continue;
    char buffer[256];
    const ssize_t n = read(out->readEnd.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    line.append(buffer, static_cast<std::size_t>(n));
  }
  out->readEnd.reset();
  client.startedByNs = base::bootTimeNs();
  client.line = line;
  if (!announces) return client;
  unsigned port = 0;
  unsigned long long cookie = 0;
  int announcedPid = 0;
  if (std::sscanf(line.c_str(), "pid=%d local_port=%u netns_cookie=%llu", &announcedPid, &port,
                  &cookie) != 3 ||
      (pidNamespaceFd < 0 && announcedPid != pid)) {
    ADD_FAILURE() << "client " << args.front() << " did not announce itself: '" << line << "'";
  }
  client.localPort = static_cast<std::uint16_t>(port);
  client.netnsCookie = cookie;
  client.announcedPid = announcedPid;
  return client;
}

void BpfLab::enterNamespace(const std::string& ns) {
  if (!savedNetns_) {
    auto saved = base::openFile("/proc/thread-self/ns/net", O_RDONLY);
    ASSERT_TRUE(saved) << saved.error().message();
    savedNetns_ = std::move(*saved);
  }
  auto fd = base::openFile("/run/netns/" + ns, O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  ASSERT_EQ(setns(fd->get(), CLONE_NEWNET), 0) << std::strerror(errno);
}

void BpfLab::leaveNamespace() {
  if (!savedNetns_) return;
  setns(savedNetns_.get(), CLONE_NEWNET);
  savedNetns_.reset();
}

void BpfLabTest::SetUp() {
  if (auto reason = BpfLab::unavailableReason()) GTEST_SKIP() << *reason;
  auto tracefs = ensureTracefs();
  ASSERT_TRUE(tracefs) << tracefs.error().message();
  lab_ = std::make_unique<BpfLab>();
}

}  // namespace warden::engine::testing
