#pragma once

// netinet/in.h before the linux/ headers, which otherwise redefine its types.
#include <netinet/in.h>

#include <linux/netfilter.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/verdict/owner_lookup.h"

namespace warden::engine::testing {

// Process attribution without a kernel or /proc: the test says which local port belongs to
// which process, and when (if ever) that process's description arrives; the fake counts what
// the worker asks.
//
// Thread-safety: the test thread and the worker's may use it at once.
class FakeOwnerLookup final : public OwnerLookup {
 public:
  // Flows of local port `port` (the source of an outbound packet, the destination of an
  // inbound one) belong to `owner`; other socket-owned flows to no process anyone can name.
  void own(std::uint16_t port, const Attribution& owner) {
    std::lock_guard lock(mutex_);
    owners_[port] = owner;
  }
  // What the table holds for process `key` from now on (null: nothing).
  void setDescription(const ProcessKey& key, std::shared_ptr<const ProcessDescription> info) {
    std::lock_guard lock(mutex_);
    descriptions_[{key.pid, key.startTicks}] = std::move(info);
  }
  void setDescribeWait(std::chrono::microseconds wait) {
    std::lock_guard lock(mutex_);
    describeWait_ = wait;
  }

  int describeCalls() const {
    std::lock_guard lock(mutex_);
    return describeCalls_;
  }
  int describeForVerdictCalls() const {
    std::lock_guard lock(mutex_);
    return describeForVerdictCalls_;
  }
  std::vector<bool> imageHashing() const {
    std::lock_guard lock(mutex_);
    return imageHashing_;
  }
  int udpAccepted() const {
    std::lock_guard lock(mutex_);
    return udpAccepted_;
  }

  Attribution attribute(const PacketInfo& packet, std::uint8_t hook, bool hasUid) override {
    std::lock_guard lock(mutex_);
    const bool inbound = hook == NF_INET_LOCAL_IN;
    auto it = owners_.find(inbound ? packet.destinationPort : packet.sourcePort);
    if (it != owners_.end()) return it->second;
    Attribution none;
    none.kind = !inbound && !hasUid ? OwnerKind::kKernel : OwnerKind::kUnknown;
    return none;
  }
  std::shared_ptr<const ProcessDescription> describe(const Attribution& attribution) override {
    std::lock_guard lock(mutex_);
    ++describeCalls_;
    return find(attribution);
  }
  std::shared_ptr<const ProcessDescription> described(
      const Attribution& attribution) const override {
    std::lock_guard lock(mutex_);
    return find(attribution);
  }
  std::chrono::microseconds describeWait() const override {
    std::lock_guard lock(mutex_);
    return describeWait_;
  }
  // Waits for nothing: what the test has set is all there will be.
  std::shared_ptr<const ProcessDescription> describeForVerdict(
      const Attribution& attribution) override {
    std::lock_guard lock(mutex_);
    ++describeForVerdictCalls_;
    return find(attribution);
  }
  void setImageHashing(bool enabled) override {
    std::lock_guard lock(mutex_);
    imageHashing_.push_back(enabled);
  }
  void noteAccepted(const rules::Flow& flow, const Attribution&) noexcept override {
    std::lock_guard lock(mutex_);
    if (flow.ipProto == IPPROTO_UDP) ++udpAccepted_;
  }

 private:
  std::shared_ptr<const ProcessDescription> find(const Attribution& attribution) const {
    if (attribution.kind != OwnerKind::kProcess) return nullptr;
    auto it = descriptions_.find({attribution.key.pid, attribution.key.startTicks});
    return it == descriptions_.end() ? nullptr : it->second;
  }

  mutable std::mutex mutex_;
  std::map<std::uint16_t, Attribution> owners_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::shared_ptr<const ProcessDescription>>
      descriptions_;
  std::chrono::microseconds describeWait_{50'000};
  int describeCalls_ = 0;
  int describeForVerdictCalls_ = 0;
  std::vector<bool> imageHashing_;
  int udpAccepted_ = 0;
};

}  // namespace warden::engine::testing
