// Privileged tier: the programs number processes as a pid namespace other than the initial one
// does (wardend in a container), here a namespace the test makes. Its processes are reported
// under their pids there; processes outside it (this test, in the initial namespace, is one)
// are never reported under a pid: flow owners get tgid 0, process events are left out.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "engine/attribution/attributor.h"
#include "engine/attribution/bpf_attribution.h"
#include "engine/attribution/system_mounts.h"
#include "tests/bpf/bpf_lab.h"

namespace warden::engine {
namespace {

using testing::BpfLab;
using testing::LabClient;

// A pid namespace of its own, held by its pid 1 (which only waits to be killed), with the
// intermediate process that made it as that pid 1's parent. Both are gone after destruction.
class PidNamespaceHolder {
 public:
  PidNamespaceHolder() {
    auto pipe = base::makePipe();
    if (!pipe) {
      ADD_FAILURE() << pipe.error().message();
      return;
    }
    maker_ = fork();
    if (maker_ == 0) {
      if (unshare(CLONE_NEWPID) != 0) _exit(1);
      const pid_t init = fork();  // pid 1 of the new namespace
      if (init == 0) {
        for (;;) pause();
      }
      if (init < 0 || write(pipe->writeEnd.get(), &init, sizeof init) != sizeof init) _exit(2);
      waitpid(init, nullptr, 0);
      _exit(0);
    }
    pipe->writeEnd.reset();
    if (maker_ < 0 || read(pipe->readEnd.get(), &init_, sizeof init_) != sizeof init_) {
      ADD_FAILURE() << "no pid namespace made";
      return;
    }
    auto fd = base::openFile("/proc/" + std::to_string(init_) + "/ns/pid", O_RDONLY);
    if (!fd) {
      ADD_FAILURE() << fd.error().message();
      return;
    }
    fd_ = std::move(*fd);
    struct stat st {};
    EXPECT_EQ(fstat(fd_.get(), &st), 0);
    inode_ = static_cast<std::uint32_t>(st.st_ino);
  }
  ~PidNamespaceHolder() {
    if (init_ > 0) kill(init_, SIGKILL);
    if (maker_ > 0) waitpid(maker_, nullptr, 0);
  }
  PidNamespaceHolder(const PidNamespaceHolder&) = delete;
  PidNamespaceHolder& operator=(const PidNamespaceHolder&) = delete;

  int fd() const { return fd_.get(); }
  std::uint32_t inode() const { return inode_; }

 private:
  pid_t maker_ = -1;
  pid_t init_ = -1;  // as the initial namespace numbers it
  base::UniqueFd fd_;
  std::uint32_t inode_ = 0;
};

warden_flow_key tcpKey(const LabClient& client, std::uint16_t remotePort) {
  PacketInfo packet;
  packet.ipProto = IPPROTO_TCP;
  packet.destination = *rules::IpAddress::parse("127.0.0.1");
  packet.sourcePort = client.localPort;
  packet.destinationPort = remotePort;
  return outboundFlowKey(packet, client.netnsCookie);
}

class BpfPidNamespaceTest : public testing::BpfLabTest {
 protected:
  void SetUp() override {
    BpfLabTest::SetUp();
    if (stopped()) return;
    namespace_ = std::make_unique<PidNamespaceHolder>();
    ASSERT_NE(namespace_->inode(), 0u);
    BpfOptions options;
    options.cgroup = lab_->cgroup();
    options.pidNamespaceInode = namespace_->inode();
    auto loaded = BpfAttribution::load(options);
    ASSERT_TRUE(loaded) << loaded.error().message();
    bpf_ = std::move(*loaded);
    auto opened = bpf_->openEvents([this](std::span<const std::byte> record) {
      records_.emplace_back(record.begin(), record.end());
      return true;
    });
    ASSERT_TRUE(opened) << opened.error().message();
  }
  void TearDown() override {
    bpf_.reset();
    namespace_.reset();
    BpfLabTest::TearDown();
  }

