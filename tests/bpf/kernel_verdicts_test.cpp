// KernelVerdicts against the real maps of the loaded programs: what it writes, when a written
// entry stops counting as live, and what the hooks will find (held_state, held_names).
#include "engine/verdict/kernel_verdicts.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <fcntl.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "engine/attribution/bpf_attribution.h"
#include "engine/dns/host_cache.h"
#include "rules/subject.h"
#include "tests/bpf/bpf_lab.h"
#include "tests/unit/rules/policy_test_support.h"

namespace warden::engine {
namespace {

constexpr std::uint64_t kCookie = 0x5eed;

Attribution processOwner() {
  Attribution owner;
  owner.kind = OwnerKind::kProcess;
  owner.via = Attribution::Via::kFlowMap;
  owner.owner.tgid = owner.owner.pid = 4242;
  owner.owner.uid = 1000;
  owner.owner.start_time_ns = 123'000'000'000ull;
  owner.owner.exec_id = 3;
  owner.key = processKey(owner.owner.tgid, owner.owner.start_time_ns);
  return owner;
}

rules::Flow flowTo(const char* remote, std::uint16_t port) {
  rules::Flow flow;
  flow.ipProto = IPPROTO_TCP;
  flow.remote = *rules::IpAddress::parse(remote);
  flow.remotePort = port;
  return flow;
}

class KernelVerdictsTest : public testing::BpfLabTest {
 protected:
  void SetUp() override {
    BpfLabTest::SetUp();
    if (stopped()) return;
    BpfOptions options;
    options.cgroup = lab_->cgroup();
    options.processEvents = false;
    options.heldEntries = 1024;  // more than one batch of KernelVerdicts' map walk
    auto loaded = BpfAttribution::load(options);
    ASSERT_TRUE(loaded) << loaded.error().message();
    bpf_ = std::move(*loaded);
    held_ = std::make_unique<KernelVerdicts>(
        KernelVerdicts::Maps{bpf_->heldVerdictsFd(), bpf_->heldStateFd(), bpf_->heldNamesFd(),
                             bpf_->countersFd()},
        bpf_->heldCapacity(), kCookie, db::LogProducer{});
  }
  void TearDown() override {
    held_.reset();
    bpf_.reset();
    BpfLabTest::TearDown();
  }

  warden_held_state state() const {
    warden_held_state s{};
    const std::uint32_t zero = 0;
    EXPECT_EQ(bpf_map_lookup_elem(bpf_->heldStateFd(), &zero, &s), 0);
    return s;
  }
  std::optional<warden_held_verdict> stored(const rules::Flow& flow) const {
    const warden_held_key key = heldKeyOf(flow, owner_.attribution.owner, kCookie);
    warden_held_verdict value{};
    if (bpf_map_lookup_elem(bpf_->heldVerdictsFd(), &key, &value) != 0) return std::nullopt;
    return value;
  }
  std::size_t live() const {
    return held_->entriesOf(owner_.attribution.owner.tgid, owner_.attribution.key.startTicks)
        .size();
  }
  // Adds `flows` to the programs' count of held flows (on CPU 0), as their matches do.
  void countHeldFlows(std::uint64_t flows) const {
    const int cpus = libbpf_num_possible_cpus();
    ASSERT_GT(cpus, 0);
    std::vector<std::uint64_t> perCpu(static_cast<std::size_t>(cpus));
    const std::uint32_t index = WARDEN_CTR_HELD_ALLOW;
    ASSERT_EQ(bpf_map_lookup_elem(bpf_->countersFd(), &index, perCpu.data()), 0);
    perCpu[0] += flows;
    ASSERT_EQ(bpf_map_update_elem(bpf_->countersFd(), &index, perCpu.data(), BPF_ANY), 0);
  }
  void hold(std::uint64_t generation, const rules::Flow& flow,
            rules::Action action = rules::Action::kAllow, const DnsName& host = DnsName{}) {
    held_->hold(generation, held_->ticket(), flow, host, owner_, action, std::nullopt, nullptr);
  }

