#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "engine/attribution/attributor.h"
#include "engine/attribution/process_description.h"
#include "engine/netfilter/packet.h"
#include "rules/flow.h"

namespace warden::engine {

// What a queue worker asks of process attribution (SPEC section 4 steps 2 and 3): who owns a
// packet's flow, and what is known of that process. The Attributor in the daemon
// (AttributorLookup); a fake in tests, whose descriptions arrive when the test says so.
//
// Thread-safety: each worker has its own lookup; what it wraps may be shared.
class OwnerLookup {
 public:
  virtual ~OwnerLookup() = default;

  // The owner of the flow of `packet`, seen at netfilter hook `hook`; `hasUid` whether the
  // queue named a uid (only packets of a process-owned socket carry one). Reads no /proc.
  virtual Attribution attribute(const PacketInfo& packet, std::uint8_t hook, bool hasUid) = 0;
  // The process an attribution names, or null when it is not described yet: then its
  // description is asked for. Never waits.
  virtual std::shared_ptr<const ProcessDescription> describe(const Attribution& attribution) = 0;
  // What is known of the process now, complete or not, asking nobody: for a packet parked
  // until a description describe() asked for arrives.
  virtual std::shared_ptr<const ProcessDescription> described(
      const Attribution& attribution) const = 0;
  // How long a first packet may wait for its process's description.
  virtual std::chrono::microseconds describeWait() const = 0;
  // describe(), waiting up to describeWait() for a complete description: for a packet that
  // cannot be parked.
  virtual std::shared_ptr<const ProcessDescription> describeForVerdict(
      const Attribution& attribution) = 0;
  // Whether images are held and hashed from exec on (some profile pins a sha256).
  virtual void setImageHashing(bool enabled) = 0;
  // Called before a flow's first packet is accepted, with the owner it was accepted for (see
  // Attributor::noteAccepted: outbound UDP flows and inbound flows are noted in the kernel).
  virtual void noteAccepted(const rules::Flow& flow, const Attribution& attribution) noexcept = 0;
};

// The daemon's lookup: the Attributor every worker shares (which must outlive this).
class AttributorLookup final : public OwnerLookup {
 public:
  explicit AttributorLookup(Attributor& attributor) : attributor_(attributor) {}

  Attribution attribute(const PacketInfo& packet, std::uint8_t hook, bool hasUid) override {
    return attributor_.attribute(packet, hook, hasUid);
  }
  std::shared_ptr<const ProcessDescription> describe(const Attribution& attribution) override {
    return attributor_.describe(attribution);
  }
  std::shared_ptr<const ProcessDescription> described(
      const Attribution& attribution) const override {
    return attributor_.described(attribution);
  }
  std::chrono::microseconds describeWait() const override { return attributor_.describeWait(); }
  std::shared_ptr<const ProcessDescription> describeForVerdict(
      const Attribution& attribution) override {
    return attributor_.describeForVerdict(attribution);
  }
  void setImageHashing(bool enabled) override { attributor_.setImageHashing(enabled); }
  void noteAccepted(const rules::Flow& flow, const Attribution& attribution) noexcept override {
    attributor_.noteAccepted(flow, attribution);
  }

 private:
  Attributor& attributor_;
};

}  // namespace warden::engine
