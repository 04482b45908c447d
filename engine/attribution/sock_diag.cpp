#include "engine/attribution/sock_diag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace warden::engine {
namespace {

constexpr std::size_t kMaxMergedEntries = 16384;

bool isMapped(const std::array<std::uint8_t, 16>& a) {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a.data(), kPrefix, sizeof kPrefix) == 0;
}

// An address as inet_diag gives it (`family`'s), IPv4 mapped.
std::array<std::uint8_t, 16> takeAddress(const __be32 (&in)[4], std::uint8_t family) {
  std::array<std::uint8_t, 16> address{};
  if (family == AF_INET) {
    address[10] = address[11] = 0xff;
    std::memcpy(address.data() + 12, &in[0], 4);
  } else {
    std::memcpy(address.data(), in, 16);
  }
  return address;
}

void putAddress(__be32 (&out)[4], const std::array<std::uint8_t, 16>& address, bool v4) {
  std::memset(out, 0, sizeof out);
  if (v4) {
    std::memcpy(&out[0], address.data() + 12, 4);
  } else {
    std::memcpy(out, address.data(), 16);
  }
}

}  // namespace

base::Result<std::unique_ptr<SockDiag>> SockDiag::open() {
  auto fd = base::makeSocket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG,
                             "opening a NETLINK_SOCK_DIAG socket");
  if (!fd) return std::unexpected(fd.error());
  timeval timeout{0, 200'000};  // a kernel that does not answer must not hang a worker
  setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return std::unique_ptr<SockDiag>(new SockDiag(std::move(*fd)));
}

base::Result<std::optional<DiagSocket>> SockDiag::find(std::uint8_t protocol,
                                                       const SocketEnd& local,
                                                       const SocketEnd& remote,
                                                       std::uint32_t device) {
  const bool v4 = isMapped(remote.address);
  const std::uint8_t family = v4 ? AF_INET : AF_INET6;
  // The kernel's exact lookups are written from the receiving side: TCP
  // (inet_diag_find_one_icsk) takes src = the socket's own end, UDP (udp_dump_one) passes
  // src as the packet source, that is the remote end.
  if (protocol == IPPROTO_UDP) return query(family, protocol, remote, local, device);
  return query(family, protocol, local, remote, device);
}

struct SockDiag::Request {
  nlmsghdr header;
  inet_diag_req_v2 request;
  // For a dump: INET_DIAG_REQ_BYTECODE keeping only the sockets whose own port is `port`.
  // inet_diag_bc_run() walks the ops, jumping `yes` or `no` bytes, and keeps a socket when
  // it lands exactly on the end: S_EQ (its port in the second op's `no`) jumps 8 to the end
  // when it holds, else 12, past it.
  nlattr filterHeader;
  inet_diag_bc_op filter[2];

  void keepOnlyPort(std::uint16_t port) {
    filterHeader.nla_type = INET_DIAG_REQ_BYTECODE;
    filterHeader.nla_len = sizeof filterHeader + sizeof filter;
    filter[0] = {INET_DIAG_BC_S_EQ, sizeof filter, sizeof filter + 4};
    filter[1] = {0, 0, port};
  }
};

base::Result<std::optional<DiagSocket>> SockDiag::query(std::uint8_t family, std::uint8_t protocol,
                                                        const SocketEnd& source,
                                                        const SocketEnd& destination,
                                                        std::uint32_t device) {
  Request message{};
  message.request.sdiag_family = family;
  message.request.sdiag_protocol = protocol;
  message.request.idiag_states = ~0u;
  message.request.id.idiag_sport = htons(source.port);
  message.request.id.idiag_dport = htons(destination.port);
  putAddress(message.request.id.idiag_src, source.address, family == AF_INET);
  putAddress(message.request.id.idiag_dst, destination.address, family == AF_INET);
  message.request.id.idiag_if = device;
  message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  std::optional<DiagSocket> found;
  auto asked = exchange(message, NLM_F_REQUEST, "sock_diag lookup", [&](const DiagSocket& socket) {
    found = socket;
    return true;  // the one answer
  });
  if (!asked && asked.error().code == ENOENT) return std::optional<DiagSocket>{};
  if (!asked) return std::unexpected(asked.error());
  return found;
}

