// The queue worker's packet path without a kernel: a fake queue feeds it synthetic first
// packets and records its verdicts, a fake attribution says who sent them and when their
// descriptions arrive, and a clock the test moves by hand times their waits.
#include "engine/verdict/queue_worker.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>

#include <gtest/gtest.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rules/config.h"
#include "rules/profile_codec.h"
#include "tests/support/eventually.h"
#include "tests/unit/engine/verdict/fake_owner_lookup.h"
#include "tests/unit/engine/verdict/fake_packet_source.h"
#include "tests/unit/engine/verdict/synthetic_packets.h"

namespace warden::engine {
namespace {

using namespace std::chrono_literals;
using testing::FakeOwnerLookup;
using testing::FakePacketSource;
using testing::ipv4TcpSyn;
using testing::ipv4Udp;
using testing::ipv6Udp;

// ---- the clock the worker reads: moved by the test only ---------------------------------

constexpr std::uint64_t kStartNs = 1'000'000'000'000;
std::atomic<std::uint64_t> nowNs{kStartNs};
std::atomic<std::uint64_t> clockReads{0};

std::uint64_t fakeNow() {
  clockReads.fetch_add(1);
  return nowNs.load();
}

// Moves the clock on by `by`, then waits until the worker has looked at its parked packets
// at least once at the new time (it reads the clock once per look, every millisecond while
// any is parked: a second read after the move means a whole look saw it).
void passTime(std::chrono::nanoseconds by) {
  nowNs.fetch_add(static_cast<std::uint64_t>(by.count()));
  const std::uint64_t before = clockReads.load();
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (clockReads.load() < before + 2 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
  }
}

using warden::testing::eventually;

// ---- policies: each outcome names what decided ------------------------------------------

// The profile `app` allows, the engine default denies, and `unknown` rejects: a verdict
// tells which of the three decided.
constexpr std::string_view kEngine = R"(
[engine]
default = "deny"
unknown = "reject"
kernel = "allow"
)";
constexpr std::string_view kApp = R"(
[[profile]]
name = "app"
default = "allow"
[[profile.match]]
path = "/usr/bin/app"
)";
constexpr std::string_view kAppPath = "/usr/bin/app";
// kApp and, more specific, `fetcher`: /usr/bin/app run with --fetch is denied.
const std::string kAppAndFetcher = std::string(kApp) + R"(
[[profile]]
name = "fetcher"
default = "deny"
[[profile.match]]
path = "/usr/bin/app"
cmdline = "--fetch"
)";

std::shared_ptr<const PolicySnapshot> policyOf(std::string_view engine, std::string_view profiles,
                                               std::uint64_t revision) {
  auto config = rules::parseConfig(engine, "/t/warden.toml");
  auto parsed = rules::parseProfiles(profiles, "/t/profiles.toml");
  EXPECT_TRUE(config.has_value());
  EXPECT_TRUE(parsed.has_value());
  if (!config || !parsed) return nullptr;
  rules::Policy policy;
  policy.config = std::move(*config);
  policy.profiles = std::move(*parsed);
  auto compiled = rules::CompiledPolicy::compile(std::move(policy), revision);
  EXPECT_TRUE(compiled.has_value());
  if (!compiled) return nullptr;
  return std::make_shared<const PolicySnapshot>(PolicySnapshot{std::move(*compiled)});
}

// ---- processes ---------------------------------------------------------------------------

// Process `pid` as the eBPF flow map names it.
Attribution processOwner(std::uint32_t pid) {
  Attribution owner;
  owner.kind = OwnerKind::kProcess;
  owner.via = Attribution::Via::kFlowMap;
  owner.key = ProcessKey{pid, 1000 + pid};
  owner.owner.tgid = owner.owner.pid = pid;
  owner.owner.uid = 1000;
  owner.owner.start_time_ns = (1000 + pid) * 10'000'000ull;
  owner.owner.exe_dev = 0x0fe00001;
  owner.owner.exe_ino = 5000 + pid;
  owner.owner.generation = pid;
  return owner;
}

// The description of `owner` running `path`: complete, or only the kernel's exec event
// (`complete` false), which the tracker publishes at once and completes from /proc later.
std::shared_ptr<const ProcessDescription> description(const Attribution& owner,
                                                      std::string_view path,
                                                      std::vector<std::string> argv = {},
                                                      bool complete = true) {
  if (argv.empty()) argv = {std::string(path)};
  auto match = std::make_shared<rules::ProcessInfo>();
  match->path = std::string(path);
  match->setArgv(argv);
  auto info = std::make_shared<ProcessDescription>();
  info->key = owner.key;
  info->path = std::string(path);
  info->pathOnHost = true;
  info->argv = std::move(argv);
  info->exeKernelDev = owner.owner.exe_dev;
  info->exeInode = owner.owner.exe_ino;
  info->execId = owner.owner.exec_id;
  info->source = ProcessSource::kExecEvent;
  info->complete = complete;
  info->match = std::move(match);
  info->logged = loggedProcess(*info);
  return info;
}

// ---- verdicts ----------------------------------------------------------------------------

const MarkBits kMarks{0x3};                    // accept = 0x1, reject = 0x2
constexpr std::uint32_t kForeignMark = 0x100;  // someone else's bit: kept through the verdict

enum class Outcome { kNone, kAllowed, kRejected, kDropped, kOther };

std::ostream& operator<<(std::ostream& out, Outcome outcome) {
  constexpr const char* kNames[] = {"no verdict", "allowed", "rejected", "dropped", "other"};
  return out << kNames[static_cast<int>(outcome)];
}

class QueueWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nowNs = kStartNs;
    auto source = std::make_unique<FakePacketSource>();
    auto owners = std::make_unique<FakeOwnerLookup>();
    source_ = source.get();
    owners_ = owners.get();
    ownedSource_ = std::move(source);
    ownedOwners_ = std::move(owners);
  }

  void TearDown() override {
    if (!worker_) return;
    worker_->drainAndStop();
    nowNs += 3'600'000'000'000ull;  // whatever is still parked gets its verdict
    worker_->join();
    EXPECT_EQ(source_->strayVerdicts(), 0) << "a packet got two verdicts, or one never read";
  }

  // `dns`: with host names, learned from DNS replies (confirmed from other hosts).
  void start(std::shared_ptr<const PolicySnapshot> policy, bool dns = false) {
    ASSERT_NE(policy, nullptr);
    store_.publish(std::move(policy));
    worker_ = std::make_unique<QueueWorker>(
        std::move(ownedSource_), store_, kMarks, db::LogProducer{}, std::move(ownedOwners_),
        dns ? &hosts_ : nullptr, dns ? &dnsQueries_ : nullptr, fakeNow);
    if (dns) {
      ASSERT_TRUE(worker_->confirmDns(dnsPorts_).has_value());
    }
    worker_->onFailure([this](const base::Error& error) {
      failureMessage_ = error.message();
      failures_.fetch_add(1);
      failureCode_.store(error.code);
    });
    ASSERT_TRUE(worker_->start().has_value());
  }

  // A new outbound TCP connection from local port `port`.
  std::uint32_t connect(std::uint16_t port, bool quietly = false) {
    return source_->push(ipv4TcpSyn(port, 443), NF_INET_LOCAL_OUT, kForeignMark, quietly);
  }
  // A first UDP datagram from local port `port`, over IPv6.
  std::uint32_t send(std::uint16_t port) {
    return source_->push(ipv6Udp(port, 53), NF_INET_LOCAL_OUT, kForeignMark);
  }

  Outcome outcomeOf(std::uint32_t id) const {
    const auto sent = source_->verdictFor(id);
    if (!sent) return Outcome::kNone;
    if (sent->verdict == Verdict::kDrop && !sent->mark) return Outcome::kDropped;
    if (sent->verdict != Verdict::kAccept || !sent->mark) return Outcome::kOther;
    if (*sent->mark == (kForeignMark | kMarks.accept())) return Outcome::kAllowed;
    if (*sent->mark == (kForeignMark | kMarks.reject())) return Outcome::kRejected;
    return Outcome::kOther;
  }
  bool decided(std::uint32_t id) const { return source_->verdictFor(id).has_value(); }
  std::uint64_t parked() const { return worker_->counters().parked.load(); }
  std::chrono::nanoseconds describeWait() const { return owners_->describeWait(); }

  PolicySlot store_;
  HostCache hosts_{64};
  PendingDnsQueries dnsQueries_{16};
  DnsConfirmerPorts dnsPorts_;
  FakePacketSource* source_ = nullptr;  // owned by the worker once it is made
  FakeOwnerLookup* owners_ = nullptr;
  std::unique_ptr<FakePacketSource> ownedSource_;
  std::unique_ptr<FakeOwnerLookup> ownedOwners_;
  std::unique_ptr<QueueWorker> worker_;
  // What the worker told its owner when its queue failed (written before failures_).
  std::string failureMessage_;
  std::atomic<int> failureCode_{0};
  std::atomic<int> failures_{0};
};

// ---- parking -----------------------------------------------------------------------------

TEST_F(QueueWorkerTest, AFirstPacketWaitsForItsDescriptionWhileTheQueueIsServed) {
  const Attribution starting = processOwner(100);  // its exec event still on its way
  const Attribution running = processOwner(200);
  owners_->own(40001, starting);
  owners_->own(40002, running);
  owners_->setDescription(running.key, description(running, kAppPath));
  start(policyOf(kEngine, kApp, 1));

  const std::uint32_t first = connect(40001);
  ASSERT_TRUE(eventually([&] { return parked() == 1; }));
  // Another process's packet behind it, IPv6 and UDP, is decided meanwhile.
  const std::uint32_t other = send(40002);
  ASSERT_TRUE(eventually([&] { return decided(other); }));
  EXPECT_EQ(outcomeOf(other), Outcome::kAllowed);
  EXPECT_EQ(outcomeOf(first), Outcome::kNone);

  owners_->setDescription(starting.key, description(starting, kAppPath));
  ASSERT_TRUE(eventually([&] { return decided(first); }));
  // Decided by its profile with the description that arrived, not by the deadline (the
  // clock never moved) and not by waiting on the worker's thread.
  EXPECT_EQ(outcomeOf(first), Outcome::kAllowed);
  EXPECT_EQ(nowNs.load(), kStartNs);
  EXPECT_EQ(owners_->describeForVerdictCalls(), 0);
  EXPECT_EQ(worker_->counters().parkedUndescribed.load(), 0u);
  EXPECT_EQ(owners_->udpAccepted(), 1);  // the accepted UDP flow was noted for its owner
}

