// Privileged tier: the real programs, attached to a cgroup of the test's own, with real client
// processes in throwaway network namespaces. Skips (with the reason) where that is impossible.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
// after netinet/in.h
#include <linux/netfilter.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "base/sha256.h"
#include "base/unique_fd.h"
#include "engine/attribution/attributor.h"
#include "engine/attribution/bpf_attribution.h"
#include "engine/attribution/proc_reader.h"
#include "engine/attribution/process_tracker.h"
#include "engine/attribution/system_mounts.h"
#include "engine/netfilter/nft_table.h"
#include "tests/bpf/bpf_lab.h"
#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using testing::BpfLab;
using testing::BpfLabTest;
using testing::LabClient;
using warden::testing::eventually;

constexpr uid_t kNobody = 65534;

std::uint64_t inodeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

rules::IpAddress address(const char* text) { return *rules::IpAddress::parse(text); }

warden_flow_key flowKey(const LabClient& client, std::uint8_t protocol, const char* remote,
                        std::uint16_t remotePort) {
  PacketInfo packet;
  packet.ipProto = protocol;
  packet.destination = address(remote);
  packet.sourcePort = client.localPort;
  packet.destinationPort = remotePort;
  return outboundFlowKey(packet, client.netnsCookie);
}

// The listener key of what `server` bound, as the inbound path builds it.
warden_listener_key listenerKey(const LabClient& server, std::uint8_t protocol,
                                std::uint16_t port) {
  PacketInfo packet;
  packet.ipProto = protocol;
  packet.destinationPort = port;
  return inboundListenerKey(packet, server.netnsCookie);
}

PacketInfo outboundPacket(const LabClient& client, std::uint8_t protocol, const char* local,
                          const char* remote, std::uint16_t remotePort) {
  PacketInfo packet;
  packet.ipVersion = address(remote).isV4() ? 4 : 6;
  packet.ipProto = protocol;
  packet.source = address(local);
  packet.destination = address(remote);
  packet.sourcePort = client.localPort;
  packet.destinationPort = remotePort;
  return packet;
}

class BpfAttributionTest : public BpfLabTest {
 protected:
  void TearDown() override {
    attributor_.reset();
    bpf_.reset();
    BpfLabTest::TearDown();
  }

  // The programs alone, attached to the lab cgroup.
  void loadPrograms(std::uint32_t flowEntries = WARDEN_DEFAULT_FLOW_ENTRIES,
                    std::uint32_t flowSlots = WARDEN_DEFAULT_FLOW_SLOTS,
                    bool processEvents = false) {
    BpfOptions options;
    options.cgroup = lab_->cgroup();
    options.flowEntries = flowEntries;
    options.flowSlots = flowSlots;
    options.processEvents = processEvents;
    auto loaded = BpfAttribution::load(options);
    ASSERT_TRUE(loaded) << loaded.error().message();
    bpf_ = std::move(*loaded);
  }

  // The whole Attributor, living in namespace A as wardend would in its own.
  void startAttributor(bool ebpf) {
    lab_->enterNamespace(lab_->nsA());
    AttributorOptions options;
    options.ebpf = ebpf;
    options.cgroup = lab_->cgroup();
    options.fallbackWait = std::chrono::milliseconds(500);
    attributor_ = Attributor::create(options);
    ASSERT_EQ(attributor_->method(),
              ebpf ? AttributionMethod::kEbpf : AttributionMethod::kSockDiag);
  }

  // warden's table, as wardend installs it, in the network namespace of the calling thread:
  // a UDP socket connected before its local port was bound is keyed at its first datagram,
  // by the table's socket filters; without them, nothing keys it. Nothing listens on its
  // queues, which pass new flows (bypass). Goes with the namespace.
  void installTable(const BpfAttribution& bpf) {
    TablePlan plan;
    plan.owner = "bpf_tests";
    plan.inbound = false;
    plan.dns = false;
    plan.udpReuseFilterFd = bpf.udpReuseFilterFd();
    plan.udpConnectedFd = bpf.udpConnectedFd();
    plan.marks = MarkBits{0x00f00000};
    auto installed = NftTable::install(plan);
    ASSERT_TRUE(installed) << installed.error().message();
  }

  void installTableIn(const std::string& ns) {
    lab_->enterNamespace(ns);
    installTable(*bpf_);
    lab_->leaveNamespace();
  }

  // What every owner record must say about `client`.
  void expectOwner(const warden_owner& owner, const LabClient& client, uid_t uid) {
    EXPECT_EQ(owner.tgid, static_cast<std::uint32_t>(client.pid));
    EXPECT_EQ(owner.pid, static_cast<std::uint32_t>(client.pid));
    EXPECT_EQ(owner.uid, uid);
    EXPECT_STREQ(owner.comm, "attr_client");
    EXPECT_GE(owner.start_time_ns, client.forkedAtNs);
    EXPECT_LE(owner.start_time_ns, client.startedByNs);
    EXPECT_EQ(owner.exe_ino, inodeOf(BpfLab::clientPath()));
    EXPECT_EQ(owner.cgroup_id, inodeOf(lab_->cgroup()));  // cgroup id = its kernfs inode
    EXPECT_EQ(owner.ppid, static_cast<std::uint32_t>(getpid()));
    // Forked by this test, then one exec: a generation past the one it was forked at.
    EXPECT_NE(owner.fork_exec_id, 0u);
    EXPECT_EQ(owner.exec_id, owner.fork_exec_id + 1);
  }

  std::unique_ptr<BpfAttribution> bpf_;
  std::unique_ptr<Attributor> attributor_;
};

