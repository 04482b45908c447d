#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "base/repeated_log.h"
#include "base/unique_fd.h"
#include "engine/dns/dns.h"
#include "engine/dns/host_cache.h"
#include "engine/dns/pending_dns_queries.h"
#include "engine/netfilter/queue_counters.h"

namespace warden::engine {

// The local ports of every worker's DnsConfirmer: the packets of wardend's own DNS exchanges
// are known by them on whichever queue they land (the kernel spreads flows over the queues).
// Filled before the workers start, read-only after; no lock.
class DnsConfirmerPorts {
 public:
  void add(bool v6, std::uint16_t port) { (v6 ? v6_ : v4_).push_back(port); }
  bool contains(bool v6, std::uint16_t port) const;

 private:
  std::vector<std::uint16_t> v4_;
  std::vector<std::uint16_t> v6_;
};

// Whether a reply came in on loopback (interface `inDevice`): from this host, which the table
// lets a queue read only from one of its own addresses, or on a flow NAT sent to it.
bool repliedOverLoopback(std::uint32_t inDevice);

// Checks what a DNS reply from another host says before wardend learns it (SPEC section 7).
// The program that sent a query chose every field its reply must match (ends, id, question),
// so a peer that can send from the resolver's address (on the same link, or where spoofed
// sources pass) and is told the query by that program could answer first with addresses of
// its choice. wardend asks the same server the same question from a socket of its own, with
// an id and a letter case (DNS 0x20) that only it knows, and learns only the addresses that
// both answers give. The reply waits in the queue meanwhile (at most kWaitNs), so that the
// program reads its answer after wardend has learned from it: its first connection finds the
// name. Replies over loopback need none of this: the table reads only those from this host's
// own addresses (or a flow NAT sent to it), which no unprivileged process can forge.
//
// A resolver that answers with another letter case than it was asked (rare: 0x20 has been
// kept by BIND, Unbound, dnsmasq, systemd-resolved and the public resolvers for a decade)
// confirms nothing: its names are not learned, counted as dns_unconfirmed, and a warning
// names it (at most once a minute).
//
// Owned by one queue worker: not thread-safe. Bounded: kMaxInFlight confirmations, their
// places allocated once; a reply beyond that is let go unlearned.
class DnsConfirmer {
 public:
  static constexpr std::size_t kMaxInFlight = 32;
  static constexpr std::uint64_t kWaitNs = 1'000'000'000;

  // The reply a confirmation holds: its packet id and mark, handed back when it ends.
  struct Held {
    std::uint32_t packetId = 0;
    std::uint32_t mark = 0;
  };

  DnsConfirmer();
  DnsConfirmer(const DnsConfirmer&) = delete;
  DnsConfirmer& operator=(const DnsConfirmer&) = delete;

  // Opens the IPv4 socket and, where the host has IPv6, the IPv6 one, each bound to a port
  // the kernel picks; adds their ports to `ports`. An error only when neither could be had.
  [[nodiscard]] base::Result<void> open(DnsConfirmerPorts& ports);

  // Sends the confirming query for `reply` (a pending query's answer, from `reply.server`,
  // which came in on interface `inDevice`) whose answers are `response`, and holds `held`
  // until it ends. False when it cannot (every place taken, no socket of that family, a
  // question it cannot ask again, the send failed): the caller lets the reply go unlearned.
  bool begin(const DnsExchange& reply, std::uint32_t inDevice, const DnsResponse& response,
             Held held, std::uint64_t nowNs, QueueCounters& counters);

  // Reads what came to the sockets and ends the confirmations answered (recording in `hosts`
  // the addresses both answers give, for the shorter of their TTLs) and those whose wait is
  // over (recording nothing); appends each one's reply to `released`.
  void serve(std::uint64_t nowNs, HostCache& hosts, QueueCounters& counters,
             std::vector<Held>& released);
  // Ends every confirmation now, unconfirmed (the worker stops).
  void releaseAll(QueueCounters& counters, std::vector<Held>& released);

  // Whether a confirmation in flight holds a reply to the program's query `exchange` (the
  // same ends and id).
  bool holdsAnswerTo(const DnsExchange& exchange) const;

  int fd4() const { return socket4_.get(); }
  int fd6() const { return socket6_.get(); }
  std::size_t inFlight() const { return inFlight_; }
  // The soonest deadline of a confirmation in flight (monotonic ns); 0 when none is.
  std::uint64_t nextDeadline() const;

 private:
  // The question as sent (name in its random case, type, class), compared byte for byte.
  static constexpr std::size_t kMaxQuestion = DnsName::kMaxLength + 2 + 4;

  struct Confirmation {
    bool active = false;
    Held held;
    DnsExchange program;  // the exchange of the reply held
    rules::IpAddress server;
    std::uint16_t serverPort = 0;
    std::uint16_t id = 0;
    std::array<std::uint8_t, kMaxQuestion> question{};
    std::uint8_t questionLength = 0;
    std::uint64_t deadline = 0;
    DnsName name;  // lower case: what is learned
    std::array<DnsAddress, DnsResponse::kMaxAddresses> answers{};
    std::uint8_t answerCount = 0;
  };

  void receive(int fd, HostCache& hosts, QueueCounters& counters, std::vector<Held>& released);
  void end(Confirmation& confirmation, std::vector<Held>& released);

  base::UniqueFd socket4_;
  base::UniqueFd socket6_;
  std::vector<Confirmation> confirmations_;
  std::size_t inFlight_ = 0;
  std::vector<std::uint8_t> buffer_;
  base::RepeatedLog caseChanged_{base::LogLevel::kWarning};
};

}  // namespace warden::engine
