#include "engine/dns/dns_confirmer.h"

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "base/logging.h"

namespace warden::engine {
namespace {

// Its queries offer kEdnsPayload bytes: a longer datagram is no answer to them.
constexpr std::size_t kMaxReply = 4096;
constexpr unsigned kRcodeOk = 0;
constexpr unsigned kRcodeNxDomain = 3;
constexpr std::uint16_t kEdnsPayload = 1232;  // the DNS flag day's size: no fragments
// How long a confirmation whose answers lack an address of the reply waits on for the server's
// own reply to the program's query: its answers' round trip, within these bounds.
constexpr std::uint64_t kMinSettleNs = 20'000'000;
constexpr std::uint64_t kMaxSettleNs = 250'000'000;
// Loopback's interface index, the same in every network namespace (LOOPBACK_IFINDEX).
constexpr std::uint32_t kLoopbackIndex = 1;

bool isV6(const rules::IpAddress& address) { return !address.isV4(); }

base::Result<base::UniqueFd> openBound(int family) {
  auto fd = base::makeSocket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0,
                             family == AF_INET6 ? "the IPv6 socket that confirms DNS answers"
                                                : "the IPv4 socket that confirms DNS answers");
  if (!fd) return fd;
  sockaddr_storage any{};
  socklen_t length = 0;
  if (family == AF_INET6) {
    const int on = 1;
    if (setsockopt(fd->get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) {
      return std::unexpected(base::errnoError("IPV6_V6ONLY on the DNS confirming socket"));
    }
    reinterpret_cast<sockaddr_in6&>(any).sin6_family = AF_INET6;
    length = sizeof(sockaddr_in6);
  } else {
    reinterpret_cast<sockaddr_in&>(any).sin_family = AF_INET;
    length = sizeof(sockaddr_in);
  }
  // Port 0: the kernel picks one now, so that its packets are known from the first.
  if (bind(fd->get(), reinterpret_cast<sockaddr*>(&any), length) != 0) {
    return std::unexpected(base::errnoError("binding the DNS confirming socket"));
  }
  return fd;
}

std::uint16_t localPort(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return 0;
  return ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(local).sin6_port
                                           : reinterpret_cast<sockaddr_in&>(local).sin_port);
}

// `address`:`port` as a socket address; `scope` for a link-local IPv6 address.
socklen_t socketAddress(const rules::IpAddress& address, std::uint16_t port, std::uint32_t scope,
                        sockaddr_storage& out) {
  out = {};
  if (address.isV4()) {
    auto& in = reinterpret_cast<sockaddr_in&>(out);
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, address.bytes.data() + 12, 4);
    return sizeof in;
  }
  auto& in6 = reinterpret_cast<sockaddr_in6&>(out);
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  std::memcpy(&in6.sin6_addr, address.bytes.data(), 16);
  if (address.bytes[0] == 0xfe && (address.bytes[1] & 0xc0) == 0x80) in6.sin6_scope_id = scope;
  return sizeof in6;
}

// The sender of a datagram, as an address and port.
bool peerOf(const sockaddr_storage& from, rules::IpAddress& address, std::uint16_t& port) {
  if (from.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(from);
    address = rules::IpAddress::fromV4(in.sin_addr.s_addr);
    port = ntohs(in.sin_port);
    return true;
  }
  if (from.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(from);
    std::uint8_t raw[16];
    std::memcpy(raw, &in6.sin6_addr, 16);
    address = rules::IpAddress::fromV6(raw);
    port = ntohs(in6.sin6_port);
    return true;
  }
  return false;
}

}  // namespace

bool DnsConfirmerPorts::contains(bool v6, std::uint16_t port) const {
  const auto& ports = v6 ? v6_ : v4_;
  return port != 0 && std::find(ports.begin(), ports.end(), port) != ports.end();
}

void DnsConfirmerPorts::asking(std::uint16_t port, const rules::IpAddress& server) {
  std::lock_guard lock(mutex_);
  asking_.push_back({port, server});
}

void DnsConfirmerPorts::forget(std::uint16_t port, const rules::IpAddress& server) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(asking_.begin(), asking_.end(),
                         [&](const Asking& a) { return a.port == port && a.server == server; });
  if (it == asking_.end()) return;
  *it = asking_.back();
  asking_.pop_back();
}

