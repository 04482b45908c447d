#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "engine/attribution/deadlined_proc_reader.h"

namespace warden::engine {

// One end of a flow for a socket lookup: 16-byte address (IPv4 mapped) and host-order port.
struct SocketEnd {
  std::array<std::uint8_t, 16> address{};
  std::uint16_t port = 0;
};

// What sock_diag says about the socket that owns a flow.
struct DiagSocket {
  std::uint64_t inode = 0;  // 0 for sockets without a file (kernel sockets, time-wait)
  std::uint32_t uid = 0;
  std::uint64_t cookie = 0;  // the socket's cookie, as bpf_get_socket_cookie() gives it
  std::uint8_t state = 0;    // TCP_LISTEN, TCP_TIME_WAIT, ... (UDP: TCP_CLOSE or established)
  std::uint16_t port = 0;    // its own (local) port
  std::array<std::uint8_t, 16> address{};  // its own address (IPv4 mapped; zero: any)
  SocketEnd peer;                          // what it is connected to (zero: nothing)
};

// NETLINK_SOCK_DIAG lookups in the caller's network namespace, no /proc: exact ones (inet_diag
// by 5-tuple, one netlink round trip) for the socket the kernel would deliver a flow to, and a
// dump for a socket known by its cookie. Thread-safe (one socket, used under a mutex).
class SockDiag {
 public:
  [[nodiscard]] static base::Result<std::unique_ptr<SockDiag>> open();
  SockDiag(const SockDiag&) = delete;
  SockDiag& operator=(const SockDiag&) = delete;

  // nullopt: no such socket. `protocol` is IPPROTO_TCP or IPPROTO_UDP. `device`: the
  // interface an inbound packet came in on (0: none), without which a socket bound to a
  // device is never found.
  [[nodiscard]] base::Result<std::optional<DiagSocket>> find(std::uint8_t protocol,
                                                             const SocketEnd& local,
                                                             const SocketEnd& remote,
                                                             std::uint32_t device = 0);
  // The TCP listeners or UDP sockets (`protocol`) bound to `localPort` that a packet of the
  // family (`ipv4` or not) can reach: a dump the kernel filters by port, so only that port's
  // sockets are read. For the rare flow no map names the receiver of, not every flow.
  [[nodiscard]] base::Result<std::vector<DiagSocket>> boundTo(std::uint8_t protocol,
                                                              std::uint16_t localPort, bool ipv4);
  // The sockets connected from `local` to `remote` (both address and port), whatever device
  // they are bound to, for a caller that does not know the flow's interface (find() without
  // one never finds a socket bound to a device): a dump of the local port's sockets (filtered
  // by the kernel). Sockets not connected (listeners, unconnected UDP) are not among them.
  [[nodiscard]] base::Result<std::vector<DiagSocket>> connectedOnAnyDevice(std::uint8_t protocol,
                                                                           const SocketEnd& local,
                                                                           const SocketEnd& remote);
  // The one of them with that cookie; nullopt: none.
  [[nodiscard]] base::Result<std::optional<DiagSocket>> findByCookie(std::uint8_t protocol,
                                                                     std::uint16_t localPort,
                                                                     std::uint64_t cookie,
                                                                     bool ipv4);

 private:
  explicit SockDiag(base::UniqueFd fd) : fd_(std::move(fd)) {}
  base::Result<std::optional<DiagSocket>> query(std::uint8_t family, std::uint8_t protocol,
                                                const SocketEnd& source,
                                                const SocketEnd& destination, std::uint32_t device);
  // The sockets of `localPort` in `states` (a bit per TCP state) a packet of the family can
  // reach: a dump the kernel filters by port.
  base::Result<std::vector<DiagSocket>> dumpPort(std::uint8_t protocol, std::uint16_t localPort,
                                                 bool ipv4, std::uint32_t states);
  struct Request;  // a request as it goes on the wire; exchange() fills in the header
  // Sends the request with `flags` and hands each socket of the answer to `each` until it
  // returns true or the answer ends. `what` names the request in errors; an error the kernel
  // answers keeps its errno (ENOENT: no such socket).
  base::Result<void> exchange(Request& message, std::uint16_t flags, const char* what,
                              const std::function<bool(const DiagSocket&)>& each);
  std::mutex mutex_;
  base::UniqueFd fd_;
  std::uint32_t sequence_ = 0;  // guarded by mutex_
};

// Socket inode -> the process holding it, from scans of /proc/*/fd on a thread of its own,
// never on the caller's. Asked for particular inodes, it first looks only at the few
// processes that owned the last sockets it found (a process that connects once usually
// connects again): that costs a directory read or two, so it is not rate-limited and a busy
// client's new sockets are named within microseconds. Failing that, scans run at most one per
// `minInterval`: one asked for particular inodes walks the newest pids first and stops once it
// has found them (a new socket usually belongs to a new process), merging into what earlier
// scans found; a scan that has to look at every process replaces the map, dropping closed
// sockets.
//
// Thread-safety: all members may be called from any thread. find() reads a snapshot
// published whole after each scan.
class SocketInodeIndex {
 public:
  struct Owner {
    std::uint32_t pid = 0;
    std::uint64_t startTicks = 0;
  };

  explicit SocketInodeIndex(std::string procRoot = "/proc",
                            std::chrono::milliseconds minInterval = std::chrono::milliseconds(100));
  ~SocketInodeIndex();
  SocketInodeIndex(const SocketInodeIndex&) = delete;
  SocketInodeIndex& operator=(const SocketInodeIndex&) = delete;

  std::optional<Owner> find(std::uint64_t inode) const;
  // Asks for a scan that starts after this call and looks for `inode` (0: a full scan);
  // returns its number for waitFor().
  std::uint64_t requestScan(std::uint64_t inode = 0);
  // Waits up to `timeout` for scan `number` to finish; true when it did.
  bool waitFor(std::uint64_t number, std::chrono::microseconds timeout) const;

  std::uint64_t scans() const { return completed_.load(); }

 private:
  using Map = std::unordered_map<std::uint64_t, Owner>;
  static constexpr std::size_t kRecentOwners = 8;
  static constexpr std::size_t kRecentFinds = 256;

  void run();
  void scan(std::vector<std::uint64_t> wanted);
  // Looks for `wanted` among the recent owners' sockets only; publishes what it found and
  // says whether that was all of them.
  bool scanRecentOwners(const std::vector<std::uint64_t>& wanted);
  void noteOwner(const Owner& owner);  // scanning thread only

  DeadlinedProcReader reader_;
  const std::chrono::milliseconds minInterval_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::shared_ptr<const Map> map_;  // guarded by mutex_
  // Sockets found through the recent owners since the last scan; guarded by mutex_.
  std::shared_ptr<const Map> recent_ = std::make_shared<Map>();
  std::uint64_t requested_ = 0;        // guarded by mutex_
  std::vector<std::uint64_t> wanted_;  // inodes asked for; guarded by mutex_
  bool wantFull_ = false;              // guarded by mutex_
  std::atomic<std::uint64_t> completed_{0};
  bool stopping_ = false;            // guarded by mutex_
  std::vector<Owner> recentOwners_;  // most recent first; scanning thread only
  std::thread thread_;
};

}  // namespace warden::engine