  std::unique_ptr<BpfAttribution> bpf_;
  std::unique_ptr<KernelVerdicts> held_;
  FlowOwner owner_{processOwner(), nullptr};
};

TEST_F(KernelVerdictsTest, NothingAppliesBeforeAPolicyNorWhenSwitchedOff) {
  EXPECT_EQ(state().epoch, 0u);  // the hooks look nothing up
  EXPECT_EQ(static_cast<int>(state().owner_pid), getpid());
  hold(1, flowTo("192.0.2.2", 443));
  EXPECT_FALSE(stored(flowTo("192.0.2.2", 443)));
  ASSERT_TRUE(held_->setPolicy(1, /*enabled=*/false, 60));
  EXPECT_EQ(state().epoch, 0u);
  hold(1, flowTo("192.0.2.2", 443));
  EXPECT_FALSE(stored(flowTo("192.0.2.2", 443)));
}

TEST_F(KernelVerdictsTest, TheFlowsHeldVerdictsDecideCountForTheirRules) {
  const auto policy = rules::testing::compile("", R"(
name = "app"
default = "deny"
[[match]]
path = "/usr/bin/app"
[[rule]]
action = "allow"
ports = 443
)");
  ASSERT_TRUE(policy);
  const rules::Flow flow = flowTo("192.0.2.2", 443);
  rules::ProcessInfo app;
  app.path = "/usr/bin/app";
  const auto counter = policy->hits().counterOf(policy->decide(rules::Subject::process(app), flow));
  ASSERT_TRUE(counter);
  auto holdIt = [&](std::uint64_t generation) {
    held_->hold(generation, held_->ticket(), flow, DnsName{}, owner_, rules::Action::kAllow,
                counter, nullptr);
    ASSERT_TRUE(stored(flow));
  };
  // What the held-verdict match does for each flow it decides: the entry's hits, then the
  // programs' counter (unless `counted` is false).
  auto flowsDecided = [&](std::uint64_t total, bool counted = true) {
    const warden_held_key key = heldKeyOf(flow, owner_.attribution.owner, kCookie);
    warden_held_verdict value = *stored(flow);
    ASSERT_GT(total, value.hits);
    const std::uint64_t more = total - value.hits;
    value.hits = total;
    value.last_hit_ns = base::bootTimeNs();
    ASSERT_EQ(bpf_map_update_elem(bpf_->heldVerdictsFd(), &key, &value, BPF_EXIST), 0);
    if (counted) countHeldFlows(more);
  };
  auto hits = [&] {
    for (const auto& entry : policy->hits().entries()) {
      if (entry.rule == 0) return entry.count;
    }
    return rules::HitCount{};
  };
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  holdIt(1);
  flowsDecided(3);
  held_->creditHits(policy->hits());
  EXPECT_EQ(hits().hits, 3u);
  EXPECT_NEAR(static_cast<double>(hits().lastNs), static_cast<double>(base::realtimeNs()), 1e9);
  held_->creditHits(policy->hits());  // no flow since: nothing more
  EXPECT_EQ(hits().hits, 3u);
  flowsDecided(5);
  held_->creditHits(policy->hits());
  EXPECT_EQ(hits().hits, 5u);
  // The programs' counter has not moved: no walk, so nothing credited yet (an idle table is
  // not read every 2 s); once it moves, the entry's hits are.
  flowsDecided(6, /*counted=*/false);
  held_->creditHits(policy->hits());
  EXPECT_EQ(hits().hits, 5u);
  countHeldFlows(1);
  held_->creditHits(policy->hits());
  EXPECT_EQ(hits().hits, 6u);
  // The queue decides the key again (a new entry, counting from 0).
  holdIt(1);
  flowsDecided(1);
  held_->creditHits(policy->hits());
  EXPECT_EQ(hits().hits, 7u);
  // Retired under the same policy: what the entry decided before still counts.
  flowsDecided(2);
  held_->retireAll();
  held_->creditHits(policy->hits());
  EXPECT_EQ(hits().hits, 8u);
  // Another policy: the entries of the one before are no longer credited (the daemon credits
  // them to it before it sets the new one).
  flowsDecided(4);
  ASSERT_TRUE(held_->setPolicy(2, true, 60));
  held_->creditHits(policy->hits());
  EXPECT_EQ(hits().hits, 8u);
}

TEST_F(KernelVerdictsTest, AFullStoreOfLogRowsHoldsNothingNewUntilMaintainSweepsIt) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  const db::LogRow row;
  auto holdLogged = [&](std::size_t i) {
    held_->hold(1, held_->ticket(), flowTo("192.0.2.2", static_cast<std::uint16_t>(1000 + i)),
                DnsName{}, owner_, rules::Action::kAllow, std::nullopt, &row);
  };
  constexpr std::size_t kFull = KernelVerdicts::kMaxRows;
  for (std::size_t i = 0; i < kFull; ++i) holdLogged(i);
  EXPECT_EQ(held_->summary().logFull, 0u);
  EXPECT_EQ(held_->summary().written, kFull);
  holdLogged(kFull);  // no room for its row: not held
  EXPECT_EQ(held_->summary().logFull, 1u);
  // Nor is a decision whose key has a row (that takes no look among the rows while full).
  holdLogged(0);
  EXPECT_EQ(held_->summary().logFull, 2u);
  held_->maintain();  // every row still applies: none goes
  holdLogged(kFull);
  EXPECT_EQ(held_->summary().logFull, 3u);
  // Retired: their rows no longer apply, but a worker's hold() does not sweep them (that would
  // be a walk of the store on every decision while it stays full); the control thread does.
  held_->retireAll();
  holdLogged(kFull);
  EXPECT_EQ(held_->summary().logFull, 4u);
  held_->maintain();
  holdLogged(kFull);
  EXPECT_EQ(held_->summary().logFull, 4u);
  EXPECT_EQ(held_->summary().written, kFull + 1);
}

TEST_F(KernelVerdictsTest, EveryEntryIsSeenWhenTheTableHoldsManyBatches) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  constexpr int kEntries = 700;  // the walk reads 256 at a time
  for (int i = 0; i < kEntries; ++i) {
    hold(1, flowTo(i % 2 ? "192.0.2.2" : "2001:db8::2", static_cast<std::uint16_t>(1000 + i)));
  }
  EXPECT_EQ(held_->summary().stored, static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(held_->summary().entries, static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(live(), static_cast<std::size_t>(kEntries));
}

TEST_F(KernelVerdictsTest, HoldsUnderThePolicyInForceOnly) {
  ASSERT_TRUE(held_->setPolicy(7, true, 60));
  const std::uint64_t epoch = state().epoch;
  EXPECT_NE(epoch, 0u);
  hold(7, flowTo("192.0.2.2", 443), rules::Action::kReject);
  const auto value = stored(flowTo("192.0.2.2", 443));
  ASSERT_TRUE(value);
  EXPECT_EQ(value->epoch, epoch);
  EXPECT_EQ(value->action, static_cast<std::uint32_t>(WARDEN_HELD_REJECT));
  EXPECT_EQ(value->name_gen, 0u);
  const std::uint64_t now = base::bootTimeNs();
  EXPECT_GT(value->expires_ns, now + 55'000'000'000ull);
  EXPECT_LE(value->expires_ns, now + 60'000'000'000ull);
  EXPECT_EQ(live(), 1u);
  // Decided under the policy before: never written.
  hold(6, flowTo("192.0.2.2", 8443));
  EXPECT_FALSE(stored(flowTo("192.0.2.2", 8443)));
  // A new policy: what was held stops applying at once (the kernel's epoch moved on).
  ASSERT_TRUE(held_->setPolicy(8, true, 60));
  EXPECT_NE(state().epoch, epoch);
  EXPECT_EQ(live(), 0u);
  EXPECT_EQ(held_->summary().entries, 0u);
  EXPECT_EQ(held_->summary().stored, 1u);
  EXPECT_EQ(held_->summary().reloads, 1u);
}

TEST_F(KernelVerdictsTest, ANewNameForTheAddressEndsWhatWasDecidedBefore) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  hold(1, flowTo("192.0.2.2", 443));
  hold(1, flowTo("192.0.2.3", 443));
  ASSERT_EQ(live(), 2u);
  held_->forgetAddress(*rules::IpAddress::parse("192.0.2.2"));
  // The entry stays in the map, but the number the hooks compare changed under it.
  EXPECT_TRUE(stored(flowTo("192.0.2.2", 443)));
  const auto entries =
      held_->entriesOf(owner_.attribution.owner.tgid, owner_.attribution.key.startTicks);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].remote.toString(), "192.0.2.3");
  // A decision that began before the name changed is not held at all.
  const KernelVerdicts::Ticket before = held_->ticket();
  held_->forgetAddress(*rules::IpAddress::parse("192.0.2.9"));
  held_->hold(1, before, flowTo("192.0.2.9", 443), DnsName{}, owner_, rules::Action::kAllow,
              std::nullopt, nullptr);
  EXPECT_FALSE(stored(flowTo("192.0.2.9", 443)));
  // One made after it is, with a number no lower than the address's new one (the hooks apply
  // an entry while its address's number is not above it).
  hold(1, flowTo("192.0.2.2", 443));
  const auto again = stored(flowTo("192.0.2.2", 443));
  ASSERT_TRUE(again);
  std::uint64_t number = 0;
  const auto address = *rules::IpAddress::parse("192.0.2.2");
  ASSERT_EQ(bpf_map_lookup_elem(bpf_->heldNamesFd(), address.bytes.data(), &number), 0);
  EXPECT_NE(number, 0u);
  EXPECT_GE(again->name_gen, number);
  EXPECT_EQ(live(), 2u);
}

// With a writer thread, hold() only queues: the entry reaches the map at the writer's turn
// (flush() here, or its interval), in one batch, and is then what hold() would have written.
TEST_F(KernelVerdictsTest, AWriterWritesQueuedEntriesInBatchesAsHoldWould) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  held_->startWriter(std::chrono::hours(1));  // its turn never comes in this test: flush() does
  constexpr int kEntries = 300;
  for (int i = 0; i < kEntries; ++i) {
    hold(1, flowTo("192.0.2.2", static_cast<std::uint16_t>(1000 + i)), rules::Action::kReject);
  }
  EXPECT_FALSE(stored(flowTo("192.0.2.2", 1000)));
  EXPECT_EQ(held_->summary().written, 0u);
  held_->flush();
  EXPECT_EQ(held_->summary().written, static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(live(), static_cast<std::size_t>(kEntries));
  const auto value = stored(flowTo("192.0.2.2", 1000 + kEntries - 1));
  ASSERT_TRUE(value);
  EXPECT_EQ(value->epoch, state().epoch);
  EXPECT_EQ(value->action, static_cast<std::uint32_t>(WARDEN_HELD_REJECT));
  // What is queued when the writer stops is written then.
  hold(1, flowTo("192.0.2.3", 443));
  held_->stopWriter();
  EXPECT_TRUE(stored(flowTo("192.0.2.3", 443)));
  // Stopped: hold() writes at once again.
  hold(1, flowTo("192.0.2.4", 443));
  EXPECT_TRUE(stored(flowTo("192.0.2.4", 443)));
}

TEST_F(KernelVerdictsTest, TheWriterThreadWritesWithinItsInterval) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  held_->startWriter(std::chrono::milliseconds(1));
  hold(1, flowTo("192.0.2.2", 443));
  for (int i = 0; i < 2000 && !stored(flowTo("192.0.2.2", 443)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(stored(flowTo("192.0.2.2", 443)));
  EXPECT_EQ(live(), 1u);
}

// Written late, an entry is as right as written at once: one decided under a policy replaced,
// or with a name changed, before the writer's turn is written and never applies.
TEST_F(KernelVerdictsTest, AnEntryWrittenAfterAReloadOrARenameDoesNotApply) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  held_->startWriter(std::chrono::hours(1));
  hold(1, flowTo("192.0.2.2", 443));
  hold(1, flowTo("192.0.2.3", 443));
  held_->forgetAddress(*rules::IpAddress::parse("192.0.2.3"));
  held_->flush();
  ASSERT_TRUE(stored(flowTo("192.0.2.3", 443)));
  auto entries = held_->entriesOf(owner_.attribution.owner.tgid, owner_.attribution.key.startTicks);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].remote.toString(), "192.0.2.2");

  hold(1, flowTo("192.0.2.4", 443));
  ASSERT_TRUE(held_->setPolicy(2, true, 60));
  held_->flush();
  ASSERT_TRUE(stored(flowTo("192.0.2.4", 443)));
  EXPECT_NE(stored(flowTo("192.0.2.4", 443))->epoch, state().epoch);
  EXPECT_EQ(live(), 0u);
}

