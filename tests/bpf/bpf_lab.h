#pragma once

#include <sys/types.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace warden::engine::testing {

// A client program started by BpfLab: its announced line, and the means to let it go.
struct LabClient {
  pid_t pid = -1;
  bool reaped = false;
  base::UniqueFd stdinFd;  // closing it releases a --hold client
  std::uint16_t localPort = 0;
  std::uint64_t netnsCookie = 0;
  std::uint64_t forkedAtNs = 0;   // CLOCK_BOOTTIME just before fork
  std::uint64_t startedByNs = 0;  // ... and once the client had announced itself
  std::string line;
  int announcedPid = 0;  // the pid the client said it has (getpid() in its pid namespace)

  void release();  // closes stdin
  int wait();      // releases, reaps, returns the exit status (or -1)
};

// What the privileged attribution tests run in: a cgroup of their own under the cgroup2 mount
// (the programs attach there and see nothing else) and two network namespaces with loopback
// up, so the same addresses and ports exist twice. Everything is removed by the destructor,
// also when a test fails; leftovers of a killed earlier run are swept at construction.
class BpfLab {
 public:
  // Why the lab cannot be built here (not root, no cgroup2, no `ip`), or nullopt.
  static std::optional<std::string> unavailableReason();

  BpfLab();
  ~BpfLab();
  BpfLab(const BpfLab&) = delete;
  BpfLab& operator=(const BpfLab&) = delete;

  const std::string& cgroup() const { return cgroup_; }
  const std::string& nsA() const { return nsA_; }
  const std::string& nsB() const { return nsB_; }

  // Runs attr_client with `args` in namespace `ns`, inside the lab cgroup, as `uid`, and
  // waits for its announcement line (fails the test without one in 10 s).
  LabClient run(const std::string& ns, const std::vector<std::string>& args, uid_t uid = 0);
  // The same with another program (argv[0] = `program`); `announces` false: do not wait for
  // an announcement line (the caller reads nothing; localPort and netnsCookie stay 0).
  LabClient runProgram(const std::string& ns, const std::string& program,
                       const std::vector<std::string>& args, uid_t uid = 0, bool announces = true);
  // attr_client as run() starts it, but as a process of the pid namespace `pidNamespaceFd` (an
  // open /proc/PID/ns/pid): LabClient::pid is then its parent, outside that namespace, which
  // exits with the client's status; announcedPid is the client's pid in the namespace.
  LabClient runInPidNamespace(const std::string& ns, int pidNamespaceFd,
                              const std::vector<std::string>& args);

  // Moves the calling thread into namespace `ns` (and back with leaveNamespace()).
  void enterNamespace(const std::string& ns);
  void leaveNamespace();

  static std::string clientPath();

 private:
  LabClient start(const std::string& ns, const std::string& program,
                  const std::vector<std::string>& args, uid_t uid, bool announces,
                  int pidNamespaceFd);

  std::string cgroup_;
  std::string nsA_, nsB_;
  std::vector<pid_t> started_;
  base::UniqueFd savedNetns_;
};

// The fixture of the tests that load the programs: skips the test (with the reason) where the
// lab cannot be built; mounts tracefs, which the tracepoint programs need and a fresh machine
// may not have mounted (SPEC section 13), the way wardend mounts it; and builds the lab. A
// derived SetUp calls this one first and stops if it skipped or failed.
class BpfLabTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override { lab_.reset(); }
  bool stopped() const { return IsSkipped() || HasFatalFailure(); }

  std::unique_ptr<BpfLab> lab_;
};

}  // namespace warden::engine::testing
