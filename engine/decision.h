#pragma once

#include <cstdint>
#include <string_view>

#include "rules/config.h"
#include "rules/flow.h"
#include "rules/verdict.h"

namespace warden::engine {

// Whether a flow's packet belongs to a process, as far as the packet path knows.
enum class Owner : std::uint8_t {
  kProcess,  // a socket of some process (attributed or not)
  kKernel,   // no socket: kernel-generated traffic
  kUnknown,  // a socket, but no process could be attributed (SPEC section 4 step 3)
};

// What decided a flow (SPEC section 4); names are what the log and status show.
enum class DecidedBy : std::uint8_t {
  kGlobalRule,     // `index` is the global [[rule]]'s position in warden.toml
  kEngineDefault,  // engine `default`: no profile applies
  kKernel,         // engine `kernel`: no owning socket
  kUnknown,        // engine `unknown`: unparseable packet or no attributable process
};

std::string_view toString(DecidedBy by);

struct Decision {
  rules::Action action = rules::Action::kAllow;
  DecidedBy by = DecidedBy::kEngineDefault;
  int index = -1;
  bool log = true;
};

// SPEC section 4 steps 1-3 and 5 without profiles: global rules, then the kernel verdict for
// ownerless packets, then the engine default. Pure and allocation-free.
Decision decide(const rules::Config& config, const rules::Flow& flow, Owner owner);

// The verdict for a packet that could not be parsed into a flow.
Decision decideMalformed(const rules::Config& config);

}  // namespace warden::engine
