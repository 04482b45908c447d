#include "engine/daemon/control_session.h"

#include <algorithm>
#include <utility>

namespace warden::engine {

ControlSession::ControlSession(std::int64_t nowMs, const ControlLimits& limits)
    : limits_(limits), deadlineMs_(nowMs + limits.requestDeadlineMs) {}

void ControlSession::received(std::string_view bytes, std::int64_t nowMs) {
  if (need_ != Need::kBytes) return;
  const std::size_t from = received_.size();
  received_.append(bytes.substr(0, room()));
  if (const auto newline = received_.find('\n', from); newline != std::string::npos) {
    requestEnd_ = newline;
    need_ = Need::kAnswer;
  } else if (room() == 0) {
    // Read no further: a client sending megabytes costs at most this buffer, and is told why.
    ending_ = Ending::kRequestTooLong;
    answer(socketRefusal("request longer than " + std::to_string(limits_.maxRequestBytes) +
                         " bytes without a newline"),
           nowMs);
  }
}

void ControlSession::hungUp() {
  if (need_ != Need::kBytes) return;
  if (received_.empty()) {
    close(Ending::kHungUp);
    return;
  }
  // A client that shuts its side after a request without a newline still gets an answer.
  requestEnd_ = received_.size();
  need_ = Need::kAnswer;
}

std::string_view ControlSession::request() const {
  return std::string_view(received_).substr(0, requestEnd_);
}

void ControlSession::answer(std::string line, std::int64_t nowMs) {
  if (need_ == Need::kClose) return;
  std::string().swap(received_);
  output_ = std::move(line);
  output_ += '\n';
  sent_ = 0;
  need_ = Need::kWrite;
  deadlineMs_ = nowMs + limits_.answerDeadlineMs;
}

void ControlSession::wrote(std::size_t bytes) {
  if (need_ != Need::kWrite) return;
  sent_ = std::min(output_.size(), sent_ + bytes);
  if (sent_ == output_.size()) {
    close(Ending::kAnswered);
  }
}

bool ControlSession::expire(std::int64_t nowMs) {
  if (need_ == Need::kClose || nowMs < deadlineMs_) return false;
  // kAnswer does not last: the server answers as soon as the request is whole.
  close(need_ == Need::kWrite ? Ending::kAnswerNotTaken : Ending::kRequestLate);
  return true;
}

void ControlSession::close(Ending why) {
  need_ = Need::kClose;
  // The first reason stays: a too-long request's refusal, taken or not, ends a too-long request.
  if (ending_ == Ending::kNone) ending_ = why;
  std::string().swap(received_);
  std::string().swap(output_);
  sent_ = 0;
}

}  // namespace warden::engine