TEST_F(BpfAttributionTest, TcpConnectV4AndV6) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  for (const char* remote : {"127.0.0.1", "::1", "::ffff:127.0.0.1"}) {
    SCOPED_TRACE(remote);
    LabClient client = lab_->run(lab_->nsA(), {"tcp", remote, "9"}, kNobody);
    warden_owner owner{};
    ASSERT_TRUE(bpf_->lookupFlow(flowKey(client, IPPROTO_TCP, remote, 9), owner));
    expectOwner(owner, client, kNobody);
    EXPECT_EQ(client.wait(), 0);
  }
  EXPECT_EQ(bpf_->counters()[WARDEN_CTR_FLOW_INSERTS], 3u);
}

TEST_F(BpfAttributionTest, UdpSendtoFromAProcessThatExitsRightAway) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  for (const char* remote : {"127.0.0.1", "::1", "::ffff:127.0.0.1"}) {
    SCOPED_TRACE(remote);
    LabClient client = lab_->run(lab_->nsA(), {"udp-sendto", remote, "5353"}, kNobody);
    ASSERT_EQ(client.wait(), 0);  // gone before anyone looks
    warden_owner owner{};
    ASSERT_TRUE(bpf_->lookupFlow(flowKey(client, IPPROTO_UDP, remote, 5353), owner));
    expectOwner(owner, client, kNobody);
  }
}

TEST_F(BpfAttributionTest, UdpConnectThenSend) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  ASSERT_NO_FATAL_FAILURE(installTableIn(lab_->nsA()));
  for (const char* remote : {"127.0.0.1", "::1", "::ffff:127.0.0.1"}) {
    SCOPED_TRACE(remote);
    LabClient client = lab_->run(lab_->nsA(), {"udp-connect", remote, "5354"});
    ASSERT_EQ(client.wait(), 0);
    warden_owner owner{};
    ASSERT_TRUE(bpf_->lookupFlow(flowKey(client, IPPROTO_UDP, remote, 5354), owner));
    expectOwner(owner, client, 0);
    EXPECT_EQ(owner.flags, 0u) << "keyed by the table for the datagram's own sender";
  }
  // Bound first: keyed provisionally at the connect, for good at the first datagram.
  LabClient bound =
      lab_->run(lab_->nsA(), {"udp-connect", "127.0.0.1", "5354", "--bind-port", "40010"});
  ASSERT_EQ(bound.wait(), 0);
  warden_owner owner{};
  ASSERT_TRUE(bpf_->lookupFlow(flowKey(bound, IPPROTO_UDP, "127.0.0.1", 5354), owner));
  expectOwner(owner, bound, 0);
  EXPECT_EQ(owner.flags, 0u);
  const BpfCounters c = bpf_->counters();
  EXPECT_EQ(c[WARDEN_CTR_UDP_CONNECT_PENDING], 4u);
  EXPECT_EQ(c[WARDEN_CTR_UDP_CONNECT_DONE], 4u);
  EXPECT_EQ(c[WARDEN_CTR_UDP_CONNECT_OTHER_SENDER] + c[WARDEN_CTR_UDP_CONNECT_UNNAMED], 0u);
}

// Without the table, a connect that binds the socket's port keys nothing: the hook cannot (the
// port is bound after it) and no program sees the datagram. A socket bound before its connect
// is keyed at the hook itself.
TEST_F(BpfAttributionTest, UdpConnectOfAnUnboundSocketIsKeyedByTheTable) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  LabClient unbound = lab_->run(lab_->nsB(), {"udp-connect", "127.0.0.1", "5357"});
  ASSERT_EQ(unbound.wait(), 0);
  warden_owner owner{};
  EXPECT_FALSE(bpf_->lookupFlow(flowKey(unbound, IPPROTO_UDP, "127.0.0.1", 5357), owner));
  EXPECT_EQ(bpf_->counters()[WARDEN_CTR_UDP_CONNECT_DONE], 0u);
  LabClient bound =
      lab_->run(lab_->nsB(), {"udp-connect", "127.0.0.1", "5357", "--bind-port", "40002"});
  ASSERT_EQ(bound.wait(), 0);
  ASSERT_TRUE(bpf_->lookupFlow(flowKey(bound, IPPROTO_UDP, "127.0.0.1", 5357), owner));
  expectOwner(owner, bound, 0);
  // Provisionally: its first datagram, which the table would key again for its sender, no
  // program saw (wardend asks sock_diag for such a record's flow).
  EXPECT_EQ(owner.flags, WARDEN_OWNER_PROVISIONAL);
  EXPECT_EQ(bpf_->counters()[WARDEN_CTR_UDP_CONNECT_DONE], 0u);
}

// A connected socket's sendmsg with a control message and no address passes the sendmsg hook
// with no destination: nothing is keyed for it (0.0.0.0:0 is no flow's key); the flow is keyed
// by its connect (bound first) and by the table at its first datagram.
TEST_F(BpfAttributionTest, AConnectedSendWithAControlMessageKeysNoEmptyDestination) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  for (const char* remote : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(remote);
    LabClient client = lab_->run(lab_->nsB(), {"udp-connect-cmsg", remote, "5358", "--bind-port",
                                               std::string(remote) == "::1" ? "40021" : "40020"});
    ASSERT_EQ(client.wait(), 0);
    warden_owner owner{};
    EXPECT_FALSE(bpf_->lookupFlow(
        flowKey(client, IPPROTO_UDP, std::string(remote) == "::1" ? "::" : "0.0.0.0", 0), owner));
    ASSERT_TRUE(bpf_->lookupFlow(flowKey(client, IPPROTO_UDP, remote, 5358), owner));
    EXPECT_EQ(owner.flags, WARDEN_OWNER_PROVISIONAL) << "keyed by the connect alone";
  }
}

