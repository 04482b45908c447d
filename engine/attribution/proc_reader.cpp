#include "engine/attribution/proc_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>

#include "base/logging.h"

namespace warden::engine {
namespace {

constexpr std::size_t kMaxProcFile = 256 * 1024;  // environ and cmdline are bounded here
constexpr std::string_view kDeleted = " (deleted)";

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
using Dir = std::unique_ptr<DIR, DirCloser>;

std::optional<std::string> readAt(int dirFd, const char* name, std::size_t limit = kMaxProcFile) {
  auto fd = base::openAt(dirFd, name, O_RDONLY);
  if (!fd) return std::nullopt;
  std::string data;
  char buffer[4096];
  while (data.size() < limit) {
    const ssize_t n = read(fd->get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  if (data.size() > limit) data.resize(limit);
  return data;
}

std::optional<std::string> readLinkAt(int dirFd, const char* name) {
  char buffer[4096];
  const ssize_t n = readlinkat(dirFd, name, buffer, sizeof buffer);
  if (n < 0 || static_cast<std::size_t>(n) >= sizeof buffer) return std::nullopt;
  return std::string(buffer, static_cast<std::size_t>(n));
}

template <typename T>
bool parseNumber(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

std::optional<std::pair<std::uint32_t, std::uint32_t>> parseStatusIds(std::string_view text) {
  std::optional<std::uint32_t> uid, gid;
  auto firstValue = [](std::string_view line) -> std::optional<std::uint32_t> {
    std::size_t i = line.find(':');
    if (i == std::string_view::npos) return std::nullopt;
    ++i;
    while (i < line.size() && (line[i] == '\t' || line[i] == ' ')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] >= '0' && line[j] <= '9') ++j;
    std::uint32_t value = 0;
    if (j == i || !parseNumber(line.substr(i, j - i), value)) return std::nullopt;
    return value;
  };
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    if (line.starts_with("Uid:")) uid = firstValue(line);
    if (line.starts_with("Gid:")) gid = firstValue(line);
    start = end + 1;
  }
  if (!uid || !gid) return std::nullopt;
  return std::make_pair(*uid, *gid);
}

std::vector<std::string> splitNulSeparated(std::string_view data) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < data.size()) {
    std::size_t end = data.find('\0', start);
    if (end == std::string_view::npos) end = data.size();
    out.emplace_back(data.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::pair<std::string, bool> stripDeleted(std::string_view link) {
  if (link.ends_with(kDeleted)) {
    return {std::string(link.substr(0, link.size() - kDeleted.size())), true};
  }
  return {std::string(link), false};
}

std::optional<std::string> parseCgroupV2(std::string_view text) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    if (line.starts_with("0::")) return std::string(line.substr(3));
    start = end + 1;
  }
  return std::nullopt;
}

namespace {

// The statfs(2) type of the filesystem of /proc/PID/exe (`dir`: /proc/PID); 0 when unknown.
// Through an O_PATH descriptor: the image is not opened for it.
std::int64_t imageFilesystemAt(int dir) {
  base::UniqueFd image(openat(dir, "exe", O_PATH | O_CLOEXEC));
  if (!image) return 0;
  return base::filesystemTypeOfFd(image.get()).value_or(0);
}

}  // namespace

std::optional<base::FileIdentity> identityOfFd(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return std::nullopt;
  return base::FileIdentity::of(st);
}

bool isFileAt(const std::string& path, std::uint64_t device, std::uint64_t inode) {
  if (path.empty() || path.front() != '/') return false;
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && st.st_dev == device && st.st_ino == inode;
}

bool ProcReader::seesHostFile(std::uint32_t pid, const std::string& path,
                              const std::string* cwd) const {
  if (path.empty() || path.front() != '/') return false;
  const std::string dir = root_ + "/" + std::to_string(pid);
  const base::UniqueFd root(::open((dir + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return false;
  // Resolved with the process's root as "/": its absolute symbolic links stay in its tree.
  const auto inItsRoot = [&](const std::string& name) -> std::optional<struct stat> {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    // EAGAIN: a rename or mount elsewhere raced a ".." step (RESOLVE_IN_ROOT then refuses
    // rather than risk leaving the root); it is asked again a few times.
    int opened = -1;
    for (int attempt = 0; attempt < 4; ++attempt) {
      opened = static_cast<int>(::syscall(SYS_openat2, root.get(), name.c_str(), &how, sizeof how));
      if (opened >= 0 || errno != EAGAIN) break;
    }
    if (opened < 0 && errno == ENOSYS) {
      // A kernel before 5.6: no script is ever seen to be the host's file. Said once.
      static std::once_flag said;
      std::call_once(said, [] {
        base::logWarning(
            "this kernel has no openat2(2) (Linux 5.6 and later): no interpreter "
            "gets a script: tag, and profiles that want one match nothing");
      });
    }
    const base::UniqueFd fd(opened);
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) return std::nullopt;
    return st;
  };
  const auto seen = inItsRoot(path);
  if (!seen || !isFileAt(path, seen->st_dev, seen->st_ino)) return false;
  if (cwd == nullptr) return true;
  struct stat actual {};
  const auto named = inItsRoot(*cwd);
  return ::stat((dir + "/cwd").c_str(), &actual) == 0 && named && named->st_dev == actual.st_dev &&
         named->st_ino == actual.st_ino;
}

bool ProcReader::cwdIs(std::uint32_t pid, std::uint32_t mountId, std::uint64_t inode) const {
  struct statx st {};
  const std::string cwd = root_ + "/" + std::to_string(pid) + "/cwd";
  return ::statx(AT_FDCWD, cwd.c_str(), 0, STATX_INO | STATX_MNT_ID, &st) == 0 &&
         (st.stx_mask & STATX_MNT_ID) != 0 && st.stx_mnt_id == mountId && st.stx_ino == inode;
}

std::vector<std::uint32_t> ProcReader::listPids() const {
  std::vector<std::uint32_t> pids;
  Dir dir(opendir(root_.c_str()));
  if (!dir) return pids;
  while (dirent* entry = readdir(dir.get())) {
    std::uint32_t pid = 0;
    if (parseNumber(std::string_view(entry->d_name), pid) && pid > 0) pids.push_back(pid);
  }
  return pids;
}

base::Result<base::ProcStat> ProcReader::stat(std::uint32_t pid) const {
  return base::readProcStat(pid, root_);
}

bool ProcReader::gone(std::uint32_t pid, std::uint64_t startTicks) const {
  const auto stat = base::readProcStat(pid, root_);
  if (!stat) return stat.error().code == ENOENT || stat.error().code == ESRCH;
  return stat->startTicks != startTicks;
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> ProcReader::ids(std::uint32_t pid) const {
  auto opened = base::openFile(root_ + "/" + std::to_string(pid), O_RDONLY | O_DIRECTORY);
  if (!opened) return std::nullopt;
  auto status = readAt(opened->get(), "status", 16384);
  return status ? parseStatusIds(*status) : std::nullopt;
}

bool ProcReader::complete(ProcessDescription& info, base::ProcStat* lastStat) const {
  auto opened = base::openFile(root_ + "/" + std::to_string(info.key.pid), O_RDONLY | O_DIRECTORY);
  if (!opened) return false;
  const base::UniqueFd dir = std::move(*opened);
  auto statText = readAt(dir.get(), "stat", 4096);
  if (!statText) return false;
  auto stat = base::parseStat(*statText);
  if (!stat) return false;
  if (info.key.startTicks != 0 && stat->startTicks != info.key.startTicks) return false;
  info.key.startTicks = stat->startTicks;
  if (info.startTimeNs == 0) {
    info.startTimeNs = stat->startTicks * (1'000'000'000ull / clockTicksPerSecond());
  }
  if (info.comm.empty()) info.comm = stat->comm;
  if (info.ppid == 0) info.ppid = stat->ppid;

  if (auto status = readAt(dir.get(), "status", 16384)) {
    if (auto ids = parseStatusIds(*status)) {
      info.uid = ids->first;
      info.gid = ids->second;
    }
  }
  // What an exiting process no longer has reads as nothing (see the end).
  bool exeShown = false, argvShown = false, envShown = false, cwdShown = false;
  if (auto exe = readLinkAt(dir.get(), "exe")) {
    exeShown = true;
    auto [path, deleted] = stripDeleted(*exe);
    info.path = std::move(path);
    info.pathDeleted = deleted;
    info.pathOnHost = false;
    struct stat st {};
    // stat through the link reaches the image itself, wherever the process sees it.
    if (fstatat(dir.get(), "exe", &st, 0) == 0) {
      info.pathOnHost = isFileAt(info.path, st.st_dev, st.st_ino);
      info.image.device = st.st_dev;
      info.image.inode = st.st_ino;
      info.image.size = st.st_size;
      info.image.mtimeNs =
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      info.image.ctimeNs =
          static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
      info.imageKnown = true;
      info.imageFsType = imageFilesystemAt(dir.get());
      if (info.exeInode == 0) info.exeInode = st.st_ino;
    }
  }
  if (auto cmdline = readAt(dir.get(), "cmdline")) {
    // Empty for kernel threads (and exiting processes: see the end): what the exec event
    // gave stays.
    if (!cmdline->empty()) {
      argvShown = true;
      info.argv = splitNulSeparated(*cmdline);
      info.argvTruncated = cmdline->size() >= kMaxProcFile;
      info.argvCut = false;
    }
  }
  if (auto environ = readAt(dir.get(), "environ")) {
    info.env = splitNulSeparated(*environ);
    info.envKnown = true;
    info.envTruncated = environ->size() >= kMaxProcFile;
    envShown = !environ->empty();
  }
  if (auto cwd = readLinkAt(dir.get(), "cwd")) {
    info.cwd = stripDeleted(*cwd).first;
    cwdShown = true;
  }
  if (auto root = readLinkAt(dir.get(), "root")) info.root = *root;
  if (auto cgroup = readAt(dir.get(), "cgroup", 16384)) {
    if (auto path = parseCgroupV2(*cgroup)) info.cgroupPath = std::move(*path);
  }
  // The same process still? (A pid reused meanwhile would show another start time; reads
  // through the old directory fd fail rather than describe the new process, but be sure.)
  auto again = readAt(dir.get(), "stat", 4096);
  if (!again) return false;
  auto statAgain = base::parseStat(*again);
  if (!statAgain || statAgain->startTicks != stat->startTicks) return false;
  // A process that began to exit before or during the reads shows no image, argv,
  // environment or working directory from the moment it let go of them (the reads of each are
  // whole or empty): one that came back empty tells what the process no longer had, not what
  // it ran. An empty argv would match no profile's `cmdline`, a deny's included, so a denied
  // program that sends and exits at once would be judged by its path alone.
  if (statAgain->exiting() && !(exeShown && argvShown && envShown && cwdShown)) return false;
  if (lastStat) *lastStat = std::move(*statAgain);
  return true;
}

std::optional<std::string> ProcReader::exePath(std::uint32_t pid, std::uint64_t startTicks) const {
  auto opened = base::openFile(root_ + "/" + std::to_string(pid), O_RDONLY | O_DIRECTORY);
  if (!opened) return std::nullopt;
  const base::UniqueFd dir = std::move(*opened);
  auto exe = readLinkAt(dir.get(), "exe");
  if (!exe) return std::nullopt;
  struct stat image {};
  const bool imageKnown = fstatat(dir.get(), "exe", &image, 0) == 0;
  auto text = readAt(dir.get(), "stat", 4096);
  auto stat = text ? base::parseStat(*text) : std::nullopt;
  if (!stat || stat->startTicks != startTicks) return std::nullopt;
  std::string path = stripDeleted(*exe).first;
  if (!imageKnown || !isFileAt(path, image.st_dev, image.st_ino)) return std::string();
  return path;
}

std::optional<ProcessDescription> ProcReader::describe(std::uint32_t pid) const {
  ProcessDescription info;
  info.key.pid = pid;
  info.source = ProcessSource::kProcScan;
  if (!complete(info)) return std::nullopt;
  info.complete = true;
  return info;
}

std::vector<std::uint64_t> ProcReader::socketInodes(std::uint32_t pid) const {
  std::vector<std::uint64_t> inodes;
  auto dirFd = base::openFile(root_ + "/" + std::to_string(pid) + "/fd", O_RDONLY | O_DIRECTORY);
  if (!dirFd) return inodes;
  // The DIR stream gets a descriptor of its own: readLinkAt keeps using dirFd meanwhile.
  base::UniqueFd copy(fcntl(dirFd->get(), F_DUPFD_CLOEXEC, 0));
  Dir dir(copy ? fdopendir(copy.get()) : nullptr);
  if (!dir) return inodes;
  (void)copy.release();  // the stream closes it
  constexpr std::string_view kPrefix = "socket:[";
  while (dirent* entry = readdir(dir.get())) {
    if (entry->d_name[0] == '.') continue;
    auto link = readLinkAt(dirFd->get(), entry->d_name);
    if (!link || !link->starts_with(kPrefix) || !link->ends_with("]")) continue;
    std::uint64_t inode = 0;
    const std::string_view digits =
        std::string_view(*link).substr(kPrefix.size(), link->size() - kPrefix.size() - 1);
    if (parseNumber(digits, inode)) inodes.push_back(inode);
  }
  return inodes;
}

base::Result<base::UniqueFd> ProcReader::openImage(std::uint32_t pid) const {
  return base::openFile(root_ + "/" + std::to_string(pid) + "/exe", O_RDONLY);
}

}  // namespace warden::engine