// SPEC section 4: a process known by pid but not described in time gets the engine `unknown`
// verdict, never the profile's or the engine's default.
TEST_F(QueueWorkerTest, APacketStillUndescribedAtTheDeadlineIsDecidedUnknown) {
  const Attribution silent = processOwner(100);  // no description ever comes
  const Attribution bare = processOwner(300);    // only the kernel's exec event comes
  owners_->own(40001, silent);
  owners_->own(40003, bare);
  // Were it taken as it is, the bare description would get the allowing profile.
  owners_->setDescription(bare.key, description(bare, kAppPath, {}, /*complete=*/false));
  start(policyOf(kEngine, kApp, 1));

  const std::uint32_t fromSilent = connect(40001);
  const std::uint32_t fromBare = send(40003);
  ASSERT_TRUE(eventually([&] { return parked() == 2; }));
  passTime(describeWait() - 1ns);
  EXPECT_EQ(outcomeOf(fromSilent), Outcome::kNone);
  EXPECT_EQ(outcomeOf(fromBare), Outcome::kNone);

  passTime(1ns);
  ASSERT_TRUE(eventually([&] { return decided(fromSilent) && decided(fromBare); }));
  EXPECT_EQ(outcomeOf(fromSilent), Outcome::kRejected);  // `unknown`; the default denies
  EXPECT_EQ(outcomeOf(fromBare), Outcome::kRejected);    // `unknown`; the profile allows
  EXPECT_EQ(worker_->counters().parkedUndescribed.load(), 2u);

  // The description that came too late serves the process's next flow.
  owners_->setDescription(silent.key, description(silent, kAppPath));
  const std::uint32_t later = connect(40001);
  ASSERT_TRUE(eventually([&] { return decided(later); }));
  EXPECT_EQ(outcomeOf(later), Outcome::kAllowed);
}

TEST_F(QueueWorkerTest, WhenEveryParkingPlaceIsTakenAPacketWaitsOnTheWorkersThread) {
  for (std::uint16_t i = 0; i <= QueueWorker::kMaxParked; ++i) {
    owners_->own(static_cast<std::uint16_t>(41000 + i), processOwner(1000u + i));
  }
  start(policyOf(kEngine, kApp, 1));
  for (std::uint16_t i = 0; i < QueueWorker::kMaxParked; ++i) {
    connect(static_cast<std::uint16_t>(41000 + i));
  }
  ASSERT_TRUE(eventually([&] { return parked() == QueueWorker::kMaxParked; }));

  const std::uint32_t overflow =
      connect(static_cast<std::uint16_t>(41000 + QueueWorker::kMaxParked));
  ASSERT_TRUE(eventually([&] { return decided(overflow); }));
  EXPECT_EQ(owners_->describeForVerdictCalls(), 1);
  EXPECT_EQ(outcomeOf(overflow), Outcome::kRejected);  // the fake had nothing either
  EXPECT_EQ(parked(), QueueWorker::kMaxParked);
  EXPECT_EQ(source_->verdictCount(), 1u);

  passTime(describeWait());
  ASSERT_TRUE(eventually([&] { return source_->verdictCount() == QueueWorker::kMaxParked + 1; }));
  EXPECT_EQ(worker_->counters().parkedUndescribed.load(), QueueWorker::kMaxParked);
}

// ---- the worker's memory of processes ---------------------------------------------------

TEST_F(QueueWorkerTest, AKnownProcessIsNotDescribedAgainButAReloadChoosesItsProfileAgain) {
  // Anything but the two profiles rejects; `app` allows, the more specific `fetcher` denies.
  constexpr std::string_view kEngineRejecting = R"(
[engine]
default = "reject"
unknown = "reject"
)";
  const Attribution app = processOwner(100);
  for (std::uint16_t port : {40001, 40002, 40003, 40004}) owners_->own(port, app);
  owners_->setDescription(app.key, description(app, kAppPath, {"app", "--fetch"}));
  start(policyOf(kEngineRejecting, kApp, 1));

  const std::uint32_t first = connect(40001);
  ASSERT_TRUE(eventually([&] { return decided(first); }));
  EXPECT_EQ(outcomeOf(first), Outcome::kAllowed);
  EXPECT_EQ(owners_->describeCalls(), 1);

  const std::uint32_t second = send(40002);
  ASSERT_TRUE(eventually([&] { return decided(second); }));
  EXPECT_EQ(outcomeOf(second), Outcome::kAllowed);
  EXPECT_EQ(owners_->describeCalls(), 1) << "a known process was described again";

  store_.publish(policyOf(kEngineRejecting, kAppAndFetcher, 2));
  const std::uint32_t afterReload = connect(40003);
  ASSERT_TRUE(eventually([&] { return decided(afterReload); }));
  EXPECT_EQ(outcomeOf(afterReload), Outcome::kDropped) << "the profile chosen before was kept";

  store_.publish(policyOf(kEngineRejecting, kApp, 3));
  const std::uint32_t afterSecondReload = connect(40004);
  ASSERT_TRUE(eventually([&] { return decided(afterSecondReload); }));
  EXPECT_EQ(outcomeOf(afterSecondReload), Outcome::kAllowed);
  EXPECT_EQ(owners_->describeCalls(), 1);
}

TEST_F(QueueWorkerTest, AProcessThatExecdItsOwnFileAnewIsDescribedAgain) {
  // The same pid, start time and image, but a later exec generation: another command line,
  // which the worker's memory of the process must not stand in for.
  Attribution before = processOwner(110);
  before.owner.exec_id = 7;
  Attribution after = before;
  after.owner.exec_id = 8;
  owners_->own(42001, before);
  owners_->own(42002, after);
  owners_->setDescription(before.key, description(before, kAppPath, {"app"}));
  start(policyOf(kEngine, kAppAndFetcher, 1));
  const std::uint32_t first = connect(42001);
  ASSERT_TRUE(eventually([&] { return decided(first); }));
  EXPECT_EQ(outcomeOf(first), Outcome::kAllowed);

  owners_->setDescription(after.key, description(after, kAppPath, {"app", "--fetch"}));
  const std::uint32_t second = connect(42002);
  ASSERT_TRUE(eventually([&] { return decided(second); }));
  EXPECT_EQ(outcomeOf(second), Outcome::kDropped) << "the earlier exec's description was used";
  EXPECT_EQ(owners_->describeCalls(), 2);
}

