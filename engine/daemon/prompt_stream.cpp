#include "engine/daemon/prompt_stream.h"

#include <algorithm>

namespace warden::engine {

bool PromptStream::received(std::string_view bytes, std::vector<std::string>& lines) {
  input_.append(bytes);
  std::size_t from = 0;
  for (std::size_t newline; (newline = input_.find('\n', from)) != std::string::npos;) {
    lines.emplace_back(input_, from, newline - from);
    from = newline + 1;
  }
  input_.erase(0, from);
  return input_.size() < kMaxLineBytes;
}

bool PromptStream::queue(std::string_view line) {
  // What was taken goes first, so that the buffer holds only what is unread.
  output_.erase(0, sent_);
  sent_ = 0;
  if (output_.size() + line.size() + 1 > kMaxBacklogBytes) return false;
  output_.append(line).push_back('\n');
  return true;
}

void PromptStream::wrote(std::size_t bytes) {
  sent_ = std::min(output_.size(), sent_ + bytes);
  if (sent_ == output_.size()) {
    output_.clear();
    sent_ = 0;
  }
}

}  // namespace warden::engine