base::Result<std::vector<DiagSocket>> SockDiag::dumpPort(std::uint8_t protocol,
                                                         std::uint16_t localPort, bool ipv4,
                                                         std::uint32_t states) {
  std::vector<DiagSocket> sockets;
  // An IPv4 packet reaches IPv4 sockets and IPv6 ones (bound to the wildcard address or an
  // IPv4-mapped one: dual stack); an IPv6 packet only IPv6 ones.
  for (const std::uint8_t family : {AF_INET6, AF_INET}) {
    if (family == AF_INET && !ipv4) break;
    Request message{};
    message.keepOnlyPort(localPort);
    message.request.sdiag_family = family;
    message.request.sdiag_protocol = protocol;
    message.request.idiag_states = states;
    auto dumped = exchange(message, NLM_F_REQUEST | NLM_F_DUMP, "sock_diag dump",
                           [&](const DiagSocket& socket) {
                             sockets.push_back(socket);
                             return false;  // read to the end: nothing is left queued
                           });
    if (!dumped) return std::unexpected(dumped.error());
  }
  return sockets;
}

base::Result<std::vector<DiagSocket>> SockDiag::boundTo(std::uint8_t protocol,
                                                        std::uint16_t localPort, bool ipv4) {
  // A TCP flow reaches a listener; a UDP socket may be in any state.
  return dumpPort(protocol, localPort, ipv4, protocol == IPPROTO_TCP ? 1u << TCP_LISTEN : ~0u);
}

base::Result<std::vector<DiagSocket>> SockDiag::connectedOnAnyDevice(std::uint8_t protocol,
                                                                     const SocketEnd& local,
                                                                     const SocketEnd& remote) {
  auto sockets = dumpPort(protocol, local.port, isMapped(remote.address), ~0u);
  if (!sockets) return sockets;
  std::erase_if(*sockets, [&](const DiagSocket& socket) {
    return socket.address != local.address || socket.peer.address != remote.address ||
           socket.peer.port != remote.port;
  });
  return sockets;
}

base::Result<std::optional<DiagSocket>> SockDiag::findByCookie(std::uint8_t protocol,
                                                               std::uint16_t localPort,
                                                               std::uint64_t cookie, bool ipv4) {
  auto sockets = boundTo(protocol, localPort, ipv4);
  if (!sockets) return std::unexpected(sockets.error());
  for (const DiagSocket& socket : *sockets) {
    if (socket.cookie == cookie) return std::optional<DiagSocket>{socket};
  }
  return std::optional<DiagSocket>{};
}