TEST_F(QueueWorkerTest, ProcessesStartedInOneTickAreEachDescribedOnce) {
  // Two children of one fork loop: the same start tick, pids one apart. Their flows take
  // turns, as two busy clients' do; each process is described once, not at every turn.
  // The second is the first pid after 300 that the hash puts in another slot, as a fork
  // loop's next child nearly always is (an identity hash of pid and tick finds none).
  const Attribution first = processOwner(300);
  const auto slotOf = [](const Attribution& a) {
    return ProcessKeyHash{}(a.key) % QueueWorker::kKnownProcesses;
  };
  Attribution second;
  for (std::uint32_t pid = 301; pid < 400; ++pid) {
    second = processOwner(pid);
    second.key.startTicks = first.key.startTicks;
    second.owner.start_time_ns = first.owner.start_time_ns;
    if (slotOf(second) != slotOf(first)) break;
  }
  ASSERT_NE(slotOf(second), slotOf(first)) << "99 pids of one tick share a slot";
  for (std::uint16_t i = 0; i < 8; ++i) {
    owners_->own(static_cast<std::uint16_t>(41000 + 2 * i), first);
    owners_->own(static_cast<std::uint16_t>(41001 + 2 * i), second);
  }
  owners_->setDescription(first.key, description(first, kAppPath));
  owners_->setDescription(second.key, description(second, kAppPath));
  start(policyOf(kEngine, kApp, 1));
  for (std::uint16_t port = 41000; port < 41016; ++port) {
    const std::uint32_t id = connect(port);
    ASSERT_TRUE(eventually([&] { return decided(id); }));
    EXPECT_EQ(outcomeOf(id), Outcome::kAllowed);
  }
  EXPECT_EQ(owners_->describeCalls(), 2) << "the two processes took one slot in turn";
}

TEST_F(QueueWorkerTest, ImageHashingIsSetOncePerPolicyRevision) {
  owners_->own(40001, processOwner(100));
  start(policyOf(kEngine, kApp, 1));
  // The process is never described: its packets stay parked, which tells they were read.
  connect(40001);
  connect(40001);
  ASSERT_TRUE(eventually([&] { return parked() == 2; }));
  EXPECT_EQ(owners_->imageHashing(), std::vector<bool>{false});

  store_.publish(policyOf(kEngine, R"(
[[profile]]
name = "pinned"
default = "allow"
[[profile.match]]
sha256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
)",
                          2));
  connect(40001);
  ASSERT_TRUE(eventually([&] { return parked() == 3; }));
  EXPECT_EQ(owners_->imageHashing(), (std::vector<bool>{false, true}));
}

TEST_F(QueueWorkerTest, AnUnreadablePacketGetsTheUnknownVerdict) {
  start(policyOf(kEngine, kApp, 1));
  const std::uint32_t id = source_->push({0x45, 0x00, 0x00}, NF_INET_LOCAL_OUT, kForeignMark);
  ASSERT_TRUE(eventually([&] { return decided(id); }));
  EXPECT_EQ(outcomeOf(id), Outcome::kRejected);
  EXPECT_EQ(worker_->counters().malformed.load(), 1u);
}

// An inbound flow to a port no socket holds gets the `kernel` verdict (allow here) and passes,
// but its ct mark is not set "accepted": a program that binds the port later must have the
// flow's next packet decided for it. Likewise a flow decided by a port's record whose socket
// the lookup did not see. An inbound flow a process receives is remembered.
TEST_F(QueueWorkerTest, AnInboundFlowNoSocketReceivesPassesWithoutBeingRemembered) {
  start(policyOf(kEngine, kApp, 1));
  Attribution nobody;
  nobody.kind = OwnerKind::kKernel;
  owners_->own(7000, nobody);
  const Attribution app = processOwner(100);
  owners_->setDescription(app.key, description(app, kAppPath));
  owners_->own(7001, app);
  Attribution unseen = app;  // the port's record, whose socket the lookup did not find
  unseen.receiverUnseen = true;
  owners_->own(7002, unseen);
  const std::uint32_t closed =
      source_->push(ipv4TcpSyn(40000, 7000), NF_INET_LOCAL_IN, kForeignMark);
  const std::uint32_t listened =
      source_->push(ipv4TcpSyn(40001, 7001), NF_INET_LOCAL_IN, kForeignMark);
  const std::uint32_t recorded =
      source_->push(ipv4TcpSyn(40002, 7002), NF_INET_LOCAL_IN, kForeignMark);
  ASSERT_TRUE(
      eventually([&] { return decided(closed) && decided(listened) && decided(recorded); }));
  for (const std::uint32_t id : {closed, recorded}) {
    const auto sent = source_->verdictFor(id);
    EXPECT_EQ(sent->verdict, Verdict::kAccept);
    ASSERT_TRUE(sent->mark.has_value());
    EXPECT_EQ(*sent->mark, kForeignMark) << "passed, but not remembered as accepted";
  }
  EXPECT_EQ(outcomeOf(listened), Outcome::kAllowed);
}

// ---- stopping ----------------------------------------------------------------------------

