#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include "base/error.h"

struct mnl_nlmsg_batch;
struct mnl_socket;
struct nftnl_chain;
struct nftnl_obj;
struct nftnl_rule;
struct nftnl_table;
struct nlmsghdr;

// How warden talks to nf_tables: a netfilter netlink socket, and one transaction of messages
// sent as a batch (libmnl, libnftnl), for NftTable.
namespace warden::engine::nft {

struct MnlSocketCloser {
  void operator()(mnl_socket* socket) const;
};
using MnlSocket = std::unique_ptr<mnl_socket, MnlSocketCloser>;

struct TableFree {
  void operator()(nftnl_table* table) const;
};
struct ObjFree {
  void operator()(nftnl_obj* object) const;
};
using TablePtr = std::unique_ptr<nftnl_table, TableFree>;
using ObjPtr = std::unique_ptr<nftnl_obj, ObjFree>;

// A netfilter netlink socket, bound.
base::Result<MnlSocket> openNetfilterSocket();

// One nf_tables transaction on the `inet warden` table: begin, messages (each asking for an
// ack), end. The kernel applies all of them or none. Not thread-safe; one use.
class Transaction {
 public:
  Transaction();
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Each returns the message's sequence number, which run() answers by.
  std::uint32_t addTable(std::uint16_t type, std::uint16_t flags, std::string_view owner = {});
  std::uint32_t addChain(const nftnl_chain* chain, std::uint16_t type, std::uint16_t flags);
  // A named counter object; one that exists already keeps its count.
  std::uint32_t addCounter(const char* name);
  std::uint32_t addRule(nftnl_rule* rule);  // appended to its chain
  std::uint32_t addRule(nftnl_rule* rule, std::uint16_t type, std::uint16_t flags);

  // Sends the transaction and collects one answer per message: sequence -> errno (0 = ok).
  base::Result<std::map<std::uint32_t, int>> run();

 private:
  nlmsghdr* header(std::uint16_t type, std::uint16_t flags);
  std::uint32_t commit();

  std::vector<char> buffer_;
  mnl_nlmsg_batch* batch_ = nullptr;
  std::uint32_t seq_ = 0;
  std::size_t expected_ = 0;
};

}  // namespace warden::engine::nft