// held_names has room for WARDEN_HELD_NAME_ENTRIES addresses; the next new name cannot be
// numbered, so everything held goes, and maintain() empties the table (having retired what was
// held before it deletes a single number, which would otherwise read as "none" meanwhile).
TEST_F(KernelVerdictsTest, AFullTableOfNamesIsEmptiedAndWhatWasHeldGoes) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  hold(1, flowTo("192.0.2.2", 443));
  ASSERT_EQ(live(), 1u);
  const std::uint32_t before = state().epoch;
  rules::IpAddress address = *rules::IpAddress::parse("2001:db8:ff::");
  for (std::uint32_t i = 0; i <= WARDEN_HELD_NAME_ENTRIES; ++i) {
    address.bytes[12] = static_cast<std::uint8_t>(i >> 24);
    address.bytes[13] = static_cast<std::uint8_t>(i >> 16);
    address.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    address.bytes[15] = static_cast<std::uint8_t>(i);
    held_->forgetAddress(address);
  }
  EXPECT_NE(state().epoch, before);  // the name that found no room retired everything
  EXPECT_EQ(live(), 0u);
  held_->maintain();
  rules::IpAddress key;
  EXPECT_NE(bpf_map_get_next_key(bpf_->heldNamesFd(), nullptr, key.bytes.data()), 0)
      << "held_names was not emptied";
  // Decided from here on: held, whatever number its address had.
  hold(1, flowTo("192.0.2.2", 443));
  EXPECT_EQ(live(), 1u);
}

