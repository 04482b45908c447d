// Privileged tier: SockDiag's lookup of a socket by its cookie (what names the receiver of an
// inbound flow the ingress check found delivered elsewhere, when no bind record names it),
// against real sockets in a network namespace of the lab's.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/unique_fd.h"
#include "engine/attribution/sock_diag.h"
#include "tests/bpf/bpf_lab.h"

namespace warden::engine {
namespace {

struct BoundSocket {
  base::UniqueFd fd;
  std::uint64_t cookie = 0;
  std::uint64_t inode = 0;
};

// A socket of `type` bound to `address` (text, either family) and `port`; an IPv6 one takes
// IPv4 packets too unless `v6Only`. TCP ones listen.
BoundSocket bindSocket(int type, const char* address, std::uint16_t port, bool v6Only = false) {
  BoundSocket bound;
  sockaddr_storage storage{};
  socklen_t length;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof *v4;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, address, &v6->sin6_addr), 1) << address;
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof *v6;
  }
  auto fd = base::makeSocket(family, type, 0, "a test socket");
  if (!fd) {
    ADD_FAILURE() << fd.error().message();
    return bound;
  }
  bound.fd = std::move(*fd);
  const int only = v6Only ? 1 : 0;
  if (family == AF_INET6) setsockopt(bound.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only);
  EXPECT_EQ(bind(bound.fd.get(), reinterpret_cast<sockaddr*>(&storage), length), 0)
      << address << " " << port << ": " << std::strerror(errno);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(listen(bound.fd.get(), 8), 0);
  }
  socklen_t size = sizeof bound.cookie;
  EXPECT_EQ(getsockopt(bound.fd.get(), SOL_SOCKET, SO_COOKIE, &bound.cookie, &size), 0);
  struct stat st {};
  EXPECT_EQ(fstat(bound.fd.get(), &st), 0);
  bound.inode = st.st_ino;
  return bound;
}

class SockDiagTest : public testing::BpfLabTest {
 protected:
  void SetUp() override {
    BpfLabTest::SetUp();
    if (stopped()) return;
    lab_->enterNamespace(lab_->nsA());
    auto opened = SockDiag::open();
    ASSERT_TRUE(opened) << opened.error().message();
    diag_ = std::move(*opened);
  }
  void TearDown() override {
    diag_.reset();
    if (lab_) lab_->leaveNamespace();
    BpfLabTest::TearDown();
  }

  std::optional<DiagSocket> find(std::uint8_t protocol, std::uint16_t port, std::uint64_t cookie,
                                 bool ipv4) {
    auto found = diag_->findByCookie(protocol, port, cookie, ipv4);
    EXPECT_TRUE(found) << found.error().message();
    return found ? *found : std::nullopt;
  }

  std::unique_ptr<SockDiag> diag_;
};

TEST_F(SockDiagTest, FindsAUdpSocketByCookieAmongThePortsSocketsOfThePacketsFamily) {
  if (stopped()) return;
  std::vector<BoundSocket> others;  // sockets on other ports, which the dump leaves out
  for (std::uint16_t port = 41000; port < 41040; ++port) {
    others.push_back(bindSocket(SOCK_DGRAM, "127.0.0.1", port));
    others.push_back(bindSocket(SOCK_DGRAM, "::1", port, true));
  }
  BoundSocket v4 = bindSocket(SOCK_DGRAM, "127.0.0.1", 41100);
  BoundSocket dual = bindSocket(SOCK_DGRAM, "::", 41101);
  BoundSocket v6Only = bindSocket(SOCK_DGRAM, "::1", 41102, true);
  if (HasFailure()) return;

  // The kernel's filter: the port's sockets and no other, of both families for IPv4.
  auto bound = diag_->boundTo(IPPROTO_UDP, 41000, true);
  ASSERT_TRUE(bound) << bound.error().message();
  ASSERT_EQ(bound->size(), 2u);
  for (const DiagSocket& socket : *bound) EXPECT_EQ(socket.port, 41000);
  bound = diag_->boundTo(IPPROTO_UDP, 41000, false);
  ASSERT_TRUE(bound);
  ASSERT_EQ(bound->size(), 1u);
  EXPECT_EQ(bound->front().cookie, others[1].cookie);

  auto found = find(IPPROTO_UDP, 41100, v4.cookie, true);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->cookie, v4.cookie);
  EXPECT_EQ(found->inode, v4.inode);
  EXPECT_EQ(found->port, 41100);
  // An IPv6 wildcard socket receives IPv4 packets: found for either family.
  found = find(IPPROTO_UDP, 41101, dual.cookie, true);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->inode, dual.inode);
  found = find(IPPROTO_UDP, 41102, v6Only.cookie, false);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->inode, v6Only.inode);
  // Not a socket of another port, nor an IPv4 socket for an IPv6 packet.
  EXPECT_FALSE(find(IPPROTO_UDP, 41101, v4.cookie, true));
  EXPECT_FALSE(find(IPPROTO_UDP, 41100, v4.cookie, false));
  EXPECT_FALSE(find(IPPROTO_UDP, 41000, others[0].cookie + 1000000, true));
  // One among many of one port: each of 41000's two sockets is told apart by its cookie.
  found = find(IPPROTO_UDP, 41000, others[1].cookie, false);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->inode, others[1].inode);
}

TEST_F(SockDiagTest, FindsATcpListenerByCookieAndNoOtherState) {
  if (stopped()) return;
  BoundSocket listener = bindSocket(SOCK_STREAM, "127.0.0.1", 41200);
  if (HasFailure()) return;
  auto found = find(IPPROTO_TCP, 41200, listener.cookie, true);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->inode, listener.inode);
  // A connection the listener accepted has its port too, and is not a listener.
  auto client = base::makeSocket(AF_INET, SOCK_STREAM, 0, "a test client");
  ASSERT_TRUE(client);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(41200);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client->get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  base::UniqueFd accepted(accept(listener.fd.get(), nullptr, nullptr));
  ASSERT_TRUE(accepted) << std::strerror(errno);
  std::uint64_t cookie = 0;
  socklen_t size = sizeof cookie;
  ASSERT_EQ(getsockopt(accepted.get(), SOL_SOCKET, SO_COOKIE, &cookie, &size), 0);
  EXPECT_FALSE(find(IPPROTO_TCP, 41200, cookie, true));
  auto bound = diag_->boundTo(IPPROTO_TCP, 41200, true);
  ASSERT_TRUE(bound);
  ASSERT_EQ(bound->size(), 1u);
  EXPECT_EQ(bound->front().cookie, listener.cookie);
}

}  // namespace
}  // namespace warden::engine
