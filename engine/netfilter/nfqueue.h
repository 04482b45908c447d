#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/error.h"

struct mnl_socket;

namespace warden::engine {

// One packet handed to userspace. `payload` points into the queue's receive buffer and is
// valid until the next receive() on the same queue.
struct QueuedPacket {
  std::uint32_t id = 0;
  std::uint8_t hook = 0;  // NF_INET_LOCAL_OUT or NF_INET_LOCAL_IN
  std::span<const std::uint8_t> payload;
  std::size_t wireLength = 0;  // the packet's real length (the payload may be a prefix)
  std::uint32_t mark = 0;
  bool hasUid = false;  // the kernel names a uid only for packets of a process-owned socket
  std::uint32_t uid = 0;
  std::uint32_t inDevice = 0;  // the interface an inbound packet came in on (0: not told)
};

// Raises the calling thread's scheduling priority (nice -5) for a thread that serves a queue:
// every new connection of every program waits in the queue for it, so it should get a core
// before those programs do. Best effort: needs CAP_SYS_NICE or an RLIMIT_NICE of 25 (the
// systemd unit sets LimitNICE=-5); logs once when it cannot.
void preferQueueThread();

// Userspace verdicts; the numbers are the kernel's.
enum class Verdict : std::uint32_t { kDrop = 0, kAccept = 1, kRepeat = 4 };

// One NFQUEUE, bound through libnetfilter_queue's libmnl API. Owned by one worker thread:
// not thread-safe. Closing it unbinds the queue.
class NfQueue {
 public:
  struct Options {
    std::uint16_t number = 0;
    std::uint32_t maxLength = 4096;  // packets the kernel holds for us before failing
    bool failOpen = true;            // NFQA_CFG_F_FAIL_OPEN: accept when the queue is full
  };

  // Binds the queue; fails with EBUSY when another process (another wardend) holds it.
  [[nodiscard]] static base::Result<NfQueue> open(const Options& options);

  NfQueue(NfQueue&&) noexcept;
  NfQueue& operator=(NfQueue&&) noexcept;
  ~NfQueue();

  int fd() const;
  std::uint16_t number() const { return number_; }

  // Reads what is waiting (one datagram) and appends its packets to `out`. Without `wait`
  // returns 0 when nothing is waiting. ENOBUFS (the kernel could not deliver to us) is an
  // error with that code: the caller counts it and goes on.
  [[nodiscard]] base::Result<std::size_t> receive(std::vector<QueuedPacket>& out, bool wait);

  // Gives packet `id` its verdict; `mark` (when set) replaces the packet mark.
  [[nodiscard]] base::Result<void> verdict(std::uint32_t id, Verdict verdict,
                                           const std::uint32_t* mark = nullptr);

 private:
  struct SocketCloser {
    void operator()(mnl_socket* s) const;
  };
  NfQueue(std::unique_ptr<mnl_socket, SocketCloser> socket, std::uint16_t number);
  base::Result<void> configure(const Options& options);

  std::unique_ptr<mnl_socket, SocketCloser> socket_;
  std::uint16_t number_ = 0;
  std::uint32_t portId_ = 0;
  std::vector<char> receiveBuffer_;
  std::vector<char> sendBuffer_;
};

}  // namespace warden::engine