TEST_F(KernelVerdictsTest, NeverOutlivesTheDnsAnswerItsHostNameCameFrom) {
  ASSERT_TRUE(held_->setPolicy(1, true, 600));
  DnsName host;
  host.assign("a.test.example");
  host.expiresAt = HostCache::nowSeconds() + 30;
  hold(1, flowTo("192.0.2.2", 443), rules::Action::kAllow, host);
  const auto value = stored(flowTo("192.0.2.2", 443));
  ASSERT_TRUE(value);
  EXPECT_LE(value->expires_ns, base::bootTimeNs() + 29'000'000'000ull);
  // An answer about to expire: not held.
  host.expiresAt = HostCache::nowSeconds() + 1;
  hold(1, flowTo("192.0.2.4", 443), rules::Action::kAllow, host);
  EXPECT_FALSE(stored(flowTo("192.0.2.4", 443)));
}

// A worker takes its ticket before it decides (and asks whether a prompt client is there):
// an epoch that began since, for the same policy (a prompt client connected: retireAll()), is
// not the one its decision may be held under.
TEST_F(KernelVerdictsTest, ADecisionBegunBeforeANewEpochIsNotHeld) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  const KernelVerdicts::Ticket before = held_->ticket();
  held_->retireAll();
  held_->hold(1, before, flowTo("192.0.2.2", 443), DnsName{}, owner_, rules::Action::kAllow,
              std::nullopt, nullptr);
  EXPECT_FALSE(stored(flowTo("192.0.2.2", 443)));
  hold(1, flowTo("192.0.2.2", 443));  // one begun after it is
  EXPECT_TRUE(stored(flowTo("192.0.2.2", 443)));
  EXPECT_EQ(live(), 1u);
}

