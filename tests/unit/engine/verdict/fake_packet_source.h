#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "engine/verdict/packet_source.h"
#include "tests/unit/engine/verdict/synthetic_packets.h"

namespace warden::engine::testing {

// A queue without a kernel: the test puts packets in, the worker reads them through the
// PacketSource interface, and every verdict (attempt) it sends is recorded. A verdict send can
// be made to fail, as a netlink socket short of memory does.
//
// Thread-safety: the test thread and the worker's may use it at once.
class FakePacketSource final : public PacketSource {
 public:
  struct SentVerdict {
    Verdict verdict = Verdict::kDrop;
    std::optional<std::uint32_t> mark;
  };

  explicit FakePacketSource(std::uint16_t number = 3)
      : number_(number), fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~FakePacketSource() override {
    if (fd_ >= 0) close(fd_);
  }
  FakePacketSource(const FakePacketSource&) = delete;
  FakePacketSource& operator=(const FakePacketSource&) = delete;

  // Queues a packet seen at `hook` and returns its id. The worker is woken (the fd turns
  // readable) unless `quietly`: such a packet is read only when the worker reads the queue for
  // another reason, as one that met the table an instant before it stopped queuing.
  std::uint32_t push(Bytes payload, std::uint8_t hook, std::uint32_t mark = 0,
                     bool quietly = false) {
    std::lock_guard lock(mutex_);
    Waiting waiting;
    waiting.packet.id = nextId_++;
    waiting.packet.hook = hook;
    waiting.packet.wireLength = payload.size();
    waiting.packet.mark = mark;
    waiting.packet.hasUid = true;
    waiting.payload = std::move(payload);
    waiting_.push_back(std::move(waiting));
    if (!quietly) {
      const std::uint64_t one = 1;
      (void)!write(fd_, &one, sizeof one);
    }
    return waiting_.back().packet.id;
  }

  // The next sends fail, one errno per attempt, in order.
  void failNextVerdicts(std::vector<int> errors) {
    std::lock_guard lock(mutex_);
    failures_.insert(failures_.end(), errors.begin(), errors.end());
  }

  // The next reads fail with `error`: once, or from now on (`forever`), as a socket that is
  // gone would. The worker is woken to meet it.
  void failReceive(int error, bool forever) {
    std::lock_guard lock(mutex_);
    receiveError_ = error;
    receiveFailsForever_ = forever;
    const std::uint64_t one = 1;
    (void)!write(fd_, &one, sizeof one);
  }
  int receiveFailures() const {
    std::lock_guard lock(mutex_);
    return receiveFailures_;
  }

  // The verdict packet `id` got, if one was sent.
  std::optional<SentVerdict> verdictFor(std::uint32_t id) const {
    std::lock_guard lock(mutex_);
    auto it = verdicts_.find(id);
    if (it == verdicts_.end()) return std::nullopt;
    return it->second;
  }
  std::size_t verdictCount() const {
    std::lock_guard lock(mutex_);
    return verdicts_.size();
  }
  // Sends tried for packet `id`, failed ones included.
  int attemptsFor(std::uint32_t id) const {
    std::lock_guard lock(mutex_);
    auto it = attempts_.find(id);
    return it == attempts_.end() ? 0 : it->second;
  }
  // Verdicts sent for a packet that had one already, or that was never read.
  int strayVerdicts() const {
    std::lock_guard lock(mutex_);
    return stray_;
  }
  std::size_t unread() const {
    std::lock_guard lock(mutex_);
    return waiting_.size();
  }

  std::uint16_t number() const override { return number_; }
  int fd() const override { return fd_; }

  base::Result<std::size_t> receive(std::vector<QueuedPacket>& out) override {
    std::lock_guard lock(mutex_);
    if (receiveError_ != 0) {
      const int error = receiveError_;
      ++receiveFailures_;
      if (!receiveFailsForever_) receiveError_ = 0;
      return std::unexpected(base::makeError(error, "reading the fake queue"));
    }
    // The payloads of the batch before are valid until now, as NfQueue's receive buffer is.
    batch_.clear();
    for (; !waiting_.empty(); waiting_.pop_front()) {
      Waiting& waiting = waiting_.front();
      batch_.push_back(std::move(waiting.payload));
      waiting.packet.payload = batch_.back();
      out.push_back(waiting.packet);
      read_.insert(waiting.packet.id);
    }
    std::uint64_t value = 0;
    (void)!read(fd_, &value, sizeof value);  // not readable again until the next push
    return batch_.size();
  }

  base::Result<void> verdict(std::uint32_t id, Verdict verdict,
                             const std::uint32_t* mark) override {
    std::lock_guard lock(mutex_);
    ++attempts_[id];
    if (!failures_.empty()) {
      const int error = failures_.front();
      failures_.pop_front();
      return std::unexpected(base::makeError(error, "sending a verdict on the fake queue"));
    }
    if (verdicts_.contains(id) || !read_.contains(id)) ++stray_;
    verdicts_[id] = SentVerdict{verdict, mark ? std::optional(*mark) : std::nullopt};
    return {};
  }

 private:
  struct Waiting {
    QueuedPacket packet;
    Bytes payload;
  };

  const std::uint16_t number_;
  const int fd_;  // eventfd: readable while packets wait
  mutable std::mutex mutex_;
  std::uint32_t nextId_ = 1;
  std::deque<Waiting> waiting_;
  std::vector<Bytes> batch_;  // what the last receive() handed out
  std::set<std::uint32_t> read_;
  std::deque<int> failures_;
  int receiveError_ = 0;
  bool receiveFailsForever_ = false;
  int receiveFailures_ = 0;
  std::map<std::uint32_t, SentVerdict> verdicts_;
  std::map<std::uint32_t, int> attempts_;
  int stray_ = 0;
};

}  // namespace warden::engine::testing
