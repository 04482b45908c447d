#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/error.h"
#include "rules/address.h"

struct mnl_socket;
struct nlmsghdr;

namespace warden::engine {

// The original-direction tuple of a conntrack entry: the addresses and ports of the flow's
// first packet, whichever side sent it.
struct ConntrackTuple {
  std::uint8_t family = 0;   // AF_INET or AF_INET6
  std::uint8_t ipProto = 0;  // IPPROTO_TCP, IPPROTO_UDP, ...
  rules::IpAddress source;
  rules::IpAddress destination;
  std::uint16_t sourcePort = 0;  // host order; 0 for protocols without ports
  std::uint16_t destinationPort = 0;
};

// One conntrack entry, as much of it as re-marking needs.
struct ConntrackEntry {
  ConntrackTuple original;
  std::uint32_t mark = 0;
  std::optional<std::uint16_t> zone;  // CTA_ZONE, when the kernel named one
  // TCP only: the connection's state as conntrack tracks it (TCP_CONNTRACK_*).
  std::optional<std::uint8_t> tcpState;

  // A TCP connection both ends have closed (TIME_WAIT, CLOSE): nothing left to decide.
  bool closed() const;
  // The payload of CTA_TUPLE_ORIG (its nested attributes) exactly as the kernel sent it: an
  // update names the entry with it, whatever the protocol's tuple holds (ICMP ids, ...).
  std::vector<std::uint8_t> tupleAttribute;
};

// The ctnetlink messages, built and read without a socket (so the tests need no kernel).
// A message is a whole netlink message, header included.

// A dump of every entry whose `mark & mask == value`, filtered by the kernel.
std::vector<std::uint8_t> conntrackDumpRequest(std::uint32_t value, std::uint32_t mask,
                                               std::uint32_t seq);
// Sets the mark bits under `mask` to `value` on an existing entry, keeping the others (the
// kernel computes (old & ~mask) ^ value). No NLM_F_CREATE: an entry gone meanwhile stays gone.
std::vector<std::uint8_t> conntrackMarkUpdate(const ConntrackEntry& entry, std::uint32_t value,
                                              std::uint32_t mask, std::uint32_t seq);
// One entry of a dump answer; nullopt when the message is not an entry or lacks its tuple.
std::optional<ConntrackEntry> parseConntrackEntry(std::span<const std::uint8_t> message);

// A ctnetlink socket in the caller's network namespace. Control thread only (not thread-safe).
class Conntrack {
 public:
  [[nodiscard]] static base::Result<Conntrack> open();

  // Every entry whose `mark & mask == value`.
  [[nodiscard]] base::Result<std::vector<ConntrackEntry>> dumpMarked(std::uint32_t value,
                                                                     std::uint32_t mask);
  // See conntrackMarkUpdate. An entry that has gone meanwhile fails with ENOENT.
  [[nodiscard]] base::Result<void> setMark(const ConntrackEntry& entry, std::uint32_t value,
                                           std::uint32_t mask);

 private:
  struct Closer {
    void operator()(mnl_socket* socket) const;
  };
  explicit Conntrack(std::unique_ptr<mnl_socket, Closer> socket) : socket_(std::move(socket)) {}
  using OnMessage = int (*)(const nlmsghdr* message, void* data);  // libmnl's mnl_cb_t
  base::Result<void> exchange(const std::vector<std::uint8_t>& message, OnMessage onMessage,
                              void* data, std::size_t bufferBytes, const char* what);

  std::unique_ptr<mnl_socket, Closer> socket_;
  std::uint32_t seq_ = 0;
};

}  // namespace warden::engine
