#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/error.h"
#include "engine/netfilter/nfqueue.h"

namespace warden::engine {

// What a queue worker needs of its queue: packets to read, and a way to hand each one its
// verdict. An NFQUEUE in the daemon (NfQueueSource); a fake in tests, so that parking,
// deadlines and verdict retries are tried without a kernel.
//
// Thread-safety: none; a source is served by one worker thread.
class PacketSource {
 public:
  virtual ~PacketSource() = default;

  // The queue's number, for names and messages.
  virtual std::uint16_t number() const = 0;
  // Polled for POLLIN: readable while packets wait.
  virtual int fd() const = 0;
  // Appends what is waiting (one batch) to `out` without waiting: 0 when nothing is.
  // Payloads stay valid until the next receive(). ENOBUFS (the kernel could not deliver to
  // us) is an error with that code: the caller counts it and goes on.
  [[nodiscard]] virtual base::Result<std::size_t> receive(std::vector<QueuedPacket>& out) = 0;
  // Gives packet `id` its verdict; `mark` (when not null) replaces the packet mark.
  [[nodiscard]] virtual base::Result<void> verdict(std::uint32_t id, Verdict verdict,
                                                   const std::uint32_t* mark) = 0;
};

// The daemon's source: one NFQUEUE, owned.
class NfQueueSource final : public PacketSource {
 public:
  explicit NfQueueSource(NfQueue queue) : queue_(std::move(queue)) {}

  std::uint16_t number() const override { return queue_.number(); }
  int fd() const override { return queue_.fd(); }
  base::Result<std::size_t> receive(std::vector<QueuedPacket>& out) override {
    return queue_.receive(out, /*wait=*/false);
  }
  base::Result<void> verdict(std::uint32_t id, Verdict verdict,
                             const std::uint32_t* mark) override {
    return queue_.verdict(id, verdict, mark);
  }

 private:
  NfQueue queue_;
};

}  // namespace warden::engine