TEST_F(BpfAttributionTest, ManyDatagramsToOnePeerWriteTheMapOnce) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  LabClient client = lab_->run(lab_->nsA(), {"udp-sendto", "127.0.0.1", "5355", "--count", "100"});
  ASSERT_EQ(client.wait(), 0);
  const BpfCounters c = bpf_->counters();
  EXPECT_EQ(c[WARDEN_CTR_FLOW_INSERTS], 1u);
  EXPECT_EQ(c[WARDEN_CTR_FLOW_UNCHANGED], 99u);
}

TEST_F(BpfAttributionTest, ListenersTcpAndUdp) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  LabClient tcp = lab_->run(lab_->nsA(), {"listen", "::", "8080", "--hold"}, kNobody);
  LabClient udp = lab_->run(lab_->nsA(), {"listen", "udp", "8053", "--hold"}, kNobody);
  warden_listener_key key = listenerKey(tcp, IPPROTO_TCP, 8080);
  warden_owner owner{};
  ASSERT_TRUE(bpf_->lookupListener(key, owner));
  expectOwner(owner, tcp, kNobody);
  key = listenerKey(udp, IPPROTO_UDP, 8053);
  ASSERT_TRUE(bpf_->lookupListener(key, owner));
  expectOwner(owner, udp, kNobody);
  // A port nothing was bound to since the programs were loaded has no record, and is not
  // asked for (the bitmap of bound ports says so): no syscall.
  key.local_port = 8054;
  const std::uint64_t syscalls = bpf_->mirrorMisses();
  EXPECT_FALSE(bpf_->lookupListener(key, owner));
  EXPECT_EQ(bpf_->mirrorMisses(), syscalls);
  // The same record by the socket's cookie (bound_sockets: whose a socket is that receives an
  // inbound flow), for each socket.
  warden_owner bound{};
  ASSERT_TRUE(bpf_->lookupListener(listenerKey(udp, IPPROTO_UDP, 8053), owner));
  ASSERT_NE(owner.sock_cookie, 0u);
  ASSERT_TRUE(bpf_->lookupBoundSocket(owner.sock_cookie, bound));
  expectOwner(bound, udp, kNobody);
  EXPECT_EQ(bound.sock_cookie, owner.sock_cookie);
  ASSERT_TRUE(bpf_->lookupListener(listenerKey(tcp, IPPROTO_TCP, 8080), owner));
  ASSERT_TRUE(bpf_->lookupBoundSocket(owner.sock_cookie, bound));
  expectOwner(bound, tcp, kNobody);
  EXPECT_FALSE(bpf_->lookupBoundSocket(owner.sock_cookie + 1000000, bound));
  // The bitmap of bound ports says which ports may have records.
  EXPECT_TRUE(bpf_->portBound(8080));
  EXPECT_TRUE(bpf_->portBound(8053));
  EXPECT_FALSE(bpf_->portBound(8054));
}

// The verdict path reads the mirrors, not the maps: every kind of flow and listener must be
// there, with the very owner the map holds, and found without a syscall.
TEST_F(BpfAttributionTest, MirrorsAnswerWithoutASyscall) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  ASSERT_NO_FATAL_FAILURE(installTableIn(lab_->nsA()));  // keys connected UDP
  struct Case {
    std::vector<std::string> args;
    std::uint8_t protocol;
    const char* remote;
    std::uint16_t port;
    uid_t uid;
  };
  for (const Case& c :
       {Case{{"tcp", "127.0.0.1", "9"}, IPPROTO_TCP, "127.0.0.1", 9, kNobody},
        Case{{"tcp", "::1", "9"}, IPPROTO_TCP, "::1", 9, kNobody},
        Case{{"udp-sendto", "::1", "5353"}, IPPROTO_UDP, "::1", 5353, kNobody},
        Case{{"udp-connect", "127.0.0.1", "5354"}, IPPROTO_UDP, "127.0.0.1", 5354, 0},
        Case{{"udp-connect", "::1", "5354"}, IPPROTO_UDP, "::1", 5354, kNobody}}) {
    SCOPED_TRACE(c.args[0] + " " + c.remote);
    LabClient client = lab_->run(lab_->nsA(), c.args, c.uid);
    ASSERT_EQ(client.wait(), 0);
    const warden_flow_key key = flowKey(client, c.protocol, c.remote, c.port);
    warden_owner mirrored{}, mapped{};
    ASSERT_TRUE(bpf_->mirroredFlow(key, mirrored));
    expectOwner(mirrored, client, c.uid);
    ASSERT_TRUE(bpf_->lookupFlow(key, mapped));
    EXPECT_EQ(std::memcmp(&mirrored, &mapped, sizeof mapped), 0);
  }
  LabClient server = lab_->run(lab_->nsA(), {"listen", "::", "8080", "--hold"}, kNobody);
  const warden_listener_key key = listenerKey(server, IPPROTO_TCP, 8080);
  warden_owner owner{};
  ASSERT_TRUE(bpf_->mirroredListener(key, owner));
  expectOwner(owner, server, kNobody);
  ASSERT_TRUE(bpf_->lookupListener(key, owner));
  EXPECT_EQ(bpf_->mirrorMisses(), 0u);
  EXPECT_EQ(bpf_->counters()[WARDEN_CTR_SLOT_BUSY], 0u);
}

// A mirror of one slot holds only the latest flow: the earlier one is still found, in the map,
// at the price of a syscall; a key the slot does not hold is never taken for another.
TEST_F(BpfAttributionTest, FlowsTheMirrorLostAreFoundInTheMap) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms(WARDEN_DEFAULT_FLOW_ENTRIES, /*flowSlots=*/1));
  LabClient first = lab_->run(lab_->nsA(), {"udp-sendto", "127.0.0.1", "6001"}, kNobody);
  ASSERT_EQ(first.wait(), 0);
  LabClient second = lab_->run(lab_->nsA(), {"udp-sendto", "127.0.0.1", "6002"});
  ASSERT_EQ(second.wait(), 0);
  warden_owner owner{};
  const warden_flow_key firstKey = flowKey(first, IPPROTO_UDP, "127.0.0.1", 6001);
  EXPECT_FALSE(bpf_->mirroredFlow(firstKey, owner));
  ASSERT_TRUE(bpf_->lookupFlow(firstKey, owner));
  expectOwner(owner, first, kNobody);
  EXPECT_EQ(bpf_->mirrorMisses(), 1u);
  ASSERT_TRUE(bpf_->lookupFlow(flowKey(second, IPPROTO_UDP, "127.0.0.1", 6002), owner));
  expectOwner(owner, second, 0);
  EXPECT_EQ(bpf_->mirrorMisses(), 1u);
}