TEST_F(QueueWorkerTest, DrainingGivesEveryPacketAVerdictParkedOnesIncluded) {
  const Attribution silent = processOwner(100);
  const Attribution late = processOwner(200);
  owners_->own(40001, silent);
  owners_->own(40002, late);
  start(policyOf(kEngine, kApp, 1));
  const std::uint32_t fromSilent = connect(40001);
  const std::uint32_t fromLate = connect(40002);
  ASSERT_TRUE(eventually([&] { return parked() == 2; }));
  // Met the table an instant before it stopped queuing: nothing wakes the worker for it.
  const std::uint32_t inFlight = connect(40009, /*quietly=*/true);
  EXPECT_EQ(source_->unread(), 1u);

  worker_->drainAndStop();
  ASSERT_TRUE(eventually([&] { return decided(inFlight); }));
  EXPECT_EQ(outcomeOf(inFlight), Outcome::kRejected);  // no process owns port 40009
  owners_->setDescription(late.key, description(late, kAppPath));
  ASSERT_TRUE(eventually([&] { return decided(fromLate); }));
  EXPECT_EQ(outcomeOf(fromLate), Outcome::kAllowed);
  EXPECT_EQ(outcomeOf(fromSilent), Outcome::kNone);  // its wait is not over

  nowNs += static_cast<std::uint64_t>(describeWait().count());
  worker_->join();
  EXPECT_EQ(outcomeOf(fromSilent), Outcome::kRejected);
  EXPECT_EQ(source_->verdictCount(), 3u);
  EXPECT_EQ(source_->unread(), 0u);
}

// ---- verdicts that fail to send ----------------------------------------------------------

TEST_F(QueueWorkerTest, AVerdictThatFailsForAPassingReasonIsSentAgain) {
  start(policyOf(kEngine, kApp, 1));
  source_->failNextVerdicts({ENOBUFS, EINTR});
  const std::uint32_t id = connect(40001);
  ASSERT_TRUE(eventually([&] { return decided(id); }));
  EXPECT_EQ(outcomeOf(id), Outcome::kRejected);
  EXPECT_EQ(source_->attemptsFor(id), 3);
  EXPECT_EQ(worker_->counters().verdictRetries.load(), 2u);
  EXPECT_EQ(worker_->counters().verdictErrors.load(), 0u);
}

TEST_F(QueueWorkerTest, AVerdictStillFailingAfterEveryAttemptIsCountedAndTheQueueGoesOn) {
  start(policyOf(kEngine, kApp, 1));
  source_->failNextVerdicts({ENOBUFS, EAGAIN, ENOBUFS, ENOBUFS});
  const std::uint32_t lost = connect(40001);
  const std::uint32_t next = connect(40002);
  ASSERT_TRUE(eventually([&] { return decided(next); }));
  EXPECT_EQ(outcomeOf(lost), Outcome::kNone);
  EXPECT_EQ(source_->attemptsFor(lost), QueueWorker::kVerdictAttempts);
  // The fourth failure was the next packet's first attempt.
  EXPECT_EQ(source_->attemptsFor(next), 2);
  EXPECT_EQ(outcomeOf(next), Outcome::kRejected);
  EXPECT_EQ(worker_->counters().verdictErrors.load(), 1u);
  EXPECT_EQ(worker_->counters().verdictRetries.load(), 3u);
}

TEST_F(QueueWorkerTest, AVerdictRefusedForGoodIsNotSentAgain) {
  start(policyOf(kEngine, kApp, 1));
  source_->failNextVerdicts({EINVAL});
  const std::uint32_t refused = connect(40001);
  const std::uint32_t next = connect(40002);
  ASSERT_TRUE(eventually([&] { return decided(next); }));
  EXPECT_EQ(source_->attemptsFor(refused), 1);
  EXPECT_EQ(outcomeOf(refused), Outcome::kNone);
  EXPECT_EQ(worker_->counters().verdictErrors.load(), 1u);
  EXPECT_EQ(worker_->counters().verdictRetries.load(), 0u);
}

TEST_F(QueueWorkerTest, LostVerdictsAreLoggedOnceThenWithACountAtMostOnceAMinute) {
  start(policyOf(kEngine, kApp, 1));
  ::testing::internal::CaptureStderr();
  source_->failNextVerdicts({EINVAL, EINVAL, EINVAL});
  const std::uint32_t first = connect(40001);
  connect(40002);
  const std::uint32_t third = connect(40003);
  ASSERT_TRUE(eventually([&] { return source_->attemptsFor(third) == 1; }));
  nowNs += 61'000'000'000ull;
  source_->failNextVerdicts({EINVAL});
  const std::uint32_t fourth = connect(40004);
  ASSERT_TRUE(eventually([&] { return worker_->counters().verdictErrors.load() == 4; }));
  const std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(outcomeOf(first), Outcome::kNone);
  EXPECT_EQ(outcomeOf(fourth), Outcome::kNone);
  // The first loss at once; the two after it only counted; a minute on, one line with their
  // count (the worker's idle flush, or the next loss, whichever comes first).
  EXPECT_EQ(std::count(logged.begin(), logged.end(), '\n'), 2) << logged;
  EXPECT_EQ(logged.find("wardend: error: sending a verdict on the fake queue: Invalid argument "
                        "(packet " +
                        std::to_string(first) + ", after 1 attempt)"),
            0u)
      << logged;
  const std::string_view suffix = " (and 2 more like it in the last 61 s)\n";
  ASSERT_GT(logged.size(), suffix.size());
  EXPECT_EQ(logged.substr(logged.size() - suffix.size()), suffix) << logged;
}

// ---- a queue that fails ------------------------------------------------------------------

