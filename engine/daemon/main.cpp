// wardend: the warden engine daemon.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "base/logging.h"
#include "base/version.h"
#include "engine/attribution/system_mounts.h"
#include "engine/daemon/daemon.h"
#include "engine/daemon/hook_record.h"
#include "engine/netfilter/nft_table.h"
#include "rules/config.h"
#include "rules/policy.h"

namespace {

namespace base = warden::base;

void printDiagnostics(const warden::rules::Diagnostics& diagnostics) {
  for (const auto& d : diagnostics) std::cerr << d.format() << '\n';
}

int cleanup(const std::string& configPath) {
  using warden::engine::NftTable;
  using warden::engine::TableOwner;
  if (auto owner = NftTable::owner(); owner && *owner) {
    if (auto other = TableOwner::parse(**owner); other && other->alive()) {
      base::logError("table inet warden belongs to wardend pid ", other->pid,
                     ", which is running: stop it (SIGTERM) instead");
      return 1;
    }
  }
  auto removed = NftTable::remove();
  if (!removed) {
    base::logError(removed.error().message());
    return 1;
  }
  base::logInfo(*removed ? "removed table inet warden" : "no table inet warden to remove");
  // The hooks that applied its kernel-held verdicts, on the cgroup the configuration names
  // and on those a run recorded (never a running wardend's).
  auto config = warden::rules::loadConfig(configPath);
  if (!config) {
    base::logWarning("not reading ", configPath,
                     ": kernel-held verdict hooks a crashed wardend left on its cgroup stay");
    return 0;
  }
  std::vector<std::string> cgroups;
  if (config->ebpf) {
    if (auto cgroup = warden::engine::resolveAttachCgroup(config->cgroup); cgroup) {
      cgroups.push_back(*cgroup);
    } else {
      base::logWarning(cgroup.error().message());
    }
  }
  const auto record = warden::engine::HookRecord::besideSocket(config->controlSocket);
  auto detached = warden::engine::detachStaleHooks(record, cgroups, "");
  if (!detached) {
    base::logError(detached.error().message());
    return 1;
  }
  if (*detached > 0) base::logInfo("detached ", *detached, " kernel-held verdict hooks");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "wardend: the warden per-application firewall engine.\n"
      "Runs in the foreground; stop it with SIGTERM or Ctrl-C, reload it with SIGHUP."};
  std::string configPath{warden::rules::kDefaultConfigPath};
  bool check = false;
  bool doCleanup = false;
  bool verbose = false;
  app.add_option("-c,--config", configPath, "engine configuration file")->capture_default_str();
  app.add_flag("--check", check, "validate the configuration and exit (1 on errors)");
  app.add_flag("--cleanup", doCleanup,
               "remove the nftables table (and the kernel-held verdict hooks) a crashed "
               "wardend left behind, and exit");
  app.add_flag("-v,--verbose", verbose, "log debug messages");
  app.set_version_flag("--version", "wardend " + std::string(base::kWardenVersion));
  CLI11_PARSE(app, argc, argv);
  base::detectLogSink();
  base::setLogVerbose(verbose);

  if (doCleanup) return cleanup(configPath);

  if (check) {
    // The whole policy: warden.toml and every profile, every error of the run.
    warden::rules::Diagnostics warnings;
    auto policy = warden::rules::loadPolicy(std::filesystem::path(configPath), &warnings);
    printDiagnostics(policy ? warnings : policy.error());
    if (!policy) return 1;
    std::cerr << configPath << ": ok\n";
    return 0;
  }
  if (geteuid() != 0) {
    base::logError("must run as root (needs CAP_NET_ADMIN for nftables and NFQUEUE)");
    return 1;
  }
  // Everything wardend creates (database, control socket, mounts' files) is root's alone,
  // also when it runs outside the systemd unit (which sets UMask=0077 as well).
  umask(0077);
  warden::engine::Daemon daemon(configPath);
  return daemon.run();
}
