#include "engine/daemon/policy_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "base/logging.h"

namespace warden::engine {
namespace {

constexpr std::uint32_t kDirectoryEvents = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                           IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                           IN_ONLYDIR;

bool isProfileFile(std::string_view name) {
  return name.size() > 5 && name.front() != '.' && name.ends_with(".toml");
}

}  // namespace

base::Result<PolicyWatcher> PolicyWatcher::open(const std::filesystem::path& configFile,
                                                const std::filesystem::path& profilesDir) {
  auto fd = base::makeInotify(IN_NONBLOCK, "inotify_init1");
  if (!fd) return std::unexpected(fd.error());
  PolicyWatcher watcher(std::move(*fd), configFile);
  const auto directory =
      configFile.parent_path().empty() ? std::filesystem::path(".") : configFile.parent_path();
  watcher.configWatch_ = inotify_add_watch(watcher.fd(), directory.c_str(), kDirectoryEvents);
  if (watcher.configWatch_ < 0) {
    return std::unexpected(base::errnoError("watching " + directory.string()));
  }
  watcher.watchProfiles(profilesDir);
  return watcher;
}

PolicyWatcher::PolicyWatcher(PolicyWatcher&& other) noexcept
    : fd_(std::move(other.fd_)),
      configFile_(std::move(other.configFile_)),
      profilesDir_(std::move(other.profilesDir_)),
      configWatch_(other.configWatch_),
      profilesWatch_(other.profilesWatch_) {}

void PolicyWatcher::watchProfiles(const std::filesystem::path& profilesDir) {
  if (profilesDir == profilesDir_ && profilesWatch_ >= 0) return;
  if (profilesWatch_ >= 0 && profilesWatch_ != configWatch_) {
    inotify_rm_watch(fd_.get(), profilesWatch_);
  }
  profilesDir_ = profilesDir;
  // The same directory as warden.toml yields the same watch descriptor: fine.
  profilesWatch_ = inotify_add_watch(fd_.get(), profilesDir.c_str(), kDirectoryEvents);
  if (profilesWatch_ < 0) {
    base::logWarning("not watching ", profilesDir.string(), " for changes: ", std::strerror(errno),
                     " (SIGHUP or `warden reload` still reload)");
  }
}

bool PolicyWatcher::consumeEvents() {
  alignas(inotify_event) char buffer[8192];
  bool relevant = false;
  for (;;) {
    const ssize_t n = read(fd_.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    for (char* p = buffer; p < buffer + n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(p);
      const std::string_view name = event->len > 0 ? std::string_view(event->name) : "";
      base::logDebug("inotify: wd ", event->wd, " mask 0x", std::hex, event->mask, std::dec, " '",
                     name, "'");
      if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW)) {
        relevant = true;
      } else if (event->wd == profilesWatch_ && isProfileFile(name)) {
        relevant = true;
      } else if (event->wd == configWatch_ && name == configFile_.filename().string()) {
        relevant = true;
      }
      p += sizeof(inotify_event) + event->len;
    }
  }
  return relevant;
}

}  // namespace warden::engine