TEST_F(QueueWorkerTest, AQueueLostForGoodEndsTheWorkerAndItsOwnerIsToldAfterTheVerdicts) {
  const Attribution silent = processOwner(100);
  owners_->own(40001, silent);
  start(policyOf(kEngine, kApp, 1));
  const std::uint32_t held = connect(40001);
  ASSERT_TRUE(eventually([&] { return parked() == 1; }));

  source_->failReceive(EBADF, /*forever=*/true);
  ASSERT_TRUE(eventually([&] { return failures_.load() == 1; }));
  // The parked packet did not wait out its description: it has its verdict (no process
  // described: the `unknown` verdict), given before the owner was told.
  EXPECT_EQ(outcomeOf(held), Outcome::kRejected);
  EXPECT_EQ(failureCode_.load(), EBADF);
  EXPECT_NE(failureMessage_.find("reading the fake queue"), std::string::npos) << failureMessage_;
  // The thread has ended of itself: join() returns without drainAndStop(), after one read.
  worker_->join();
  EXPECT_EQ(source_->receiveFailures(), 1);
  EXPECT_EQ(failures_.load(), 1);
}

TEST_F(QueueWorkerTest, PassingReadErrorsAreCountedAndTheQueueGoesOn) {
  start(policyOf(kEngine, kApp, 1));
  source_->failReceive(ENOBUFS, /*forever=*/false);
  ASSERT_TRUE(eventually([&] { return worker_->counters().enobufs.load() == 1; }));
  source_->failReceive(EINTR, /*forever=*/false);
  ASSERT_TRUE(eventually([&] { return source_->receiveFailures() == 2; }));
  const std::uint32_t id = connect(40001);
  ASSERT_TRUE(eventually([&] { return decided(id); }));
  EXPECT_EQ(outcomeOf(id), Outcome::kRejected);
  EXPECT_EQ(failures_.load(), 0);
}

// The watchdog (engine/daemon/watchdog.h) tells a hung worker from an idle one by its
// heartbeat: a worker with nothing to do must still turn, at least every second or so.
TEST_F(QueueWorkerTest, AnIdleWorkerBeatsAtLeastOnceASecondAndABusyOneOnEveryBatch) {
  start(policyOf(kEngine, kApp, 1));
  ASSERT_TRUE(eventually([&] { return worker_->heartbeat().lastNs() == kStartNs; }));
  // No packet comes: the beat still follows the clock, within the idle poll's second.
  nowNs += 60'000'000'000ull;
  const auto movedAt = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return worker_->heartbeat().lastNs() == nowNs.load(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - movedAt, 2s);
  // A packet wakes it at once, and its batch beats.
  nowNs += 60'000'000'000ull;
  const std::uint32_t id = connect(40001);
  ASSERT_TRUE(eventually([&] { return decided(id); }));
  EXPECT_EQ(worker_->heartbeat().lastNs(), nowNs.load());
}

// ---- DNS replies from other hosts (DnsConfirmer) ------------------------------------------

namespace dns {

using testing::Bytes;

constexpr std::uint8_t kClient[4] = {127, 0, 0, 1};
constexpr std::uint8_t kResolver[4] = {127, 0, 0, 77};  // any loopback address answers
constexpr std::uint16_t kClientPort = 40000;
constexpr std::uint16_t kDnsPort = 53;

Bytes message(std::uint16_t id, std::uint16_t flags, std::uint16_t answers) {
  Bytes m = {static_cast<std::uint8_t>(id >> 8),
             static_cast<std::uint8_t>(id),
             static_cast<std::uint8_t>(flags >> 8),
             static_cast<std::uint8_t>(flags),
             0,
             1,
             0,
             static_cast<std::uint8_t>(answers),
             0,
             0,
             0,
             0};
  for (const char* label : {"files", "test", "example"}) {
    m.push_back(static_cast<std::uint8_t>(std::strlen(label)));
    m.insert(m.end(), label, label + std::strlen(label));
  }
  m.insert(m.end(), {0, 0, 1, 0, 1});
  return m;
}
// An answer giving 198.51.100.`last`.
Bytes answer(std::uint16_t id, std::uint8_t last) {
  Bytes m = message(id, 0x8180, 1);
  m.insert(m.end(), {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 198, 51, 100, last});
  return m;
}

}  // namespace dns

class QueueWorkerDnsTest : public QueueWorkerTest {
 protected:
  // Starts a worker with host names; the program /usr/bin/app (allowed) asks the resolver
  // for files.test.example (id 0xbeef) from port kClientPort.
  void startAndAsk() {
    const Attribution app = processOwner(7);
    owners_->own(dns::kClientPort, app);
    owners_->setDescription(app.key, description(app, kAppPath));
    start(policyOf(kEngine, kApp, 1), /*dns=*/true);
    const std::uint32_t query =
        source_->push(ipv4Udp(dns::kClient, dns::kClientPort, dns::kResolver, dns::kDnsPort,
                              dns::message(0xbeef, 0x0100, 0)),
                      NF_INET_LOCAL_OUT, kForeignMark);
    ASSERT_TRUE(eventually([&] { return outcomeOf(query) == Outcome::kAllowed; }));
  }