// A process whose key lost its slot, sending again on it (the map's unchanged path), writes
// the slot again: the mirror never keeps saying something the map does not.
TEST_F(BpfAttributionTest, AnUnchangedSendRepairsItsSlot) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms(WARDEN_DEFAULT_FLOW_ENTRIES, /*flowSlots=*/1));
  LabClient first =
      lab_->run(lab_->nsA(), {"udp-sendto", "127.0.0.1", "6011", "--hold", "--resend"}, kNobody);
  const warden_flow_key firstKey = flowKey(first, IPPROTO_UDP, "127.0.0.1", 6011);
  warden_owner owner{};
  ASSERT_TRUE(bpf_->mirroredFlow(firstKey, owner));
  LabClient second = lab_->run(lab_->nsA(), {"udp-sendto", "127.0.0.1", "6012"});
  ASSERT_EQ(second.wait(), 0);
  EXPECT_FALSE(bpf_->mirroredFlow(firstKey, owner)) << "the one slot went to the second key";
  ASSERT_EQ(first.wait(), 0);  // released: it sends once more on its key
  ASSERT_TRUE(bpf_->mirroredFlow(firstKey, owner));
  expectOwner(owner, first, kNobody);
  const BpfCounters c = bpf_->counters();
  EXPECT_EQ(c[WARDEN_CTR_FLOW_UNCHANGED], 1u);
  EXPECT_EQ(c[WARDEN_CTR_FLOW_INSERTS], 2u);
}

TEST_F(BpfAttributionTest, TwoNamespacesWithTheSameTuple) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  // The same local port, remote address and port in both namespaces: only the namespace
  // cookie tells the flows apart.
  LabClient a = lab_->run(lab_->nsA(), {"tcp", "127.0.0.1", "9", "--bind-port", "40001"});
  LabClient b = lab_->run(lab_->nsB(), {"tcp", "127.0.0.1", "9", "--bind-port", "40001"});
  ASSERT_EQ(a.localPort, 40001);
  ASSERT_EQ(b.localPort, 40001);
  ASSERT_NE(a.netnsCookie, b.netnsCookie);
  warden_owner owner{};
  ASSERT_TRUE(bpf_->lookupFlow(flowKey(a, IPPROTO_TCP, "127.0.0.1", 9), owner));
  EXPECT_EQ(owner.tgid, static_cast<std::uint32_t>(a.pid));
  ASSERT_TRUE(bpf_->lookupFlow(flowKey(b, IPPROTO_TCP, "127.0.0.1", 9), owner));
  EXPECT_EQ(owner.tgid, static_cast<std::uint32_t>(b.pid));
}

TEST_F(BpfAttributionTest, ProcessesOutsideTheCgroupAreNotRecorded) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  // This test process is not in the lab cgroup.
  auto fd = base::makeSocket(AF_INET, SOCK_DGRAM, 0, "a socket outside the cgroup");
  ASSERT_TRUE(fd) << fd.error().message();
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(5356);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(sendto(fd->get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 1);
  EXPECT_EQ(bpf_->counters()[WARDEN_CTR_FLOW_INSERTS], 0u);
}

TEST_F(BpfAttributionTest, LruEvictionsAreCounted) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms(/*flowEntries=*/64));
  LabClient client = lab_->run(lab_->nsA(), {"udp-sendto", "127.0.0.1", "20000", "--ports", "300"});
  ASSERT_EQ(client.wait(), 0);
  const std::uint64_t inserts = bpf_->counters()[WARDEN_CTR_FLOW_INSERTS];
  const std::size_t entries = bpf_->flowEntryCount().value();
  EXPECT_EQ(inserts, 300u);
  EXPECT_LE(entries, 64u);
  EXPECT_GT(inserts - entries, 0u);
  // The most recent flow survives.
  warden_owner owner{};
  EXPECT_TRUE(bpf_->lookupFlow(flowKey(client, IPPROTO_UDP, "127.0.0.1", 20299), owner));
}

TEST_F(BpfAttributionTest, ManyShortLivedClientsAreEachAttributed) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  ASSERT_NO_FATAL_FAILURE(installTableIn(lab_->nsA()));  // keys connected UDP
  constexpr int kClients = 200;
  std::set<std::uint16_t> ports;
  for (int i = 0; i < kClients; ++i) {
    const bool v6 = i % 2;
    const char* remote = v6 ? "::1" : "127.0.0.1";
    const char* mode = (i / 2) % 2 ? "udp-connect" : "udp-sendto";
    LabClient client = lab_->run(lab_->nsA(), {mode, remote, "6000"});
    ASSERT_EQ(client.wait(), 0);
    warden_owner owner{};
    ASSERT_TRUE(bpf_->lookupFlow(flowKey(client, IPPROTO_UDP, remote, 6000), owner))
        << "client " << i << " (" << mode << " " << remote << ")";
    ASSERT_EQ(owner.tgid, static_cast<std::uint32_t>(client.pid)) << "client " << i;
  }
}

