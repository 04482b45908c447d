// One control connection's framing, bounds and deadlines, on a made-up clock and no socket.
#include "engine/daemon/control_session.h"

#include <gtest/gtest.h>

#include <string>

namespace warden::engine {
namespace {

using Need = ControlSession::Need;
using Ending = ControlSession::Ending;

ControlLimits limits() {
  ControlLimits l;
  l.maxRequestBytes = 64;
  l.requestDeadlineMs = 3000;
  l.answerDeadlineMs = 2000;
  return l;
}

// Sends everything the session has to send, as a client that reads it all would take it.
std::string takeAll(ControlSession& session) {
  std::string taken(session.output());
  session.wrote(taken.size());
  return taken;
}

TEST(ControlSession, ARequestIsTheLineUpToItsNewlineAcrossReads) {
  ControlSession session(1000, limits());
  session.received(R"({"version":1,)", 1000);
  EXPECT_EQ(session.need(), Need::kBytes);
  session.received("\"command\":\"status\"}\nignored after the newline", 1001);
  ASSERT_EQ(session.need(), Need::kAnswer);
  EXPECT_EQ(session.request(), R"({"version":1,"command":"status"})");
  session.received("more\n", 1002);  // one request per connection: nothing changes
  EXPECT_EQ(session.request(), R"({"version":1,"command":"status"})");

  session.answer(R"({"ok":true})", 1003);
  ASSERT_EQ(session.need(), Need::kWrite);
  EXPECT_EQ(takeAll(session), "{\"ok\":true}\n");
  EXPECT_EQ(session.need(), Need::kClose);
  EXPECT_EQ(session.ending(), Ending::kAnswered);
}

TEST(ControlSession, ALineOverTheBoundIsRefusedAndReadNoFurther) {
  ControlSession session(0, limits());
  session.received(std::string(40, 'x'), 10);
  EXPECT_EQ(session.room(), 24u);
  session.received(std::string(1000, 'x'), 20);  // a client flooding without a newline
  ASSERT_EQ(session.need(), Need::kWrite);
  EXPECT_EQ(session.ending(), Ending::kRequestTooLong);
  EXPECT_EQ(takeAll(session),
            R"({"version":1,"ok":false,"error":"request longer than 64 bytes without a newline"})"
            "\n");
  EXPECT_EQ(session.need(), Need::kClose);
  EXPECT_EQ(session.ending(), Ending::kRequestTooLong);  // counted as what the client did
}

TEST(ControlSession, ANewlineAtTheBoundIsStillARequest) {
  ControlSession session(0, limits());
  session.received(std::string(63, 'x') + "\n", 0);
  ASSERT_EQ(session.need(), Need::kAnswer);
  EXPECT_EQ(session.request(), std::string(63, 'x'));
}

TEST(ControlSession, TheRequestDeadlineCountsFromAcceptAndTricklingDoesNotMoveIt) {
  ControlSession session(1000, limits());
  EXPECT_EQ(session.deadlineMs(), 4000);
  for (std::int64_t t = 1000; t < 4000; t += 500) {
    session.received("x", t);  // a byte now and then, never a newline
    EXPECT_FALSE(session.expire(t));
  }
  EXPECT_FALSE(session.expire(3999));
  EXPECT_TRUE(session.expire(4000));
  EXPECT_EQ(session.need(), Need::kClose);
  EXPECT_EQ(session.ending(), Ending::kRequestLate);
  EXPECT_FALSE(session.expire(9000));  // ended once
}

TEST(ControlSession, TheAnswerDeadlineCountsFromTheAnswerNotTheRequest) {
  ControlSession session(0, limits());
  session.received("{}\n", 100);
  session.answer(std::string(100, 'a'), 5000);  // a reload took 5 s before the answer was made
  EXPECT_EQ(session.deadlineMs(), 7000);
  session.wrote(40);  // the client takes a part, then stops reading
  EXPECT_EQ(session.output().size(), 61u);
  EXPECT_FALSE(session.expire(6999));
  EXPECT_TRUE(session.expire(7000));
  EXPECT_EQ(session.ending(), Ending::kAnswerNotTaken);
  EXPECT_TRUE(session.output().empty());  // the answer's memory is released
}

TEST(ControlSession, AClientThatShutsItsSideGetsWhatItSentAnswered) {
  ControlSession session(0, limits());
  session.received(R"({"version":1,"command":"status"})", 0);
  session.hungUp();
  ASSERT_EQ(session.need(), Need::kAnswer);
  EXPECT_EQ(session.request(), R"({"version":1,"command":"status"})");

  ControlSession silent(0, limits());
  silent.hungUp();
  EXPECT_EQ(silent.need(), Need::kClose);
  EXPECT_EQ(silent.ending(), Ending::kHungUp);
}

TEST(ControlSession, TheFirstReasonToEndStays) {
  ControlSession session(0, limits());
  session.received(std::string(64, 'x'), 0);
  ASSERT_EQ(session.ending(), Ending::kRequestTooLong);
  EXPECT_TRUE(session.expire(limits().answerDeadlineMs));  // its refusal not taken either
  EXPECT_EQ(session.ending(), Ending::kRequestTooLong);

  ControlSession evicted(0, limits());
  evicted.close(Ending::kEvicted);
  evicted.received("{}\n", 1);
  EXPECT_EQ(evicted.need(), Need::kClose);
  EXPECT_EQ(evicted.ending(), Ending::kEvicted);
}

}  // namespace
}  // namespace warden::engine