  // The resolver's port 53 on 127.0.0.77, where wardend's own questions go; false when it
  // cannot be had (not root).
  bool bindResolver() {
    resolver_ = base::UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(dns::kDnsPort);
    std::memcpy(&at.sin_addr, dns::kResolver, 4);
    return bind(resolver_.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) == 0;
  }
  // A reply from the resolver to the program's query, with 198.51.100.`last`.
  std::uint32_t reply(std::uint8_t last) {
    return source_->push(ipv4Udp(dns::kResolver, dns::kDnsPort, dns::kClient, dns::kClientPort,
                                 dns::answer(0xbeef, last)),
                         NF_INET_LOCAL_IN, kForeignMark | kMarks.dnsReply());
  }
  // wardend's two questions, as the resolver gets them (their sender in `asker_`).
  void receiveQuestions() {
    asked_.clear();
    for (int i = 0; i < 2; ++i) {
      pollfd p{resolver_.get(), POLLIN, 0};
      ASSERT_EQ(poll(&p, 1, 5000), 1) << "wardend did not ask the server";
      testing::Bytes query(512);
      socklen_t fromLength = sizeof asker_;
      const ssize_t got = recvfrom(resolver_.get(), query.data(), query.size(), 0,
                                   reinterpret_cast<sockaddr*>(&asker_), &fromLength);
      ASSERT_GT(got, 12);
      query.resize(static_cast<std::size_t>(got));
      asked_.push_back(std::move(query));
    }
  }
  // The resolver answers them as asked (id and letter case) with 198.51.100.`lasts`.
  void answerQuestions(std::initializer_list<std::uint8_t> lasts) {
    for (const testing::Bytes& query : asked_) {
      const std::size_t questionEnd = query.size() - 11;  // before the EDNS record
      testing::Bytes answer(query.begin(),
                            query.begin() + static_cast<std::ptrdiff_t>(questionEnd));
      answer[2] = 0x81, answer[3] = 0x80, answer[11] = 0;
      answer[7] = static_cast<std::uint8_t>(lasts.size());
      for (std::uint8_t last : lasts) {
        answer.insert(answer.end(),
                      {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 198, 51, 100, last});
      }
      sendto(resolver_.get(), answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&asker_),
             sizeof asker_);
    }
  }

  void contradicted(bool serversOwnReplyToo);

  base::UniqueFd resolver_;
  sockaddr_in asker_{};
  std::vector<testing::Bytes> asked_;
};

// The program's query goes out on an allowed flow; the reply from the server, not over
// loopback, is held while wardend asks the server itself, a second reply to the same query
// is dropped meanwhile, and the server's own answer lets the first go and teaches only what
// both said.
TEST_F(QueueWorkerDnsTest, AReplyFromAnotherHostIsHeldUntilTheServerSaysItAgain) {
  if (!bindResolver()) {
    GTEST_SKIP() << "cannot bind port 53 of 127.0.0.77 (not root?): " << std::strerror(errno);
  }
  ASSERT_NO_FATAL_FAILURE(startAndAsk());
  const std::uint32_t first = reply(7);

  // wardend's own two questions reach the server; the reply waits for their answers.
  ASSERT_NO_FATAL_FAILURE(receiveQuestions());
  EXPECT_TRUE(dnsPorts_.contains(false, ntohs(asker_.sin_port)));
  const std::uint32_t second = reply(9);  // another "answer" to the program's query
  ASSERT_TRUE(eventually([&] { return outcomeOf(second) == Outcome::kDropped; }));
  EXPECT_FALSE(decided(first)) << "let go before the server answered wardend";
  DnsName name;
  EXPECT_FALSE(hosts_.lookup(*rules::IpAddress::parse("198.51.100.7"), name));

  // The server answers wardend's questions with .7 and .8.
  answerQuestions({7, 8});
  ASSERT_TRUE(eventually([&] { return decided(first); }));
  const auto sent = source_->verdictFor(first);
  EXPECT_EQ(sent->verdict, Verdict::kAccept);
  EXPECT_EQ(sent->mark, kForeignMark) << "our bits cleared, the others kept";
  ASSERT_TRUE(hosts_.lookup(*rules::IpAddress::parse("198.51.100.7"), name));
  EXPECT_EQ(name.view(), "files.test.example");
  EXPECT_FALSE(hosts_.lookup(*rules::IpAddress::parse("198.51.100.8"), name))
      << "the program was not told it";
  EXPECT_FALSE(hosts_.lookup(*rules::IpAddress::parse("198.51.100.9"), name));
  EXPECT_EQ(worker_->counters().dnsConfirmations.load(), 1u);
  EXPECT_EQ(worker_->counters().dnsAnswers.load(), 1u);
  EXPECT_EQ(worker_->counters().packets.load(), 1u) << "replies are not decided";
}

