#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace warden::engine {

// The pid namespace whose numbers wardend's /proc shows, which the eBPF programs translate
// every pid into (bpf/attribution/task.bpf.h, ns_pid): in a container it is the container's, not
// the kernel's initial one that the programs' context speaks. The initial pid namespace's nsfs
// inode (the kernel's PROC_PID_INIT_INO): no translation.
constexpr std::uint32_t kInitialPidNamespaceInode = 0xEFFFFFFCu;

struct PidNamespace {
  std::uint64_t device = 0;  // of nsfs
  std::uint32_t inode = 0;   // the namespace's nsfs inode: what the kernel calls ns.inum
};

// The numbers of the NSpid line of /proc/PID/status: the process's pid in the namespace of that
// /proc's mount, then in each namespace nested below it down to the process's own. nullopt
// without such a line (kernels before 4.1) or when it does not parse.
std::optional<std::vector<std::uint32_t>> parseNsPids(std::string_view status);

// wardend's own pid namespace (stat of PROC/self/ns/pid), checked to be the one `procRoot`
// numbers: a /proc mounted for an ancestor namespace (`unshare --pid --fork` without
// --mount-proc) shows other numbers than the programs would report, so that is an error, as
// is a namespace inode wider than the kernel's 32 bits.
[[nodiscard]] base::Result<PidNamespace> procPidNamespace(const std::string& procRoot = "/proc");

}  // namespace warden::engine