bool DnsConfirmerPorts::isAsking(std::uint16_t port, const rules::IpAddress& server) const {
  std::lock_guard lock(mutex_);
  return std::any_of(asking_.begin(), asking_.end(),
                     [&](const Asking& a) { return a.port == port && a.server == server; });
}

DnsConfirmer::DnsConfirmer() : confirmations_(kMaxInFlight), buffer_(kMaxReply) {}

base::Result<void> DnsConfirmer::open(DnsConfirmerPorts& ports) {
  auto v4 = openBound(AF_INET);
  auto v6 = openBound(AF_INET6);
  if (!v4 && !v6) return std::unexpected(v4.error());
  ports_ = &ports;
  if (v4) {
    socket4_ = std::move(*v4);
    port4_ = localPort(socket4_.get());
    ports.add(false, port4_);
  }
  if (v6) {
    socket6_ = std::move(*v6);
    port6_ = localPort(socket6_.get());
    ports.add(true, port6_);
  }
  return {};
}

bool DnsConfirmer::begin(const DnsExchange& reply, std::uint32_t inDevice,
                         const DnsResponse& response, Held held, std::uint64_t nowNs,
                         QueueCounters& counters) {
  const bool v6 = isV6(reply.server);
  const int fd = v6 ? socket6_.get() : socket4_.get();
  if (fd < 0 || inFlight_ == confirmations_.size()) return false;
  // One confirmation of a question at a time: a peer forging answers could otherwise set
  // many going and try each guess against them all.
  const bool asked = std::any_of(confirmations_.begin(), confirmations_.end(), [&](const auto& c) {
    return c.active && c.program.server == reply.server &&
           c.program.question.type == reply.question.type &&
           c.program.question.name.view() == reply.question.name.view();
  });
  if (asked) return false;
  Confirmation& c = *std::find_if(confirmations_.begin(), confirmations_.end(),
                                  [](const Confirmation& one) { return !one.active; });
  std::array<std::array<std::uint8_t, kMaxDnsQuery>, 2> queries{};
  std::array<std::size_t, 2> lengths{};
  for (std::size_t a = 0; a < c.asks.size(); ++a) {
    Ask& ask = c.asks[a];
    // The id and one bit per letter: 2 + 32 bytes covers a 253-character name.
    std::array<std::uint8_t, 2 + 32> random{};
    if (getrandom(random.data(), random.size(), GRND_NONBLOCK) !=
        static_cast<ssize_t>(random.size())) {
      return false;
    }
    const std::size_t length =
        writeDnsQuestion(reply.question.name.view(), reply.question.type, reply.question.qclass,
                         std::span(random).subspan(2), ask.question);
    if (length == 0) return false;
    ask.questionLength = static_cast<std::uint16_t>(length);
    ask.id = static_cast<std::uint16_t>((random[0] << 8) | random[1]);
    if (a == 1 && ask.id == c.asks[0].id) ask.id ^= 1;  // two answers, not one taken twice
    ask.answered = false;
    ask.gaveNone = false;
    ask.given = 0;
    lengths[a] =
        writeDnsQuery(ask.id, std::span(ask.question).first(length), kEdnsPayload, queries[a]);
  }
  sockaddr_storage server{};
  const socklen_t serverLength = socketAddress(reply.server, reply.serverPort, inDevice, server);
  const std::uint16_t localPort = v6 ? port6_ : port4_;
  // Known before the first packet leaves: it is the first of a flow, which a worker decides.
  ports_->asking(localPort, reply.server);
  for (std::size_t a = 0; a < queries.size(); ++a) {
    if (sendto(fd, queries[a].data(), lengths[a], MSG_DONTWAIT,
               reinterpret_cast<sockaddr*>(&server),
               serverLength) != static_cast<ssize_t>(lengths[a])) {
      ports_->forget(localPort, reply.server);
      return false;
    }
  }
  QueueCounters::bump(counters.dnsConfirmations);
  c.active = true;
  c.held = held;
  c.program = reply;
  c.localPort = localPort;
  c.sentAt = nowNs;
  c.deadline = nowNs + kWaitNs;
  c.answerCount = 0;
  c.otherReply = false;
  c.settling = false;
  for (const DnsAddress& answer : response.answers()) c.answers[c.answerCount++] = answer;
  ++inFlight_;
  return true;
}

