// Holding flows for `warden prompt`: the queue worker with a fake queue, a fake attribution and
// a clock moved by hand, and a real PromptBroker playing the control thread's part.
#include <netinet/in.h>

#include <gtest/gtest.h>
#include <linux/netfilter.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "engine/verdict/prompt_broker.h"
#include "engine/verdict/queue_worker.h"
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

constexpr std::uint64_t kStartNs = 5'000'000'000'000;
std::atomic<std::uint64_t> nowNs{kStartNs};
std::uint64_t fakeNow() { return nowNs.load(); }

using warden::testing::eventually;

// The engine default decides processes without profile; `app` has a profile that allows.
std::string engineText(std::string_view defaultAction, int hold = 64) {
  return "[engine]\ndefault = \"" + std::string(defaultAction) +
         "\"\nunknown = \"reject\"\n[prompt]\ntimeout = 30\nhold = " + std::to_string(hold) + "\n";
}
constexpr std::string_view kApp = R"(
[[profile]]
name = "app"
default = "deny"
[[profile.match]]
path = "/usr/bin/app"
)";

std::shared_ptr<const PolicySnapshot> policyOf(const std::string& engine) {
  auto config = rules::parseConfig(engine, "/t/warden.toml");
  auto parsed = rules::parseProfiles(kApp, "/t/profiles.toml");
  if (!config || !parsed) return nullptr;
  rules::Policy policy;
  policy.config = std::move(*config);
  policy.profiles = std::move(*parsed);
  auto compiled = rules::CompiledPolicy::compile(std::move(policy), 1);
  if (!compiled) return nullptr;
  return std::make_shared<const PolicySnapshot>(PolicySnapshot{std::move(*compiled)});
}

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
  return owner;
}

std::shared_ptr<const ProcessDescription> description(const Attribution& owner,
                                                      std::string_view path) {
  auto match = std::make_shared<rules::ProcessInfo>();
  match->path = std::string(path);
  match->setArgv({std::string(path), "--flag"});
  auto info = std::make_shared<ProcessDescription>();
  info->key = owner.key;
  info->path = std::string(path);
  info->pathOnHost = true;
  info->argv = {std::string(path), "--flag"};
  info->uid = 1000;
  info->user = "alice";
  info->ancestorPaths = {"/usr/bin/bash"};
  info->tags = {"systemd:demo.service"};
  info->exeKernelDev = owner.owner.exe_dev;
  info->exeInode = owner.owner.exe_ino;
  info->source = ProcessSource::kExecEvent;
  info->complete = true;
  info->match = std::move(match);
  info->logged = loggedProcess(*info);
  return info;
}

const MarkBits kMarks{0x3};
enum class Outcome { kNone, kAllowed, kDropped, kOther };

class QueueWorkerPromptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nowNs = kStartNs;
    auto broker = PromptBroker::create(1);
    ASSERT_TRUE(broker.has_value());
    broker_ = std::move(*broker);
    auto source = std::make_unique<FakePacketSource>();
    auto owners = std::make_unique<FakeOwnerLookup>();
    source_ = source.get();
    owners_ = owners.get();
    ownedSource_ = std::move(source);
    ownedOwners_ = std::move(owners);
    // Ports 400xx belong to a process without profile; 500xx to one of `app`.
    for (std::uint16_t port = 40000; port < 40010; ++port) {
      owners_->own(port, stranger_);
    }
    owners_->own(50000, known_);
    owners_->setDescription(stranger_.key, description(stranger_, "/opt/tool/bin/tool"));
    owners_->setDescription(known_.key, description(known_, "/usr/bin/app"));
  }

  void TearDown() override {
    if (!worker_) return;
    worker_->drainAndStop();
    worker_->join();
    EXPECT_EQ(source_->strayVerdicts(), 0);
  }

  void start(const std::string& engine) {
    auto policy = policyOf(engine);
    ASSERT_NE(policy, nullptr);
    store_.publish(std::move(policy));
    worker_ =
        std::make_unique<QueueWorker>(std::move(ownedSource_), store_, kMarks, db::LogProducer{},
                                      std::move(ownedOwners_), nullptr, nullptr, fakeNow);
    worker_->servePrompts(broker_.get(), 0);
    ASSERT_TRUE(worker_->start().has_value());
  }

  // A new outbound TCP connection from `port` to port 443 (the same port: a SYN sent again).
  std::uint32_t connect(std::uint16_t port) {
    return source_->push(ipv4TcpSyn(port, 443), NF_INET_LOCAL_OUT);
  }
  Outcome outcomeOf(std::uint32_t id) const {
    const auto sent = source_->verdictFor(id);
    if (!sent) return Outcome::kNone;
    if (sent->verdict == Verdict::kDrop && !sent->mark) return Outcome::kDropped;
    if (sent->verdict == Verdict::kAccept && sent->mark && *sent->mark == kMarks.accept()) {
      return Outcome::kAllowed;
    }
    return Outcome::kOther;
  }
  bool decided(std::uint32_t id) const { return source_->verdictFor(id).has_value(); }
  std::uint64_t questions() const { return broker_->counters().questions; }
  // The question the broker sent out last.
  PromptQuestion lastQuestion() {
    std::vector<PromptEvent> events;
    broker_->takeEvents(events);
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->kind == PromptEvent::Kind::kAsked) return it->question;
    }
    ADD_FAILURE() << "no question was asked";
    return {};
  }
  // Lets the worker run a moment: what it would decide at once, it has.
  void settle() { std::this_thread::sleep_for(50ms); }

  const Attribution stranger_ = processOwner(100);
  const Attribution known_ = processOwner(200);
  std::unique_ptr<PromptBroker> broker_;
  PolicySlot store_;
  FakePacketSource* source_ = nullptr;
  FakeOwnerLookup* owners_ = nullptr;
  std::unique_ptr<FakePacketSource> ownedSource_;
  std::unique_ptr<FakeOwnerLookup> ownedOwners_;
  std::unique_ptr<QueueWorker> worker_;
};

TEST_F(QueueWorkerPromptTest, WithoutAPromptClientNothingWaits) {
  start(engineText("deny"));
  const std::uint32_t id = connect(40000);
  ASSERT_TRUE(eventually([&] { return decided(id); }));
  EXPECT_EQ(outcomeOf(id), Outcome::kDropped);
  EXPECT_EQ(questions(), 0u);
}

