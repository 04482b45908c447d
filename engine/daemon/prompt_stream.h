#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace warden::engine {

// The framing of a `warden prompt` connection, without its socket (ControlServer does the
// I/O): after its request, such a client stays connected, and lines go both ways, questions
// out and answers in, for as long as it likes. Both directions are bounded, so that a client
// that floods or stops reading costs a fixed amount of memory: it is closed instead.
// Not thread-safe.
class PromptStream {
 public:
  static constexpr std::size_t kMaxLineBytes = 4096;        // an answer line, with its newline
  static constexpr std::size_t kMaxBacklogBytes = 1 << 20;  // not yet taken by the client

  // Bytes read from the client: each whole line (without its newline) is appended to `lines`.
  // False when a line is longer than kMaxLineBytes: the client is to be closed.
  [[nodiscard]] bool received(std::string_view bytes, std::vector<std::string>& lines);
  // A line (without newline) to send. False when the client has left more than
  // kMaxBacklogBytes unread: it is to be closed.
  [[nodiscard]] bool queue(std::string_view line);
  // What is left to send, and how much of it was just sent.
  std::string_view output() const { return std::string_view(output_).substr(sent_); }
  void wrote(std::size_t bytes);

 private:
  std::string input_;
  std::string output_;
  std::size_t sent_ = 0;
};

}  // namespace warden::engine