// The whole chain as wardend uses it: exec event -> process table, packet -> flow map.
TEST_F(BpfAttributionTest, AttributorDescribesAShortLivedProcess) {
  ASSERT_NO_FATAL_FAILURE(startAttributor(/*ebpf=*/true));
  LabClient client = lab_->run(lab_->nsA(), {"udp-sendto", "127.0.0.1", "5400"}, kNobody);
  ASSERT_EQ(client.wait(), 0);
  const PacketInfo packet = outboundPacket(client, IPPROTO_UDP, "127.0.0.1", "127.0.0.1", 5400);
  const Attribution found = attributor_->attribute(packet, NF_INET_LOCAL_OUT, /*hasUid=*/true);
  ASSERT_EQ(found.kind, OwnerKind::kProcess);
  EXPECT_EQ(found.via, Attribution::Via::kFlowMap);
  EXPECT_EQ(found.owner.tgid, static_cast<std::uint32_t>(client.pid));
  auto info = attributor_->describeWithin(found, std::chrono::seconds(5));
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->path, BpfLab::clientPath());
  EXPECT_EQ(info->argv,
            (std::vector<std::string>{BpfLab::clientPath(), "udp-sendto", "127.0.0.1", "5400"}));
  EXPECT_EQ(info->uid, kNobody);
  EXPECT_EQ(info->user, "nobody");
  EXPECT_EQ(info->key.pid, static_cast<std::uint32_t>(client.pid));
  // The same process's description (not necessarily the same object: the tracker may have
  // replaced it meanwhile, completed by its exit event).
  const auto again = attributor_->describe(found);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->key.pid, info->key.pid);
  EXPECT_EQ(again->key.startTicks, info->key.startTicks);
  EXPECT_EQ(again->execId, info->execId);
  EXPECT_EQ(again->path, info->path);
  EXPECT_FALSE(info->ancestorPaths.empty());  // the test binary that forked it

  // Kernel traffic (no uid, no record) and a socket nobody recorded.
  PacketInfo stray = packet;
  stray.sourcePort = 1;
  EXPECT_EQ(attributor_->attribute(stray, NF_INET_LOCAL_OUT, false).kind, OwnerKind::kKernel);
  EXPECT_EQ(attributor_->attribute(stray, NF_INET_LOCAL_OUT, true).kind, OwnerKind::kUnknown);
  const auto status = attributor_->statusJson();
  EXPECT_EQ(status["method"], "ebpf");
  EXPECT_GE(status["hits"].get<std::uint64_t>(), 1u);
  EXPECT_GE(status["misses"].get<std::uint64_t>(), 1u);
}

TEST_F(BpfAttributionTest, AttributorInboundToAListener) {
  ASSERT_NO_FATAL_FAILURE(startAttributor(/*ebpf=*/true));
  LabClient server = lab_->run(lab_->nsA(), {"listen", "::", "8081", "--hold"});
  PacketInfo syn;
  syn.ipVersion = 4;
  syn.ipProto = IPPROTO_TCP;
  syn.source = address("127.0.0.1");
  syn.destination = address("127.0.0.1");
  syn.sourcePort = 50000;
  syn.destinationPort = 8081;
  const Attribution found = attributor_->attribute(syn, NF_INET_LOCAL_IN, false);
  ASSERT_EQ(found.kind, OwnerKind::kProcess);
  EXPECT_EQ(found.via, Attribution::Via::kListenerMap);
  EXPECT_EQ(found.owner.tgid, static_cast<std::uint32_t>(server.pid));
  // Nobody listens on 8082: the kernel answers that one itself.
  syn.destinationPort = 8082;
  EXPECT_EQ(attributor_->attribute(syn, NF_INET_LOCAL_IN, false).kind, OwnerKind::kKernel);
}

TEST_F(BpfAttributionTest, FallbackFindsLongLivedSockets) {
  ASSERT_NO_FATAL_FAILURE(startAttributor(/*ebpf=*/false));
  LabClient server = lab_->run(lab_->nsA(), {"listen", "127.0.0.1", "8090", "--hold"});
  LabClient tcp = lab_->run(lab_->nsA(), {"tcp-hold", "127.0.0.1", "8090", "--hold"}, kNobody);
  LabClient udp = lab_->run(lab_->nsA(), {"udp-connect", "::1", "5500", "--hold"});

  Attribution found = attributor_->attribute(
      outboundPacket(tcp, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 8090), NF_INET_LOCAL_OUT, true);
  ASSERT_EQ(found.kind, OwnerKind::kProcess);
  EXPECT_EQ(found.via, Attribution::Via::kSockDiag);
  EXPECT_EQ(found.owner.tgid, static_cast<std::uint32_t>(tcp.pid));
  EXPECT_EQ(found.owner.uid, kNobody);
  auto info = attributor_->describe(found);
  if (!info) info = attributor_->describeWithin(found, std::chrono::seconds(5));
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->path, BpfLab::clientPath());

  found = attributor_->attribute(outboundPacket(udp, IPPROTO_UDP, "::1", "::1", 5500),
                                 NF_INET_LOCAL_OUT, true);
  ASSERT_EQ(found.kind, OwnerKind::kProcess);
  EXPECT_EQ(found.owner.tgid, static_cast<std::uint32_t>(udp.pid));

  PacketInfo syn;
  syn.ipVersion = 4;
  syn.ipProto = IPPROTO_TCP;
  syn.source = address("127.0.0.1");
  syn.destination = address("127.0.0.1");
  syn.sourcePort = 50001;
  syn.destinationPort = 8090;
  found = attributor_->attribute(syn, NF_INET_LOCAL_IN, false);
  ASSERT_EQ(found.kind, OwnerKind::kProcess);
  EXPECT_EQ(found.owner.tgid, static_cast<std::uint32_t>(server.pid));

  // No such socket: an outbound packet with a uid is `unknown`, an inbound one `kernel`.
  PacketInfo none = outboundPacket(tcp, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 8091);
  EXPECT_EQ(attributor_->attribute(none, NF_INET_LOCAL_OUT, true).kind, OwnerKind::kUnknown);
  syn.destinationPort = 8092;
  EXPECT_EQ(attributor_->attribute(syn, NF_INET_LOCAL_IN, false).kind, OwnerKind::kKernel);

  const auto status = attributor_->statusJson();
  EXPECT_EQ(status["method"], "sock_diag");
  EXPECT_EQ(status["fallback_hits"].get<std::uint64_t>(), 3u);
  EXPECT_EQ(status["misses"].get<std::uint64_t>(), 1u);
}

}  // namespace
}  // namespace warden::engine

