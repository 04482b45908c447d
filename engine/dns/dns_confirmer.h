#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "base/error.h"
#include "base/repeated_log.h"
#include "base/unique_fd.h"
#include "engine/dns/dns.h"
#include "engine/dns/host_cache.h"
#include "engine/dns/pending_dns_queries.h"
#include "engine/netfilter/queue_counters.h"

namespace warden::engine {

// The local ports of every worker's DnsConfirmer, and the servers each is asking now: the
// packets of wardend's own DNS exchanges are known by them on whichever queue they land (the
// kernel spreads flows over the queues). Ports are added before the workers start; the
// servers come and go with the confirmations, under a mutex (only wardend's own packets and
// the confirmations take it).
class DnsConfirmerPorts {
 public:
  void add(bool v6, std::uint16_t port) { (v6 ? v6_ : v4_).push_back(port); }
  bool contains(bool v6, std::uint16_t port) const;

  // A confirmation from `port` asks `server` (port 53) from now on; until forget().
  void asking(std::uint16_t port, const rules::IpAddress& server);
  void forget(std::uint16_t port, const rules::IpAddress& server);
  // Whether a confirmation from `port` is asking `server` now.
  bool isAsking(std::uint16_t port, const rules::IpAddress& server) const;

 private:
  struct Asking {
    std::uint16_t port = 0;
    rules::IpAddress server;
  };
  std::vector<std::uint16_t> v4_;
  std::vector<std::uint16_t> v6_;
  mutable std::mutex mutex_;
  std::vector<Asking> asking_;  // one per confirmation in flight, across the workers
};

// Whether a reply came in on loopback (interface `inDevice`): from this host, which the table
// lets a queue read only from one of its own addresses, or on a flow NAT sent to it.
bool repliedOverLoopback(std::uint32_t inDevice);

// Checks what a DNS reply from another host says before wardend learns it (SPEC section 7).
// The program that sent a query chose every field its reply must match (ends, id, question),
// so a peer that can send from the resolver's address (on the same link, or where spoofed
// sources pass) and is told the query by that program could answer first with addresses of
// its choice. wardend asks the same server the same question twice from a socket of its own,
// each time with an id and a letter case (DNS 0x20) that only it knows, and learns a reply's
// address only when both answers give it. A peer must then guess
// two ids and two case patterns at once, in the moment the server takes to answer from its
// cache; one confirmation per question at a time, so that it cannot try against many.
//
// The reply waits in the queue meanwhile (at most kWaitNs), so that the program reads it after
// wardend has learned from it: its first connection finds the name. Only addresses both
// answers give are learned. One neither gives is refused (HostCache::refuse: no reply teaches
// it for its TTL, not even one over loopback, where a local caching resolver would otherwise
// hand on a forged answer it kept) when the server disowned the reply: it has no address for
// the name, or its own reply to the program's query came besides the one held (a forger's came
// first). Answers with other addresses and no such reply may be a server whose caches give
// each asker another subset of a large set: the reply waits about a round trip more for the
// server's own, then goes unlearned and unrefused. The reply itself always goes on (dropping
// it would fail the program's lookup); without two answers (none in time, a second reply for
// a question already being confirmed, every place taken) it teaches nothing.
//
// Replies over loopback need none of this: the table reads only those from this host's own
// addresses (or a flow NAT sent to it), which no unprivileged process can forge.
//
// A resolver that answers with another letter case than it was asked (rare: 0x20 has been
// kept by BIND, Unbound, dnsmasq, systemd-resolved and the public resolvers for a decade)
// confirms nothing: its names are not learned, counted as dns_unconfirmed, and a warning
// names it (at most once a minute).
//
// Owned by one queue worker: not thread-safe. Bounded: kMaxInFlight confirmations, their
// places allocated once; at most kMaxReads datagrams read per serve().
class DnsConfirmer {
 public:
  static constexpr std::size_t kMaxInFlight = 32;
  static constexpr std::uint64_t kWaitNs = 1'000'000'000;
  static constexpr std::size_t kMaxReads = 64;

  // The reply a confirmation holds: its packet id and mark, handed back (accepted) when it
  // ends.
  struct Held {
    std::uint32_t packetId = 0;
    std::uint32_t mark = 0;
  };

  DnsConfirmer();
  DnsConfirmer(const DnsConfirmer&) = delete;
  DnsConfirmer& operator=(const DnsConfirmer&) = delete;