base::Result<void> SockDiag::exchange(Request& message, std::uint16_t flags, const char* what,
                                      const std::function<bool(const DiagSocket&)>& each) {
  static_assert(
      offsetof(Request, filterHeader) == NLMSG_ALIGN(sizeof(nlmsghdr) + sizeof(inet_diag_req_v2)),
      "the filter attribute follows the request with no padding");
  const bool filtered = message.filterHeader.nla_type == INET_DIAG_REQ_BYTECODE;
  const std::size_t length = filtered ? sizeof message : offsetof(Request, filterHeader);
  std::lock_guard lock(mutex_);
  message.header.nlmsg_len = length;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = flags;
  message.header.nlmsg_seq = ++sequence_;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_.get(), &message, length, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) <
      0) {
    return std::unexpected(base::errnoError(std::string("sending a ") + what + " request"));
  }
  alignas(nlmsghdr) char buffer[16384];
  for (;;) {
    const ssize_t n = recv(fd_.get(), buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(base::errnoError(std::string("reading the ") + what + " answer"));
    }
    int remaining = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, remaining);
         h = NLMSG_NEXT(h, remaining)) {
      if (h->nlmsg_seq != sequence_) continue;  // a late answer to an earlier, timed-out query
      if (h->nlmsg_type == NLMSG_DONE) return {};
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (error->error == 0) continue;
        return std::unexpected(base::makeError(-error->error, what));
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      const auto* diag = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      const DiagSocket socket{
          diag->idiag_inode,
          diag->idiag_uid,
          static_cast<std::uint64_t>(diag->id.idiag_cookie[1]) << 32 | diag->id.idiag_cookie[0],
          diag->idiag_state,
          ntohs(diag->id.idiag_sport),
          takeAddress(diag->id.idiag_src, diag->idiag_family),
          {takeAddress(diag->id.idiag_dst, diag->idiag_family), ntohs(diag->id.idiag_dport)}};
      if (each(socket)) return {};
    }
  }
}

SocketInodeIndex::SocketInodeIndex(std::string procRoot, std::chrono::milliseconds minInterval)
    : reader_(std::move(procRoot)), minInterval_(minInterval), map_(std::make_shared<const Map>()) {
  thread_ = std::thread([this] { run(); });
}

SocketInodeIndex::~SocketInodeIndex() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

std::optional<SocketInodeIndex::Owner> SocketInodeIndex::find(std::uint64_t inode) const {
  std::shared_ptr<const Map> map, recent;
  {
    std::lock_guard lock(mutex_);
    map = map_;
    recent = recent_;
  }
  if (auto it = recent->find(inode); it != recent->end()) return it->second;
  auto it = map->find(inode);
  if (it == map->end()) return std::nullopt;
  return it->second;
}

std::uint64_t SocketInodeIndex::requestScan(std::uint64_t inode) {
  std::uint64_t number;
  {
    std::lock_guard lock(mutex_);
    if (inode == 0) {
      wantFull_ = true;
    } else if (wanted_.size() < 256) {
      wanted_.push_back(inode);
    } else {
      wantFull_ = true;
    }
    // A scan not started yet serves this request too.
    if (requested_ <= completed_.load()) requested_ = completed_.load() + 1;
    number = requested_;
  }
  changed_.notify_all();
  return number;
}

bool SocketInodeIndex::waitFor(std::uint64_t number, std::chrono::microseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return completed_.load() >= number; });
}

void SocketInodeIndex::run() {
  pthread_setname_np(pthread_self(), "wardend-diag");
  auto lastScan = std::chrono::steady_clock::now() - minInterval_;
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || requested_ > completed_.load(); });
    if (stopping_) return;
    if (!wantFull_ && !wanted_.empty()) {
      const std::uint64_t serving = requested_;
      const std::vector<std::uint64_t> wanted = wanted_;
      lock.unlock();
      const bool all = scanRecentOwners(wanted);
      lock.lock();
      if (all && !wantFull_ && wanted_.size() == wanted.size()) {
        // Nothing asked meanwhile: every request so far is served.
        wanted_.clear();
        completed_.store(serving);
        changed_.notify_all();
        continue;
      }
    }
    // Rate limit: a burst of misses costs one scan per interval.
    const auto earliest = lastScan + minInterval_;
    if (std::chrono::steady_clock::now() < earliest) {
      changed_.wait_until(lock, earliest, [&] { return stopping_; });
      if (stopping_) return;
    }
    // Every request made up to here is served by the scan that starts now.
    const std::uint64_t serving = requested_;
    std::vector<std::uint64_t> wanted;
    if (!wantFull_) wanted.swap(wanted_);
    wanted_.clear();
    wantFull_ = false;
    lock.unlock();
    scan(std::move(wanted));
    lastScan = std::chrono::steady_clock::now();
    lock.lock();
    completed_.store(serving);
    changed_.notify_all();
  }
}