namespace warden::engine {
namespace {

std::string copyTo(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(to, std::filesystem::perms::owner_all |
                                       std::filesystem::perms::group_exec |
                                       std::filesystem::perms::others_exec);
  return to;
}

// SPEC section 5: the hash is of the running image, also when the file was replaced on disk
// after the start and when the process is gone before anyone asked.
TEST_F(BpfAttributionTest, HashOfTheRunningImageAfterReplacementAndExit) {
  ASSERT_NO_FATAL_FAILURE(startAttributor(/*ebpf=*/true));
  attributor_->setImageHashing(true);
  warden::testing::TempDir dir;
  dir.openToOthers();
  const std::string program = copyTo(BpfLab::clientPath(), dir.file("client").string());
  const std::string original = base::sha256HexOfFile(program).value();
  LabClient client =
      lab_->runProgram(lab_->nsA(), program, {"udp-sendto", "127.0.0.1", "5600", "--hold"});
  const Attribution found = attributor_->attribute(
      outboundPacket(client, IPPROTO_UDP, "127.0.0.1", "127.0.0.1", 5600), NF_INET_LOCAL_OUT, true);
  ASSERT_EQ(found.kind, OwnerKind::kProcess);
  auto info = attributor_->describeWithin(found, std::chrono::seconds(5));
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->path, program);
  ASSERT_NE(info->imageHandle, nullptr);  // held from exec on
  // Replaced on disk (new inode at the same path), then the process exits.
  std::filesystem::remove(program);
  { std::ofstream(program) << "#!/bin/sh\necho another program\n"; }
  ASSERT_EQ(client.wait(), 0);
  EXPECT_NE(base::sha256HexOfFile(program).value(), original);
  auto hash = attributor_->hasher().hashOf(*info);
  ASSERT_TRUE(hash) << hash.error().message();
  EXPECT_EQ(*hash, original);
}

TEST_F(BpfAttributionTest, DeletedBinaryIsDescribedWithoutTheSuffix) {
  ASSERT_NO_FATAL_FAILURE(startAttributor(/*ebpf=*/true));
  warden::testing::TempDir dir;
  dir.openToOthers();
  const std::string program = copyTo(BpfLab::clientPath(), dir.file("doomed").string());
  LabClient client = lab_->runProgram(lab_->nsA(), program, {"listen", "::", "8100", "--hold"});
  // The exec is described while the file is still there (read after the deletion, the path
  // would not be the host's file any more, and would not be given).
  for (int i = 0; i < 250; ++i) {
    auto known = attributor_->processes().findByPid(static_cast<std::uint32_t>(client.pid));
    if (known && known->complete && known->path == program) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::filesystem::remove(program);
  // What /proc says now, as for a process warden first meets after the deletion.
  ProcReader reader;
  auto info = reader.describe(static_cast<std::uint32_t>(client.pid));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->path, program);
  EXPECT_TRUE(info->pathDeleted);
  PacketInfo syn;
  syn.ipVersion = 6;
  syn.ipProto = IPPROTO_TCP;
  syn.source = address("::1");
  syn.destination = address("::1");
  syn.sourcePort = 50002;
  syn.destinationPort = 8100;
  const Attribution found = attributor_->attribute(syn, NF_INET_LOCAL_IN, false);
  ASSERT_EQ(found.kind, OwnerKind::kProcess);
  auto described = attributor_->describeWithin(found, std::chrono::seconds(5));
  ASSERT_NE(described, nullptr);
  EXPECT_EQ(described->path, program);  // as executed
}

TEST_F(BpfAttributionTest, ScriptRunByAnInterpreterIsTagged) {
  if (access("/bin/bash", X_OK) != 0) GTEST_SKIP() << "no /bin/bash";
  ASSERT_NO_FATAL_FAILURE(startAttributor(/*ebpf=*/true));
  ASSERT_NO_FATAL_FAILURE(installTable(*attributor_->bpf()));  // in namespace A, as wardend's
  warden::testing::TempDir dir;
  dir.openToOthers();
  const std::string script = dir.file("notify.sh").string();
  {
    // bash's /dev/udp: socket + connect + write, by the interpreter itself. It stays a moment
    // so that its environment can be read: a script whose environment is unknown gets no tag
    // (BASH_ENV there could run other code first).
    std::ofstream(script) << "echo ping > /dev/udp/127.0.0.1/5700\nsleep 0.5\n";
  }
  LabClient shell = lab_->runProgram(lab_->nsA(), "/bin/bash", {script}, 0, /*announces=*/false);
  ASSERT_EQ(shell.wait(), 0);
  // The flow's local port is not known here: find the record by walking the table instead.
  std::shared_ptr<const ProcessDescription> info;
  for (int i = 0; i < 100 && !info; ++i) {
    // (until the exec event is handled the pid is described as a copy of its parent)
    auto candidate = attributor_->processes().findByPid(static_cast<std::uint32_t>(shell.pid));
    if (candidate && candidate->complete && candidate->path.ends_with("/bash"))
      info = candidate;
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_NE(info, nullptr);
  const std::vector<std::string>& tags = info->tags;
  EXPECT_NE(std::find(tags.begin(), tags.end(), "script:" + script), tags.end())
      << ::testing::PrintToString(tags);
  EXPECT_GE(attributor_->bpf()->counters()[WARDEN_CTR_UDP_CONNECT_DONE], 1u);
}

}  // namespace
}  // namespace warden::engine