  // Opens the IPv4 socket and, where the host has IPv6, the IPv6 one, each bound to a port
  // the kernel picks; adds their ports to `ports` (which must outlive the confirmer). An error
  // only when neither could be had.
  [[nodiscard]] base::Result<void> open(DnsConfirmerPorts& ports);

  // Sends the confirming queries for `reply` (a pending query's answer, from `reply.server`,
  // which came in on interface `inDevice`) whose answers are `response`, and holds `held`
  // until it ends. False when it cannot (every place taken, the same question being
  // confirmed already, no socket of that family, a question it cannot ask again, the send
  // failed): the caller lets the reply go unlearned.
  bool begin(const DnsExchange& reply, std::uint32_t inDevice, const DnsResponse& response,
             Held held, std::uint64_t nowNs, QueueCounters& counters);

  // Reads what came to the sockets when `readable` (poll said so: a turn of the worker's loop
  // without it costs no syscall) and ends the confirmations answered twice (recording in
  // `hosts` the reply's addresses both answers gave, for the shortest TTL, and refusing those
  // neither gave), those the server answered in
  // another letter case and those whose wait is over (recording nothing); appends each one's
  // reply to `released`.
  void serve(std::uint64_t nowNs, bool readable, HostCache& hosts, QueueCounters& counters,
             std::vector<Held>& released);
  // Ends every confirmation now, unconfirmed (the worker stops).
  void releaseAll(QueueCounters& counters, std::vector<Held>& released);

  // Another reply came to the program's query `exchange` (the same ends and id): true when a
  // confirmation in flight holds one, which then takes it as a sign of forgery (the server's
  // own reply coming after a forger's; see settle()).
  bool anotherReply(const DnsExchange& exchange);

  int fd4() const { return socket4_.get(); }
  int fd6() const { return socket6_.get(); }
  std::size_t inFlight() const { return inFlight_; }
  // The soonest deadline of a confirmation in flight (monotonic ns); 0 when none is.
  std::uint64_t nextDeadline() const;

 private:
  // One of a confirmation's two queries.
  struct Ask {
    std::uint16_t id = 0;
    // The question as sent (name in its random case, type, class), compared byte for byte.
    std::array<std::uint8_t, kMaxDnsQuestion> question{};
    std::uint16_t questionLength = 0;
    bool answered = false;
    bool gaveNone = false;  // its answer gave no address at all (NXDOMAIN, no data)
    // The reply's answers this ask's answer gave (bit i: answers[i]), and their TTLs.
    std::uint32_t given = 0;
    std::array<std::uint32_t, DnsResponse::kMaxAddresses> ttl{};
  };

  struct Confirmation {
    bool active = false;
    Held held;
    DnsExchange program;  // the exchange of the reply held
    std::uint16_t localPort = 0;
    std::array<Ask, 2> asks;
    std::uint64_t sentAt = 0;
    std::uint64_t deadline = 0;
    std::array<DnsAddress, DnsResponse::kMaxAddresses> answers{};
    std::uint8_t answerCount = 0;
    bool otherReply = false;  // another reply came to the program's query meanwhile
    bool settling = false;    // both answered; waits until `deadline` for another reply
  };

  void receive(int fd, std::uint64_t nowNs, HostCache& hosts, QueueCounters& counters,
               std::vector<Held>& released);
  // `answer` (from the server) to `ask` of `c`; settles `c` once both are answered.
  void answered(Confirmation& c, Ask& ask, std::span<const std::uint8_t> answer,
                const DnsHeader& header, std::uint64_t nowNs, HostCache& hosts,
                QueueCounters& counters, std::vector<Held>& released);
  // Both answered: learns what both gave and, where the server has said the reply is not
  // its own, refuses what neither gave; then ends `c`.
  void settle(Confirmation& c, HostCache& hosts, QueueCounters& counters,
              std::vector<Held>& released);
  void end(Confirmation& confirmation, std::vector<Held>& released);

  DnsConfirmerPorts* ports_ = nullptr;
  std::uint16_t port4_ = 0;
  std::uint16_t port6_ = 0;
  base::UniqueFd socket4_;
  base::UniqueFd socket6_;
  std::vector<Confirmation> confirmations_;
  std::size_t inFlight_ = 0;
  std::vector<std::uint8_t> buffer_;
  base::RepeatedLog caseChanged_{base::LogLevel::kWarning};
};

}  // namespace warden::engine