TEST_F(KernelVerdictsTest, RetiringEverythingMovesTheEpochForTheSamePolicy) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  hold(1, flowTo("192.0.2.2", 443));
  ASSERT_EQ(live(), 1u);
  held_->retireAll();
  EXPECT_EQ(live(), 0u);
  hold(1, flowTo("192.0.2.2", 443));  // the same policy goes on being held
  EXPECT_EQ(live(), 1u);
}

// Should the kernel refuse the new epoch, the hooks would go on applying every entry of the
// epoch before, whatever the new policy says: those entries go instead, and nothing is held
// until a policy's epoch is written. (A descriptor of held_state opened read-only makes the
// kernel refuse the write.)
TEST_F(KernelVerdictsTest, AnEpochTheKernelRefusesRemovesEverythingHeldBefore) {
  ASSERT_TRUE(held_->setPolicy(1, true, 60));
  held_->startWriter(std::chrono::milliseconds(1));
  hold(1, flowTo("192.0.2.2", 443));
  held_->flush();
  ASSERT_TRUE(stored(flowTo("192.0.2.2", 443)));

  bpf_map_info info{};
  std::uint32_t length = sizeof info;
  ASSERT_EQ(bpf_obj_get_info_by_fd(bpf_->heldStateFd(), &info, &length), 0);
  LIBBPF_OPTS(bpf_get_fd_by_id_opts, readOnly, .open_flags = BPF_F_RDONLY);
  const base::UniqueFd stateFd(bpf_map_get_fd_by_id_opts(info.id, &readOnly));
  ASSERT_TRUE(stateFd) << std::strerror(errno);
  held_->stopWriter();
  held_.reset();
  held_ = std::make_unique<KernelVerdicts>(
      KernelVerdicts::Maps{bpf_->heldVerdictsFd(), stateFd.get(), bpf_->heldNamesFd(),
                           bpf_->countersFd()},
      bpf_->heldCapacity(), kCookie, db::LogProducer{});
  held_->startWriter(std::chrono::milliseconds(1));
  const std::uint32_t before = state().epoch;
  ASSERT_NE(before, 0u);

  EXPECT_FALSE(held_->setPolicy(2, true, 60));
  EXPECT_EQ(state().epoch, before);                // the hooks still name it
  EXPECT_FALSE(stored(flowTo("192.0.2.2", 443)));  // but nothing of it is left
  hold(2, flowTo("192.0.2.3", 443));               // and nothing new is held
  held_->flush();
  EXPECT_FALSE(stored(flowTo("192.0.2.3", 443)));
  const HeldSummary summary = held_->summary();
  EXPECT_FALSE(summary.enabled);
  EXPECT_EQ(summary.epochErrors, 1u);
  EXPECT_EQ(summary.stored, 0u);
  held_->stopWriter();
  held_.reset();  // before the descriptor it borrows
}