// A reply the server does not stand by (it answers wardend with other addresses) still goes to
// the program, so that its lookup never fails for it. With the server's own reply to the
// program's query besides (a forger came first), what the server contradicted is refused;
// without (a resolver whose caches give each asker another subset), it is let go about a round
// trip later, neither learned nor refused.
void QueueWorkerDnsTest::contradicted(bool serversOwnReplyToo) {
  if (!bindResolver()) {
    GTEST_SKIP() << "cannot bind port 53 of 127.0.0.77 (not root?): " << std::strerror(errno);
  }
  ASSERT_NO_FATAL_FAILURE(startAndAsk());
  const std::uint32_t held = reply(7);
  ASSERT_NO_FATAL_FAILURE(receiveQuestions());
  if (serversOwnReplyToo) {
    const std::uint32_t own = reply(8);
    ASSERT_TRUE(eventually([&] { return outcomeOf(own) == Outcome::kDropped; }));
  }
  answerQuestions({8});
  if (!serversOwnReplyToo) {
    ASSERT_TRUE(eventually([&] { return worker_->counters().dnsConfirmations.load() == 1; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the answers are read
    EXPECT_FALSE(decided(held)) << "let go before waiting for another reply";
    passTime(std::chrono::milliseconds(300));
  }
  ASSERT_TRUE(eventually([&] { return decided(held); }));
  EXPECT_EQ(source_->verdictFor(held)->verdict, Verdict::kAccept);
  DnsName name;
  EXPECT_FALSE(hosts_.lookup(*rules::IpAddress::parse("198.51.100.7"), name));
  EXPECT_EQ(hosts_.refused(*rules::IpAddress::parse("198.51.100.7"), "files.test.example"),
            serversOwnReplyToo);
  EXPECT_EQ(worker_->counters().dnsUnconfirmed.load(), 1u);
  EXPECT_EQ(worker_->counters().dnsAnswers.load(), 0u);
}

TEST_F(QueueWorkerDnsTest, AReplyTheServerContradictsGoesOnAndIsRefused) {
  contradicted(/*serversOwnReplyToo=*/true);
}

TEST_F(QueueWorkerDnsTest, AReplyWithOtherAddressesThanTheServerGivesGoesOnUnlearned) {
  contradicted(/*serversOwnReplyToo=*/false);
}

// With no answer from the server, the reply goes unconfirmed when its wait is over.
TEST_F(QueueWorkerDnsTest, AReplyTheServerDoesNotConfirmGoesAtTheDeadlineTeachingNothing) {
  ASSERT_NO_FATAL_FAILURE(startAndAsk());
  const std::uint32_t reply = source_->push(ipv4Udp(dns::kResolver, dns::kDnsPort, dns::kClient,
                                                    dns::kClientPort, dns::answer(0xbeef, 7)),
                                            NF_INET_LOCAL_IN, kForeignMark | kMarks.dnsReply());
  ASSERT_TRUE(eventually([&] { return worker_->counters().dnsConfirmations.load() == 1; }));
  passTime(std::chrono::nanoseconds(DnsConfirmer::kWaitNs / 2));
  EXPECT_FALSE(decided(reply));
  passTime(std::chrono::nanoseconds(DnsConfirmer::kWaitNs));
  ASSERT_TRUE(eventually([&] { return decided(reply); }));
  EXPECT_EQ(source_->verdictFor(reply)->verdict, Verdict::kAccept);
  DnsName name;
  EXPECT_FALSE(hosts_.lookup(*rules::IpAddress::parse("198.51.100.7"), name));
  EXPECT_EQ(worker_->counters().dnsUnconfirmed.load(), 1u);
}

// A reply that met the table an instant before the queue stopped is read while the worker
// drains it: it is let go at once, not held for answers the drain would not wait for.
TEST_F(QueueWorkerDnsTest, NoReplyIsHeldOnceStopping) {
  ASSERT_NO_FATAL_FAILURE(startAndAsk());
  const std::uint32_t reply = source_->push(ipv4Udp(dns::kResolver, dns::kDnsPort, dns::kClient,
                                                    dns::kClientPort, dns::answer(0xbeef, 7)),
                                            NF_INET_LOCAL_IN, kForeignMark | kMarks.dnsReply(),
                                            /*quietly=*/true);
  worker_->drainAndStop();
  worker_->join();
  ASSERT_TRUE(decided(reply)) << "a packet left without a verdict";
  EXPECT_EQ(source_->verdictFor(reply)->verdict, Verdict::kAccept);
  EXPECT_EQ(worker_->counters().dnsConfirmations.load(), 0u);
  EXPECT_EQ(worker_->counters().dnsUnconfirmed.load(), 1u);
}

// wardend's own question, the first packet of its flow: accepted without a decision, whatever
// the policy says of root's processes, and only from its own port and process.
TEST_F(QueueWorkerDnsTest, WardendsOwnQuestionsPassAndNoOneElsesDo) {
  start(policyOf(kEngine, kApp, 1), /*dns=*/true);  // the engine default denies
  // The port of the confirming socket: found from the ports every worker shares.
  std::uint16_t ownPort = 0;
  for (std::uint32_t port = 1024; port < 65536 && ownPort == 0; ++port) {
    if (dnsPorts_.contains(false, static_cast<std::uint16_t>(port))) {
      ownPort = static_cast<std::uint16_t>(port);
    }
  }
  ASSERT_NE(ownPort, 0);
  Attribution self = processOwner(static_cast<std::uint32_t>(getpid()));
  self.key.pid = static_cast<std::uint32_t>(getpid());
  owners_->own(ownPort, self);
  owners_->setDescription(self.key, description(self, "/usr/sbin/wardend"));
  const auto question = [&] {
    return source_->push(ipv4Udp(dns::kClient, ownPort, dns::kResolver, dns::kDnsPort,
                                 dns::message(0x1234, 0x0100, 0)),
                         NF_INET_LOCAL_OUT, kForeignMark);
  };
  // Not while no confirmation from that port asks that server: decided, and denied.
  const std::uint32_t unasked = question();
  ASSERT_TRUE(eventually([&] { return outcomeOf(unasked) == Outcome::kDropped; }));
  const auto resolver = *rules::IpAddress::parse("127.0.0.77");
  dnsPorts_.asking(ownPort, resolver);
  const std::uint32_t own = question();
  ASSERT_TRUE(eventually([&] { return outcomeOf(own) == Outcome::kAllowed; }));
  EXPECT_EQ(worker_->counters().packets.load(), 1u) << "the one before only";
  // Another process holding that port (it cannot, but say it did): decided, and denied.
  const Attribution other9 = processOwner(9);
  owners_->own(ownPort, other9);
  owners_->setDescription(other9.key, description(other9, "/usr/bin/other"));
  const std::uint32_t other = question();
  ASSERT_TRUE(eventually([&] { return outcomeOf(other) == Outcome::kDropped; }));
}

}  // namespace
}  // namespace warden::engine
