#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/daemon/control_protocol.h"

namespace warden::engine {

// What one control client may take from wardend: the bounds that keep an idle, slow or
// hostile client (root, but perhaps a stuck script) from holding up the others, signals,
// reloads or shutdown.
struct ControlLimits {
  std::size_t maxClients = 32;                     // at once; the oldest is closed for a new one
  std::size_t maxRequestBytes = kMaxRequestBytes;  // a request line, its newline included
  std::int64_t requestDeadlineMs = 3000;           // from accept to the request's newline
  std::int64_t answerDeadlineMs = 3000;            // from the answer made to its last byte taken
};

// One control connection from accept to close, without its socket, so that the framing, the
// bounds and the deadlines are tested with a made-up clock (ControlServer does the I/O).
// A session reads one request line, answers it once, and ends. Not thread-safe.
class ControlSession {
 public:
  // What the connection waits for next.
  enum class Need {
    kBytes,   // more of the request
    kAnswer,  // the request (request()) is whole: answer() it
    kWrite,   // the client to take the rest of the answer (output())
    kClose,   // nothing: the session is over (ending() says how)
  };
  enum class Ending {
    kNone,            // not over
    kAnswered,        // the whole answer was taken
    kHungUp,          // the client left (or its socket failed) before taking an answer
    kRequestLate,     // no whole request by the request deadline
    kRequestTooLong,  // maxRequestBytes without a newline: refused, read no further
    kAnswerNotTaken,  // the answer not taken by the answer deadline
    kEvicted,         // closed to make room for a newer client at the bound
  };

  ControlSession(std::int64_t nowMs, const ControlLimits& limits);

  Need need() const { return need_; }
  Ending ending() const { return ending_; }
  // When the current wait (request or answer) runs out; meaningless once closed.
  std::int64_t deadlineMs() const { return deadlineMs_; }

  // Bytes the client may still send before the request line is too long (> 0 while kBytes).
  std::size_t room() const { return limits_.maxRequestBytes - received_.size(); }
  // Bytes read from the client: at most room(). Bytes after the first newline are ignored.
  void received(std::string_view bytes, std::int64_t nowMs);
  // The client shut its side: what it sent so far, if anything, is its request.
  void hungUp();
  // The request line, without its newline (kAnswer only).
  std::string_view request() const;

  // The answer line (without newline) to send; the request's bytes are released.
  void answer(std::string line, std::int64_t nowMs);
  // What is left to send (kWrite only), and how much of it was just sent.
  std::string_view output() const { return std::string_view(output_).substr(sent_); }
  void wrote(std::size_t bytes);

  // Ends the session if its deadline has passed; true if it did.
  bool expire(std::int64_t nowMs);
  // Ends the session for a reason the socket knows (kHungUp, kEvicted); a reason given before
  // (kRequestTooLong) stays.
  void close(Ending why);

 private:
  ControlLimits limits_;
  Need need_ = Need::kBytes;
  Ending ending_ = Ending::kNone;
  std::int64_t deadlineMs_;
  std::string received_;
  std::size_t requestEnd_ = 0;
  std::string output_;
  std::size_t sent_ = 0;
};

}  // namespace warden::engine