void DnsConfirmer::serve(std::uint64_t nowNs, bool readable, HostCache& hosts,
                         QueueCounters& counters, std::vector<Held>& released) {
  if (readable && socket4_) receive(socket4_.get(), nowNs, hosts, counters, released);
  if (readable && socket6_) receive(socket6_.get(), nowNs, hosts, counters, released);
  for (Confirmation& c : confirmations_) {
    if (!c.active || nowNs < c.deadline) continue;
    if (c.settling) {
      settle(c, hosts, counters, released);
    } else {
      QueueCounters::bump(counters.dnsUnconfirmed, c.answerCount);
      end(c, released);
    }
  }
}

void DnsConfirmer::releaseAll(QueueCounters& counters, std::vector<Held>& released) {
  for (Confirmation& c : confirmations_) {
    if (!c.active) continue;
    QueueCounters::bump(counters.dnsUnconfirmed, c.answerCount);
    end(c, released);
  }
}

bool DnsConfirmer::anotherReply(const DnsExchange& exchange) {
  if (inFlight_ == 0) return false;
  for (Confirmation& c : confirmations_) {
    if (c.active && c.program.question.id == exchange.question.id &&
        c.program.clientPort == exchange.clientPort &&
        c.program.serverPort == exchange.serverPort && c.program.client == exchange.client &&
        c.program.server == exchange.server) {
      c.otherReply = true;
      return true;
    }
  }
  return false;
}

std::uint64_t DnsConfirmer::nextDeadline() const {
  std::uint64_t next = 0;
  for (const Confirmation& c : confirmations_) {
    if (c.active && (next == 0 || c.deadline < next)) next = c.deadline;
  }
  return next;
}

// The datagrams waiting on `fd` (kMaxReads at most: the rest wait for the next turn, so that
// a flood of them cannot keep the worker from its queue): one that answers an ask in flight
// (from its server and port, with its id, and its question in the very case it was asked)
// is its answer.
void DnsConfirmer::receive(int fd, std::uint64_t nowNs, HostCache& hosts, QueueCounters& counters,
                           std::vector<Held>& released) {
  for (std::size_t reads = 0; reads < kMaxReads; ++reads) {
    sockaddr_storage from{};
    socklen_t fromLength = sizeof from;
    // MSG_TRUNC: the datagram's whole length, to tell one cut short.
    const ssize_t got = recvfrom(fd, buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&from), &fromLength);
    if (got < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: nothing more; an ICMP error (ECONNREFUSED...): the wait ends it
    }
    if (static_cast<std::size_t>(got) > buffer_.size()) continue;  // longer than it offered
    rules::IpAddress sender;
    std::uint16_t senderPort = 0;
    const auto size = static_cast<std::size_t>(got);
    DnsHeader header;
    const std::span<const std::uint8_t> message(buffer_.data(), size);
    if (!peerOf(from, sender, senderPort) || !readDnsHeader(message, header) || !header.response) {
      continue;
    }
    const std::uint16_t id = header.id;
    for (Confirmation& c : confirmations_) {
      if (!c.active || c.program.server != sender || c.program.serverPort != senderPort) {
        continue;
      }
      for (Ask& ask : c.asks) {
        if (ask.answered || ask.id != id || size < kDnsHeaderSize + ask.questionLength) continue;
        const std::uint8_t* question = &buffer_[kDnsHeaderSize];
        if (std::memcmp(question, ask.question.data(), ask.questionLength) == 0) {
          answered(c, ask, message, header, nowNs, hosts, counters, released);
        } else if (std::equal(question, question + ask.questionLength, ask.question.data(),
                              [](std::uint8_t a, std::uint8_t b) {
                                return std::tolower(a) == std::tolower(b);
                              })) {
          // The server's own answer, in its own case: nothing can be confirmed, so nothing
          // is waited for.
          caseChanged_.note("the DNS server ", sender.toString(),
                            " answers in another letter case than it was asked (DNS 0x20): "
                            "wardend cannot confirm its answers, which teach no names");
          QueueCounters::bump(counters.dnsUnconfirmed, c.answerCount);
          end(c, released);
        }
        break;
      }
    }
  }
}