void SocketInodeIndex::scan(std::vector<std::uint64_t> wanted) {
  std::size_t known;
  {
    std::lock_guard lock(mutex_);
    known = map_->size();
  }
  // Merged scans keep closed sockets: a full one now and then bounds the map.
  const bool full = wanted.empty() || known > kMaxMergedEntries;
  auto map = std::make_shared<Map>();
  std::vector<std::uint32_t> pids = reader_.listPids();
  std::sort(pids.rbegin(), pids.rend());  // newest first, mostly
  std::size_t found = 0;
  for (std::uint32_t pid : pids) {
    const auto sockets = reader_.sockets(pid);  // one read of the process: fd/ and stat
    if (!sockets || sockets->inodes.empty()) continue;
    const Owner owner{pid, sockets->startTicks};
    for (std::uint64_t inode : sockets->inodes) {
      // The lowest pid sharing a socket (usually the parent that made it) keeps it.
      (*map)[inode] = owner;
      if (std::find(wanted.begin(), wanted.end(), inode) != wanted.end()) {
        ++found;
        noteOwner(owner);
      }
    }
    if (!full && found >= wanted.size()) break;
  }
  std::lock_guard lock(mutex_);
  if (!full) {
    for (const auto& [inode, owner] : *recent_) map->try_emplace(inode, owner);
    for (const auto& [inode, owner] : *map_) map->try_emplace(inode, owner);
  }
  map_ = std::move(map);
  recent_ = std::make_shared<Map>();
}

bool SocketInodeIndex::scanRecentOwners(const std::vector<std::uint64_t>& wanted) {
  std::vector<std::pair<std::uint64_t, Owner>> found;
  for (std::size_t i = 0; i < recentOwners_.size() && found.size() < wanted.size();) {
    const Owner owner = recentOwners_[i];
    auto stat = reader_.stat(owner.pid);
    if (!stat || stat->startTicks != owner.startTicks) {  // gone, or the pid is another's now
      recentOwners_.erase(recentOwners_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    for (std::uint64_t inode : reader_.socketInodes(owner.pid)) {
      if (std::find(wanted.begin(), wanted.end(), inode) != wanted.end()) {
        found.emplace_back(inode, owner);
      }
    }
    ++i;
  }
  if (found.empty()) return false;
  for (const auto& [inode, owner] : found) noteOwner(owner);
  // Published through the small map of recent finds, whose copy is cheap; the big one is
  // copied by scans, which fold the recent finds in, and when the recent map is full (once
  // per kRecentFinds finds).
  std::lock_guard lock(mutex_);
  if (recent_->size() + found.size() > kRecentFinds) {
    auto map = std::make_shared<Map>(*map_);
    for (const auto& [inode, owner] : *recent_) (*map)[inode] = owner;
    map_ = std::move(map);
    recent_ = std::make_shared<Map>();
  }
  auto recent = std::make_shared<Map>(*recent_);
  for (const auto& [inode, owner] : found) (*recent)[inode] = owner;
  recent_ = std::move(recent);
  return std::all_of(wanted.begin(), wanted.end(), [&](std::uint64_t inode) {
    return std::any_of(found.begin(), found.end(), [&](const auto& f) { return f.first == inode; });
  });
}

void SocketInodeIndex::noteOwner(const Owner& owner) {
  auto same = [&](const Owner& o) {
    return o.pid == owner.pid && o.startTicks == owner.startTicks;
  };
  if (auto it = std::find_if(recentOwners_.begin(), recentOwners_.end(), same);
      it != recentOwners_.end()) {
    std::rotate(recentOwners_.begin(), it, it + 1);  // to the front
    return;
  }
  if (recentOwners_.size() == kRecentOwners) recentOwners_.pop_back();
  recentOwners_.insert(recentOwners_.begin(), owner);
}

}  // namespace warden::engine