  // Every record the ring holds now, as structs of `kind`.
  template <typename Event>
  std::vector<Event> events(std::uint32_t kind) {
    EXPECT_TRUE(bpf_->consumeEvents());
    std::vector<Event> out;
    for (const auto& record : records_) {
      warden_event_head head;
      std::memcpy(&head, record.data(), sizeof head);
      if (head.kind != kind) continue;
      Event event{};
      std::memcpy(&event, record.data(), std::min(record.size(), sizeof event));
      out.push_back(event);
    }
    return out;
  }

  std::unique_ptr<PidNamespaceHolder> namespace_;
  std::unique_ptr<BpfAttribution> bpf_;
  std::vector<std::vector<std::byte>> records_;
};

TEST_F(BpfPidNamespaceTest, AProcessInsideIsNumberedAsTheNamespaceNumbersIt) {
  LabClient client =
      lab_->runInPidNamespace(lab_->nsA(), namespace_->fd(), {"tcp", "127.0.0.1", "9"});
  ASSERT_EQ(client.wait(), 0);
  ASSERT_GT(client.announcedPid, 1);
  ASSERT_NE(client.announcedPid, client.pid);  // its parent's pid, outside: not its own

  warden_owner owner{};
  ASSERT_TRUE(bpf_->lookupFlow(tcpKey(client, 9), owner));
  EXPECT_EQ(owner.tgid, static_cast<std::uint32_t>(client.announcedPid));
  EXPECT_EQ(owner.pid, owner.tgid);
  EXPECT_EQ(owner.ppid, 0u) << "its parent runs outside the namespace";
  EXPECT_STREQ(owner.comm, "attr_client");

  // fork (of the parent outside), exec and exit, all under the pid it has in the namespace.
  const auto forks = events<warden_fork_event>(WARDEN_EVENT_FORK);
  const auto execs = events<warden_exec_event>(WARDEN_EVENT_EXEC);
  const auto exits = events<warden_exit_event>(WARDEN_EVENT_EXIT);
  ASSERT_EQ(forks.size(), 1u);
  EXPECT_EQ(forks[0].child_tgid, owner.tgid);
  EXPECT_EQ(forks[0].parent_tgid, 0u);
  EXPECT_EQ(forks[0].child_start_time_ns, owner.start_time_ns);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0].owner.tgid, owner.tgid);
  EXPECT_EQ(execs[0].owner.start_time_ns, owner.start_time_ns);
  // The generation it forked with (its parent's), one more for its exec, which its socket
  // record carries.
  EXPECT_NE(forks[0].exec_id, 0u);
  EXPECT_EQ(execs[0].owner.exec_id, forks[0].exec_id + 1);
  EXPECT_EQ(owner.exec_id, execs[0].owner.exec_id);
  EXPECT_EQ(owner.fork_exec_id, forks[0].exec_id) << "where its generations began";
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].tgid, owner.tgid);
}

TEST_F(BpfPidNamespaceTest, AProcessOutsideIsNeverNamedByAPid) {
  // Started by this test, in the initial namespace: an ancestor of the one the programs number
  // in, where it has no pid.
  LabClient client = lab_->run(lab_->nsA(), {"tcp", "127.0.0.1", "9"});
  ASSERT_EQ(client.wait(), 0);

  warden_owner owner{};
  ASSERT_TRUE(bpf_->lookupFlow(tcpKey(client, 9), owner));
  EXPECT_EQ(owner.tgid, 0u);
  EXPECT_EQ(owner.pid, 0u);
  EXPECT_STREQ(owner.comm, "attr_client");  // the record is there, only unattributable
  EXPECT_GE(bpf_->counters()[WARDEN_CTR_OUTSIDE_PIDNS], 1u);
  // Its fork, exec and exit (and this test's own activity) are not reported at all.
  EXPECT_TRUE(events<warden_fork_event>(WARDEN_EVENT_FORK).empty());
  EXPECT_TRUE(events<warden_exec_event>(WARDEN_EVENT_EXEC).empty());
  EXPECT_TRUE(events<warden_exit_event>(WARDEN_EVENT_EXIT).empty());
}

}  // namespace
}  // namespace warden::engine