#include <bpf/bpf.h>

#include <algorithm>
#include <iterator>

namespace warden::engine {
namespace {

// Ids of the programs of this kernel whose name starts with "warden_". Tests compare sets of
// ids rather than counts, so a wardend running meanwhile elsewhere on the host does not
// matter (unless it starts within the same instant).
std::set<__u32> wardenPrograms() {
  std::set<__u32> ids;
  __u32 id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    const base::UniqueFd fd(bpf_prog_get_fd_by_id(id));
    if (!fd) continue;
    bpf_prog_info info{};
    __u32 length = sizeof info;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &length) == 0 &&
        std::string_view(info.name).starts_with("warden_")) {
      ids.insert(id);
    }
  }
  return ids;
}

// The programs another live process holds a file descriptor of (a program's own, or a link's):
// wardend or another test loading warden's programs at the same moment, never this one's.
std::set<__u32> heldElsewhere() {
  std::set<__u32> ids;
  const std::string self = std::to_string(getpid());
  // Processes come and go meanwhile: every step takes an error code instead of throwing.
  namespace fs = std::filesystem;
  std::error_code ignored;
  for (fs::directory_iterator process("/proc", ignored), end; process != end;
       process.increment(ignored)) {
    const std::string pid = process->path().filename();
    if (pid == self || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    for (fs::directory_iterator fd(process->path() / "fdinfo", ignored); fd != end;
         fd.increment(ignored)) {
      std::ifstream info(fd->path());
      for (std::string line; std::getline(info, line);) {
        if (line.starts_with("prog_id:")) ids.insert(std::stoul(line.substr(8)));
      }
    }
  }
  return ids;
}

// What `after` holds that `before` did not, and that no other process holds: this process's
// programs, or programs nobody holds any more (leaked, e.g. left attached).
std::set<__u32> added(const std::set<__u32>& before, const std::set<__u32>& after) {
  std::set<__u32> out;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::inserter(out, out.end()));
  for (const __u32 id : heldElsewhere()) out.erase(id);
  return out;
}

// The start time exec_windows keys process `tgid` by (its leader's, to the nanosecond, which
// /proc tells only in clock ticks), when it holds an entry for the process /proc shows.
std::optional<std::uint64_t> execWindowStart(const BpfAttribution& bpf, std::uint32_t tgid) {
  const auto stat = ProcReader("/proc").stat(tgid);
  for (const auto& key : bpf.execWindowKeys(nullptr, 1 << 20)) {
    if (key.tgid == tgid && (!stat || ticksFromBootNs(key.start_time_ns) == stat->startTicks)) {
      return key.start_time_ns;
    }
  }
  return std::nullopt;
}

// exec_windows counts each exec of a process (not an execve that fails); its entry outlives
// the process until wardend forgets it (once it has read the exit); a process that has not
// exec'd since the programs were attached has no entry (this test's own).
TEST_F(BpfAttributionTest, ExecWindowsFollowEveryExecveOfAProcess) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms(WARDEN_DEFAULT_FLOW_ENTRIES, WARDEN_DEFAULT_FLOW_SLOTS,
                                       /*processEvents=*/true));
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl("/nonexistent/program", "program", nullptr);  // fails: not an exec
    execl("/bin/sh", "sh", "-c", "exec /bin/sleep 30", nullptr);
    _exit(127);
  }
  const auto tgid = static_cast<std::uint32_t>(child);
  std::optional<std::uint64_t> start;
  std::optional<warden_exec_window> window;
  const bool settled = eventually([&] {
    start = execWindowStart(*bpf_, tgid);
    window = start ? bpf_->execWindow(tgid, *start) : std::nullopt;
    return window && window->begun == 2 && window->ended == 2;
  });
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(settled) << (window ? std::to_string(window->begun) + " begun, " +
                                        std::to_string(window->ended) + " ended"
                                  : std::string("no window"));
  const auto stat = ProcReader("/proc").stat(static_cast<std::uint32_t>(getpid()));
  ASSERT_TRUE(stat);
  EXPECT_GE(ticksFromBootNs(*start), stat->startTicks) << "the child's start";
  EXPECT_NE(window->exec_id, 0u);
  // The directory the exec left it in: this test's, as statx(2) names it.
  struct statx cwd {};
  ASSERT_EQ(::statx(AT_FDCWD, ".", 0, STATX_INO | STATX_MNT_ID, &cwd), 0);
  EXPECT_EQ(window->cwd_ino, cwd.stx_ino);
  EXPECT_EQ(window->cwd_mnt_id, cwd.stx_mnt_id);
  EXPECT_EQ(window->cwd_shared, 0u);
  // Another process on the same pid is not this one.
  const auto other = bpf_->execWindow(tgid, *start + 1);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->begun, 0u);

  const auto own = execWindowStart(*bpf_, static_cast<std::uint32_t>(getpid()));
  EXPECT_FALSE(own) << "this test has not exec'd since the attach";
  // Ended, reaped: the entry stays until it is forgotten.
  const auto kept = bpf_->execWindow(tgid, *start);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->begun, 2u);
  bpf_->forgetExecWindow({.tgid = tgid, .pad = 0, .start_time_ns = *start});
  EXPECT_FALSE(execWindowStart(*bpf_, tgid));
}