void DnsConfirmer::answered(Confirmation& c, Ask& ask, std::span<const std::uint8_t> answer,
                            const DnsHeader& header, std::uint64_t nowNs, HostCache& hosts,
                            QueueCounters& counters, std::vector<Held>& released) {
  ask.answered = true;
  // Only a whole answer, or NXDOMAIN, says what the name is: a truncated one (TC), a server
  // failure or a refusal says nothing either way, and nothing is waited for.
  if (header.truncated || (header.rcode != kRcodeOk && header.rcode != kRcodeNxDomain)) {
    QueueCounters::bump(counters.dnsUnconfirmed, c.answerCount);
    return end(c, released);
  }
  DnsResponse confirmed;
  const bool answers = parseDnsResponse(answer, confirmed) == DnsStatus::kAnswers;
  // No address at all for the name: NXDOMAIN, or a whole answer without one. An answer that
  // does not parse says nothing either way.
  ask.gaveNone = header.rcode == kRcodeNxDomain || (answers && confirmed.addressCount == 0);
  if (answers) {
    for (std::size_t i = 0; i < c.answerCount; ++i) {
      for (const DnsAddress& again : confirmed.answers()) {
        if (again.address != c.answers[i].address) continue;
        ask.given |= 1u << i;
        ask.ttl[i] = again.ttl;
        break;
      }
    }
  }
  if (!c.asks[0].answered || !c.asks[1].answered) return;
  const std::uint32_t all = c.answerCount == 32 ? ~0u : (1u << c.answerCount) - 1;
  const bool empty = c.asks[0].gaveNone && c.asks[1].gaveNone;
  if ((c.asks[0].given & c.asks[1].given) == all || empty || c.otherReply) {
    return settle(c, hosts, counters, released);
  }
  // Some address of the reply the server did not give again, though it has addresses for the
  // name: a forgery, or a server whose caches give each asker another subset. The server's
  // own reply to the program's query comes about when its answers to wardend's do (it was
  // asked first): wait as long again for it, the sign that the reply held was forged.
  c.settling = true;
  const std::uint64_t roundTrip = nowNs > c.sentAt ? nowNs - c.sentAt : 0;
  c.deadline = std::min(c.deadline, nowNs + std::clamp(roundTrip, kMinSettleNs, kMaxSettleNs));
}

void DnsConfirmer::settle(Confirmation& c, HostCache& hosts, QueueCounters& counters,
                          std::vector<Held>& released) {
  // What both answers gave is learned, for the shortest TTL. What neither gave is refused
  // (no reply teaches it, not even a local cache's over loopback that may have kept a forged
  // answer) when the server said so plainly: no address at all for the name (NXDOMAIN, no
  // data), or its own reply to the program's query came besides the one held. Else the
  // server may just give each asker another subset of a large set (anycast caches,
  // round-robin pools): not learned, not refused, so that a local cache's answer still
  // teaches. The reply itself always goes on: dropping it would fail the program's lookup.
  const std::uint32_t both = c.asks[0].given & c.asks[1].given;
  const std::uint32_t either = c.asks[0].given | c.asks[1].given;
  const bool refuse = (c.asks[0].gaveNone && c.asks[1].gaveNone) || c.otherReply;
  std::size_t learned = 0;
  for (std::size_t i = 0; i < c.answerCount; ++i) {
    const std::uint32_t bit = 1u << i;
    if ((both & bit) != 0) {
      const std::uint32_t ttl = std::min({c.answers[i].ttl, c.asks[0].ttl[i], c.asks[1].ttl[i]});
      hosts.record(c.answers[i].address, c.program.question.name.view(), ttl);
      ++learned;
    } else if (refuse && (either & bit) == 0) {
      hosts.refuse(c.answers[i].address, c.program.question.name.view(), c.answers[i].ttl);
    }
  }
  QueueCounters::bump(counters.dnsAnswers, learned);
  QueueCounters::bump(counters.dnsUnconfirmed, c.answerCount - learned);
  end(c, released);
}

void DnsConfirmer::end(Confirmation& confirmation, std::vector<Held>& released) {
  released.push_back(confirmation.held);
  ports_->forget(confirmation.localPort, confirmation.program.server);
  confirmation.active = false;
  --inFlight_;
}

bool repliedOverLoopback(std::uint32_t inDevice) { return inDevice == kLoopbackIndex; }

}  // namespace warden::engine