TEST_F(QueueWorkerPromptTest, AHeldFlowWaitsForItsAnswerAndItsRetransmitsAreDropped) {
  broker_->setClients(1);
  start(engineText("deny"));
  const std::uint32_t first = connect(40000);
  ASSERT_TRUE(eventually([&] { return questions() == 1; }));
  const PromptQuestion question = lastQuestion();
  EXPECT_EQ(question.target.exe, "/opt/tool/bin/tool");
  EXPECT_EQ(question.pid, 100u);
  EXPECT_EQ(question.user, "alice");
  EXPECT_EQ(question.parent, "/usr/bin/bash");
  EXPECT_EQ(question.tags, std::vector<std::string>{"systemd:demo.service"});
  EXPECT_EQ(question.target.port, 443);
  EXPECT_EQ(question.deadlineNs, kStartNs + 30'000'000'000ull);
  // The same SYN sent again: dropped, not a second question.
  const std::uint32_t again = connect(40000);
  ASSERT_TRUE(eventually([&] { return decided(again); }));
  EXPECT_EQ(outcomeOf(again), Outcome::kDropped);
  settle();
  EXPECT_EQ(outcomeOf(first), Outcome::kNone);
  EXPECT_EQ(questions(), 1u);
  EXPECT_EQ(broker_->counters().duplicates, 1u);

  EXPECT_EQ(broker_->answer(question.id, rules::Action::kAllow, PromptScope::kOnce),
            PromptBroker::Answered::kDone);
  ASSERT_TRUE(eventually([&] { return decided(first); }));
  EXPECT_EQ(outcomeOf(first), Outcome::kAllowed);  // the engine default would have dropped it
  // The first answer wins: a second one is told so.
  EXPECT_EQ(broker_->answer(question.id, rules::Action::kDeny, PromptScope::kOnce),
            PromptBroker::Answered::kAnsweredElsewhere);
  EXPECT_EQ(broker_->answer(999, rules::Action::kDeny, PromptScope::kOnce),
            PromptBroker::Answered::kNoSuchQuestion);
  // "once": the next flow is asked about again.
  connect(40001);
  ASSERT_TRUE(eventually([&] { return questions() == 2; }));
}

TEST_F(QueueWorkerPromptTest, ADenyAnswerDropsAndNothingOfTheFlowPassesMeanwhile) {
  broker_->setClients(2);
  start(engineText("allow"));
  const std::uint32_t id = connect(40000);
  ASSERT_TRUE(eventually([&] { return questions() == 1; }));
  // The flow's next packet, which the engine default would accept, is dropped while it waits.
  const std::uint32_t again = connect(40000);
  ASSERT_TRUE(eventually([&] { return decided(again); }));
  EXPECT_EQ(outcomeOf(again), Outcome::kDropped);
  EXPECT_EQ(outcomeOf(id), Outcome::kNone);
  ASSERT_EQ(broker_->answer(lastQuestion().id, rules::Action::kDeny, PromptScope::kOnce),
            PromptBroker::Answered::kDone);
  ASSERT_TRUE(eventually([&] { return decided(id); }));
  EXPECT_EQ(outcomeOf(id), Outcome::kDropped);
  EXPECT_EQ(broker_->counters().answers, 1u);
  // Sent again after the answer (TCP retries a dropped SYN): the answer holds, no new question.
  const std::uint32_t later = connect(40000);
  ASSERT_TRUE(eventually([&] { return decided(later); }));
  EXPECT_EQ(outcomeOf(later), Outcome::kDropped);
  EXPECT_EQ(questions(), 1u);
}

TEST_F(QueueWorkerPromptTest, AtTheDeadlineTheEngineVerdictIsGiven) {
  broker_->setClients(1);
  start(engineText("deny"));
  const std::uint32_t id = connect(40000);
  ASSERT_TRUE(eventually([&] { return questions() == 1; }));
  const PromptQuestion question = lastQuestion();
  nowNs += 29'000'000'000ull;
  settle();
  EXPECT_EQ(outcomeOf(id), Outcome::kNone);
  nowNs += 1'000'000'000ull;
  ASSERT_TRUE(eventually([&] { return decided(id); }));
  EXPECT_EQ(outcomeOf(id), Outcome::kDropped);
  EXPECT_EQ(broker_->counters().timeouts, 1u);
  // Too late: the question is closed, and the clients were told.
  EXPECT_EQ(broker_->answer(question.id, rules::Action::kAllow, PromptScope::kOnce),
            PromptBroker::Answered::kTooLate);
  std::vector<PromptEvent> events;
  broker_->takeEvents(events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, PromptEvent::Kind::kClosed);
  EXPECT_EQ(events[0].outcome, PromptOutcome::kTimedOut);
}

TEST_F(QueueWorkerPromptTest, TheLastClientLeavingReleasesEveryHeldFlowAtOnce) {
  broker_->setClients(1);
  start(engineText("deny"));
  const std::uint32_t a = connect(40000);
  const std::uint32_t b = connect(40001);
  ASSERT_TRUE(eventually([&] { return questions() == 2; }));
  settle();
  EXPECT_FALSE(decided(a) || decided(b));
  broker_->setClients(0);
  ASSERT_TRUE(eventually([&] { return decided(a) && decided(b); }));
  EXPECT_EQ(outcomeOf(a), Outcome::kDropped);
  EXPECT_EQ(outcomeOf(b), Outcome::kDropped);
  EXPECT_EQ(nowNs.load(), kStartNs);  // not by the deadline
  EXPECT_EQ(broker_->counters().released, 2u);
  // And nothing waits afterwards.
  const std::uint32_t c = connect(40002);
  ASSERT_TRUE(eventually([&] { return decided(c); }));
  EXPECT_EQ(questions(), 2u);
}

TEST_F(QueueWorkerPromptTest, AtTheHoldBoundFlowsAreDecidedAtOnce) {
  broker_->setClients(1);
  start(engineText("deny", /*hold=*/2));
  const std::uint32_t a = connect(40000);
  const std::uint32_t b = connect(40001);
  ASSERT_TRUE(eventually([&] { return questions() == 2; }));
  const std::uint32_t c = connect(40002);
  ASSERT_TRUE(eventually([&] { return decided(c); }));
  EXPECT_EQ(outcomeOf(c), Outcome::kDropped);
  EXPECT_EQ(broker_->counters().holdFull, 1u);
  EXPECT_FALSE(decided(a) || decided(b));
}

TEST_F(QueueWorkerPromptTest, AProcessWithAProfileIsNeverHeld) {
  broker_->setClients(1);
  start(engineText("allow"));
  const std::uint32_t id = source_->push(ipv4TcpSyn(50000, 443), NF_INET_LOCAL_OUT);
  ASSERT_TRUE(eventually([&] { return decided(id); }));
  EXPECT_EQ(outcomeOf(id), Outcome::kDropped);  // app's default, without a question
  EXPECT_EQ(questions(), 0u);
}

TEST_F(QueueWorkerPromptTest, AnUntilRestartAnswerDecidesTheNextFlowsWithoutAQuestion) {
  broker_->setClients(1);
  start(engineText("deny"));
  const std::uint32_t first = connect(40000);
  ASSERT_TRUE(eventually([&] { return questions() == 1; }));
  ASSERT_EQ(broker_->answer(lastQuestion().id, rules::Action::kAllow, PromptScope::kUntilRestart),
            PromptBroker::Answered::kDone);
  ASSERT_TRUE(eventually([&] { return decided(first); }));
  // Another connection to the same destination, with no prompt client connected any more.
  broker_->setClients(0);
  const std::uint32_t next = connect(40001);
  ASSERT_TRUE(eventually([&] { return decided(next); }));
  EXPECT_EQ(outcomeOf(next), Outcome::kAllowed);
  EXPECT_EQ(questions(), 1u);
  EXPECT_EQ(broker_->counters().remembered, 1u);
  EXPECT_EQ(broker_->counters().rememberedEntries, 1u);
  // Another destination port is not covered.
  const std::uint32_t other = source_->push(ipv4TcpSyn(40002, 8443), NF_INET_LOCAL_OUT);
  ASSERT_TRUE(eventually([&] { return decided(other); }));
  EXPECT_EQ(outcomeOf(other), Outcome::kDropped);
  // Nor is another file at the same path (review: a user bind-mounts its own binary over the
  // path in a mount namespace of its own; remembered by path text, the answer was its too).
  const Attribution impostor = processOwner(300);
  owners_->own(40003, impostor);
  owners_->setDescription(impostor.key, description(impostor, "/opt/tool/bin/tool"));
  const std::uint32_t forged = connect(40003);
  ASSERT_TRUE(eventually([&] { return decided(forged); }));
  EXPECT_EQ(outcomeOf(forged), Outcome::kDropped);
}

TEST_F(QueueWorkerPromptTest, StoppingGivesHeldFlowsTheEngineVerdict) {
  broker_->setClients(1);
  start(engineText("deny"));
  const std::uint32_t id = connect(40000);
  ASSERT_TRUE(eventually([&] { return questions() == 1; }));
  worker_->drainAndStop();
  worker_->join();
  EXPECT_EQ(outcomeOf(id), Outcome::kDropped);
  EXPECT_EQ(broker_->counters().released, 1u);
  EXPECT_TRUE(broker_->openQuestions().empty());
}

TEST_F(QueueWorkerPromptTest, TheQueueLostGivesHeldFlowsTheEngineVerdict) {
  broker_->setClients(1);
  start(engineText("deny"));
  const std::uint32_t id = connect(40000);
  ASSERT_TRUE(eventually([&] { return questions() == 1; }));
  source_->failReceive(EBADF, /*forever=*/true);
  ASSERT_TRUE(eventually([&] { return decided(id); }));
  EXPECT_EQ(outcomeOf(id), Outcome::kDropped);
}

}  // namespace
}  // namespace warden::engine