// A process forked since the attach has an entry from its fork, before any exec: the image it
// inherits and the generation it forks at, which tell what it runs until it execs.
TEST_F(BpfAttributionTest, AForkedChildsEntryNamesTheImageItInherits) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms(WARDEN_DEFAULT_FLOW_ENTRIES, WARDEN_DEFAULT_FLOW_SLOTS,
                                       /*processEvents=*/true));
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  const auto tgid = static_cast<std::uint32_t>(child);
  std::optional<std::uint64_t> start;
  std::optional<warden_exec_window> window;
  const bool found = eventually([&] {
    start = execWindowStart(*bpf_, tgid);
    window = start ? bpf_->execWindow(tgid, *start) : std::nullopt;
    return window.has_value();
  });
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(found) << "no entry for a forked child";
  if (start) bpf_->forgetExecWindow({.tgid = tgid, .pad = 0, .start_time_ns = *start});
  struct stat self {};
  ASSERT_EQ(stat("/proc/self/exe", &self), 0);
  EXPECT_EQ(window->begun, 0u);
  EXPECT_EQ(window->ended, 0u);
  EXPECT_EQ(window->exe_ino, self.st_ino);
  EXPECT_NE(window->exe_dev, 0u);
  EXPECT_NE(window->exec_id, 0u) << "the generation the test runs at (it was exec'd)";
}

// The generation an exec window ends at is the one the process's socket records carry.
TEST_F(BpfAttributionTest, AnExecWindowNamesTheGenerationOfTheOwnerRecords) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms(WARDEN_DEFAULT_FLOW_ENTRIES, WARDEN_DEFAULT_FLOW_SLOTS,
                                       /*processEvents=*/true));
  LabClient client = lab_->run(lab_->nsA(), {"tcp", "127.0.0.1", "9", "--hold"});
  warden_owner owner{};
  ASSERT_TRUE(bpf_->lookupFlow(flowKey(client, IPPROTO_TCP, "127.0.0.1", 9), owner));
  const auto window = bpf_->execWindow(owner.tgid, owner.start_time_ns);
  EXPECT_EQ(client.wait(), 0);
  ASSERT_TRUE(window);
  EXPECT_EQ(window->begun, 1u);
  EXPECT_EQ(window->ended, 1u);
  EXPECT_EQ(window->exec_id, owner.exec_id);
  EXPECT_EQ(window->exec_id, owner.fork_exec_id + 1);
}

// An exec from a thread other than the leader (the kernel makes that thread the leader, with
// the process's pid) is one exec of the process like any other: begun and ended once, and the
// generation one more than the process had.
TEST_F(BpfAttributionTest, AnExecFromAThreadIsAnExecOfItsProcess) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms(WARDEN_DEFAULT_FLOW_ENTRIES, WARDEN_DEFAULT_FLOW_SLOTS,
                                       /*processEvents=*/true));
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "python3 is needed to exec a thread";
  // This test's own generation: where a process it forks begins.
  LabClient probe = lab_->run(lab_->nsA(), {"tcp", "127.0.0.1", "9"});
  ASSERT_EQ(probe.wait(), 0);
  warden_owner owner{};
  ASSERT_TRUE(bpf_->lookupFlow(flowKey(probe, IPPROTO_TCP, "127.0.0.1", 9), owner));
  const char* script =
      "import os, threading\n"
      "t = threading.Thread(target=lambda: os.execv('/bin/sleep', ['sleep', '30']))\n"
      "t.start()\n"
      "t.join()\n";
  LabClient client =
      lab_->runProgram(lab_->nsA(), "/usr/bin/python3", {"-c", script}, 0, /*announces=*/false);
  const auto pid = static_cast<std::uint32_t>(client.pid);
  std::optional<warden_exec_window> window;
  const bool settled = eventually([&] {
    const auto start = execWindowStart(*bpf_, pid);
    window = start ? bpf_->execWindow(pid, *start) : std::nullopt;
    return window && window->begun == 2 && window->ended == 2 &&
           ProcReader("/proc").stat(pid).value_or(base::ProcStat{}).comm == "sleep";
  });
  kill(client.pid, SIGKILL);
  client.wait();
  ASSERT_TRUE(settled) << (window ? std::to_string(window->begun) + " begun, " +
                                        std::to_string(window->ended) + " ended"
                                  : std::string("no window"));
  EXPECT_EQ(window->exec_id, owner.fork_exec_id + 2) << "python's exec, then the thread's";
}

// A parent that may have adopted its child (a subreaper; a pid namespace's init) does not
// tell where the child's generations began: its owner records leave fork_exec_id 0.
TEST_F(BpfAttributionTest, AChildOfASubreaperDoesNotTellItsForkGeneration) {
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  LabClient client = lab_->run(lab_->nsA(), {"tcp", "127.0.0.1", "9"});
  const int status = client.wait();
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  ASSERT_EQ(status, 0);
  warden_owner owner{};
  ASSERT_TRUE(bpf_->lookupFlow(flowKey(client, IPPROTO_TCP, "127.0.0.1", 9), owner));
  EXPECT_NE(owner.exec_id, 0u);
  EXPECT_EQ(owner.fork_exec_id, 0u);
}

TEST_F(BpfAttributionTest, NothingOutlivesTheOwnerAlsoOnFailure) {
  const auto before = wardenPrograms();
  ASSERT_NO_FATAL_FAILURE(loadPrograms());
  // 10 cgroup (the inbound check, the socket release and the ping sockets' mark among them) +
  // the five socket filters (UDP reuse, UDP connected, inbound misdelivered, ICMP echo, ICMP
  // reuse), the three held-verdict matches and rule 0b's (loaded, not attached)
  EXPECT_EQ(added(before, wardenPrograms()).size(), 19u);
  bpf_.reset();
  EXPECT_TRUE(added(before, wardenPrograms()).empty());
  // Attaching fails half-way (no such cgroup): what was loaded is released.
  BpfOptions options;
  options.cgroup = lab_->cgroup() + "/does-not-exist";
  auto failed = BpfAttribution::load(options);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ENOENT);
  EXPECT_TRUE(added(before, wardenPrograms()).empty());
}

}  // namespace
}  // namespace warden::engine