// The programs attached to `cgroup` for `type` (not through links alone: every attachment).
std::vector<__u32> attachedTo(const std::string& cgroup, bpf_attach_type type) {
  const base::UniqueFd fd(open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  __u32 ids[64] = {};
  __u32 count = 64;
  __u32 flags = 0;
  if (!fd || bpf_prog_query(fd.get(), type, 0, &flags, ids, &count) != 0) return {};
  return std::vector<__u32>(ids, ids + count);
}

TEST_F(KernelVerdictsTest, HooksAreDetachedByTheirOwnerAndSparedWhileItLives) {
  // The connect and sendmsg hooks: attached without a link, so that they would outlive us.
  for (bpf_attach_type type : {BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET6_CONNECT,
                               BPF_CGROUP_UDP4_SENDMSG, BPF_CGROUP_UDP6_SENDMSG}) {
    EXPECT_EQ(attachedTo(lab_->cgroup(), type).size(), 1u) << type;
  }
  // Their owner runs: `wardend --cleanup` leaves them alone.
  auto spared = BpfAttribution::detachStaleHooks(lab_->cgroup());
  ASSERT_TRUE(spared) << spared.error().message();
  EXPECT_EQ(*spared, 0);
  EXPECT_EQ(attachedTo(lab_->cgroup(), BPF_CGROUP_INET4_CONNECT).size(), 1u);
  held_.reset();
  bpf_.reset();
  EXPECT_TRUE(attachedTo(lab_->cgroup(), BPF_CGROUP_INET4_CONNECT).empty());
  EXPECT_TRUE(attachedTo(lab_->cgroup(), BPF_CGROUP_UDP6_SENDMSG).empty());
}

}  // namespace
}  // namespace warden::engine
