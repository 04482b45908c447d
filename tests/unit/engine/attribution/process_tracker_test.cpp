#include "engine/attribution/process_tracker.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "tests/support/eventually.h"
#include "tests/support/temp_dir.h"

namespace warden::engine {
namespace {

using warden::testing::eventually;
using warden::testing::TempDir;
using namespace std::string_literals;
using namespace std::string_view_literals;

std::uint64_t nsOfTicks(std::uint64_t ticks) {
  return ticks * (1'000'000'000ull / clockTicksPerSecond());
}

std::uint64_t inodeOf(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return st.st_ino;
}

// The device of `path` as the kernel's exec event gives it (major << 20 | minor).
std::uint32_t kernelDevOf(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return major(st.st_dev) << 20 | minor(st.st_dev);
}

// Synthetic /proc plus hand-made kernel events: the tracker without a kernel.
class TrackerTest : public ::testing::Test {
 protected:
  void fakeProcess(std::uint32_t pid, std::uint32_t ppid, std::uint64_t ticks,
                   const std::filesystem::path& exe, std::string_view cmdline,
                   std::string_view environ = "PATH=/bin\0"sv) {
    const std::string p = std::to_string(pid);
    dir_.write(p + "/stat", p + " (x) S " + std::to_string(ppid) +
                                " 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 " + std::to_string(ticks) +
                                " 0 0\n");
    dir_.write(p + "/status", "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n");
    dir_.write(p + "/cmdline", cmdline);
    dir_.write(p + "/environ", environ);
    dir_.write(p + "/cgroup", "0::/system.slice/demo.service\n");
    std::filesystem::create_symlink(exe, dir_.path() / p / "exe");
    std::filesystem::create_symlink("/srv", dir_.path() / p / "cwd");
    std::filesystem::create_symlink("/", dir_.path() / p / "root");
  }

  static warden_exec_event execEvent(std::uint32_t pid, std::uint64_t ticks, std::uint64_t inode,
                                     std::string_view filename, std::string_view args,
                                     std::uint32_t ppid = 1, std::uint64_t parentTicks = 1,
                                     std::uint32_t kernelDev = 0x0fe00000,
                                     std::uint64_t execId = 0) {
    warden_exec_event event{};
    event.head.kind = WARDEN_EVENT_EXEC;
    event.head.size = sizeof event;
    event.owner.tgid = event.owner.pid = pid;
    event.owner.start_time_ns = nsOfTicks(ticks);
    event.owner.ppid = ppid;
    event.owner.parent_start_time_ns = nsOfTicks(parentTicks);
    event.owner.uid = 1000;
    event.owner.exe_ino = inode;
    event.owner.exe_dev = kernelDev;
    event.owner.exec_id = execId;
    std::strncpy(event.owner.comm, "x", sizeof event.owner.comm);
    std::memcpy(event.filename, filename.data(), std::min(filename.size(), sizeof event.filename));
    std::memcpy(event.args, args.data(), args.size());
    event.args_len = static_cast<__u32>(args.size());
    return event;
  }

  static warden_fork_event forkEvent(std::uint32_t parent, std::uint64_t parentTicks,
                                     std::uint32_t child, std::uint64_t childTicks) {
    warden_fork_event event{};
    event.head.kind = WARDEN_EVENT_FORK;
    event.head.size = sizeof event;
    event.parent_tgid = parent;
    event.parent_start_time_ns = nsOfTicks(parentTicks);
    event.child_tgid = child;
    event.child_start_time_ns = nsOfTicks(childTicks);
    return event;
  }

  // A socket call's record of a child of ppid: generation execId, forked at forkExecId.
  static warden_owner childOwner(std::uint32_t pid, std::uint64_t ticks, std::uint32_t ppid,
                                 std::uint64_t parentTicks, std::uint64_t inode,
                                 std::uint32_t kernelDev, std::uint64_t execId,
                                 std::uint64_t forkExecId) {
    warden_owner owner{};
    owner.tgid = owner.pid = pid;
    owner.start_time_ns = nsOfTicks(ticks);
    owner.ppid = ppid;
    owner.parent_start_time_ns = nsOfTicks(parentTicks);
    owner.exe_ino = inode;
    owner.exe_dev = kernelDev;
    owner.exec_id = execId;
    owner.fork_exec_id = forkExecId;
    return owner;
  }

  // What a verdict asks for when the flow map names a process the table lacks: described by
  // the tracker's thread (started by the caller before the process appeared in the fake /proc,
  // so that the start's scan did not describe it) and stopped here.
  std::shared_ptr<const ProcessDescription> describeOnRequest(
      std::uint32_t pid, std::uint64_t ticks, const std::filesystem::path& exe,
      std::uint32_t ppid = 0, std::uint64_t parentTicks = 0, std::uint64_t execId = 0) {
    warden_owner owner{};
    owner.tgid = owner.pid = pid;
    owner.start_time_ns = nsOfTicks(ticks);
    owner.ppid = ppid;
    owner.parent_start_time_ns = nsOfTicks(parentTicks);
    owner.exe_ino = inodeOf(exe);
    owner.exe_dev = 0x0fe00000;
    owner.exec_id = execId;
    tracker_.requestDescribe(owner);
    auto described = table_.waitComplete({pid, ticks}, std::chrono::seconds(5), owner.exe_dev,
                                         owner.exe_ino, owner.exec_id);
    tracker_.stop();
    return described;
  }

  // What sock_diag attribution asks for: a process known by pid and start time alone.
  std::shared_ptr<const ProcessDescription> describeOnDemand(std::uint32_t pid,
                                                             std::uint64_t ticks) {
    warden_owner owner{};
    owner.tgid = owner.pid = pid;
    owner.start_time_ns = nsOfTicks(ticks);
    tracker_.requestDescribe(owner);
    return table_.waitComplete({pid, ticks}, std::chrono::seconds(5));
  }

  template <typename Event>
  void feed(const Event& event) {
    tracker_.handleRecord(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(&event), sizeof event));
  }

  // What exec_windows says of every process (set before the tracker's thread runs): by
  // default that none exec'd since the programs were attached.
  static warden_exec_window window(std::uint64_t execId, std::uint32_t begun, std::uint32_t ended) {
    warden_exec_window w{};
    w.exec_id = execId;
    w.begun = begun;
    w.ended = ended;
    return w;
  }
  // A process whose last exec (generation `execId`) put `exe` in place, and is done.
  static warden_exec_window execWindow(std::uint64_t execId, const std::filesystem::path& exe) {
    warden_exec_window done = window(execId, 1, 1);
    done.exe_ino = inodeOf(exe);
    done.exe_dev = 0x0fe00000;
    return done;
  }
  // A process forked at generation `execId`, not exec'd since: the image its fork passed on.
  static warden_exec_window forkWindow(std::uint64_t execId, const std::filesystem::path& exe) {
    warden_exec_window forked = window(execId, 0, 0);
    forked.exe_ino = inodeOf(exe);
    forked.exe_dev = 0x0fe00000;
    return forked;
  }
  std::optional<warden_exec_window> window_ = warden_exec_window{};
  // Read first, one a read, before window_ (a window that changes between two reads).
  std::deque<std::optional<warden_exec_window>> nextWindows_;
  std::optional<warden_exec_window> readWindow() {
    if (nextWindows_.empty()) return window_;
    auto next = nextWindows_.front();
    nextWindows_.pop_front();
    return next;
  }

  // The exec_windows entries the tracker forgot (its thread, or the test's), as (tgid, start).
  std::vector<std::pair<std::uint32_t, std::uint64_t>> forgotten() {
    std::lock_guard lock(forgottenMutex_);
    return forgotten_;
  }
  // What exec_windows holds entries for (set before the tracker's thread runs; then its
  // thread's), and the batches the tracker asked for them in.
  std::vector<warden_exec_window_key> windowKeys_;
  std::atomic<int> keyBatches_{0};
  std::vector<warden_exec_window_key> keysAfter(const warden_exec_window_key* after,
                                                std::size_t max) {
    ++keyBatches_;
    auto it = windowKeys_.begin();
    if (after) {
      it = std::find_if(windowKeys_.begin(), windowKeys_.end(), [&](const auto& key) {
        return key.tgid == after->tgid && key.start_time_ns == after->start_time_ns;
      });
      it = it == windowKeys_.end() ? windowKeys_.begin() : it + 1;
    }
    std::vector<warden_exec_window_key> out;
    for (; it != windowKeys_.end() && out.size() < max; ++it) out.push_back(*it);
    return out;
  }
  std::mutex forgottenMutex_;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> forgotten_;

  void forget(const warden_exec_window_key& key) {
    std::erase_if(windowKeys_, [&](const auto& kept) {
      return kept.tgid == key.tgid && kept.start_time_ns == key.start_time_ns;
    });
    std::lock_guard lock(forgottenMutex_);
    forgotten_.emplace_back(key.tgid, key.start_time_ns);
  }

  // exec_windows as the test sets it: windows from readWindow(), entries in windowKeys_.
  class FakeExecWindows : public ExecWindows {
   public:
    explicit FakeExecWindows(TrackerTest* test) : test_(test) {}
    std::optional<warden_exec_window> execWindow(std::uint32_t, std::uint64_t) const override {
      return test_->readWindow();
    }
    void forgetExecWindow(const warden_exec_window_key& key) const override { test_->forget(key); }
    std::vector<warden_exec_window_key> execWindowKeys(const warden_exec_window_key* after,
                                                       std::size_t max) const override {
      return test_->keysAfter(after, max);
    }

   private:
    TrackerTest* test_;
  };
  FakeExecWindows execWindows_{this};

  TempDir dir_;
  // A cgroup v2 tree and a Flatpak installation of the test's own (it stands for root).
  bool madeTrees_ = [this] {
    dir_.write("cgroup/system.slice/demo.service/cgroup.procs", "");
    dir_.write("flatpak/app/.keep", "");
    return true;
  }();
  ProcessTable table_;
  ProcessTracker tracker_{table_, ProcessTracker::Options{
                                      .procRoot = dir_.path().string(),
                                      .procReads = {.deadline = std::chrono::milliseconds(100)},
                                      .execWindows = &execWindows_,
                                      // (at once, whatever the machine's uptime)
                                      .sweepExecWindowsEveryNs = 0,
                                      .cgroupRoot = (dir_.path() / "cgroup").string(),
                                      .flatpakRoot = (dir_.path() / "flatpak").string(),
                                      .trustedOwner = static_cast<std::uint32_t>(getuid()),
                                  }};
};

TEST_F(TrackerTest, ExecIsCompletedFromProc) {
  const auto exe = dir_.write("bin/python3.11", "#!");
  const std::string app = dir_.write("srv/app.py", "print()").string();
  fakeProcess(200, 1, 5000, exe, "python3\0"s + app + "\0--port\0"s + "8080\0"s);
  feed(execEvent(200, 5000, inodeOf(exe), "/usr/bin/python3",
                 "python3\0"s + app + "\0--port\0"s + "8080\0"s));
  auto info = table_.find({200, 5000});
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->source, ProcessSource::kExecEvent);
  EXPECT_EQ(info->path, exe.string());
  EXPECT_EQ(info->argv, (std::vector<std::string>{"python3", app, "--port", "8080"}));
  EXPECT_EQ(info->envValue("PATH"), "/bin");
  EXPECT_EQ(info->cwd, "/srv");
  EXPECT_EQ(info->cgroupPath, "/system.slice/demo.service");
  EXPECT_EQ(info->tags, (std::vector<std::string>{"systemd:demo.service", "script:" + app}));
  EXPECT_EQ(info->exeKernelDev, 0x0fe00000u);
  EXPECT_TRUE(info->pathOnHost);
  EXPECT_EQ(info->match->path, exe.string());
  EXPECT_EQ(tracker_.counters().procCompleted.load(), 1u);
}

TEST_F(TrackerTest, ProcessGoneBeforeProcKeepsTheKernelsDescription) {
  const auto exe = dir_.write("bin/client", "ELF");
  // No /proc entry: the process exited before the tracker got to it.
  feed(execEvent(300, 7000, inodeOf(exe), exe.string(), "client\0-4\0host\0"s, 1, 1,
                 kernelDevOf(exe)));
  auto info = table_.find({300, 7000});
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->path, exe.string());  // the execve path, verified by its device and inode
  EXPECT_TRUE(info->pathOnHost);
  EXPECT_EQ(info->match->path, exe.string());
  EXPECT_EQ(info->argv, (std::vector<std::string>{"client", "-4", "host"}));
  EXPECT_FALSE(info->envKnown);  // an env key can then never match
  EXPECT_EQ(info->uid, 1000u);
  EXPECT_EQ(tracker_.counters().procGone.load(), 1u);
}

// A read of /proc/PID the kernel keeps waiting (a process stuck in execve holds the lock its
// environ is read under; here a FIFO, whose open waits for a writer): the process is described
// by its exec event, as one gone before /proc was read, and the tracker goes on to the next.
TEST_F(TrackerTest, AProcessWhoseProcReadWaitsIsDescribedByItsEventAndHoldsUpNothing) {
  const auto exe = dir_.write("bin/client", "ELF");
  fakeProcess(310, 1, 7100, exe, "client\0"s, "ROLE=stuck\0"sv);
  const auto fifo = dir_.path() / "310" / "environ";
  std::filesystem::remove(fifo);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  feed(execEvent(310, 7100, inodeOf(exe), exe.string(), "client\0"s, 1, 1, kernelDevOf(exe)));
  auto info = table_.find({310, 7100});
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->path, exe.string());
  EXPECT_FALSE(info->envKnown);
  EXPECT_EQ(tracker_.counters().procGone.load(), 1u);
  EXPECT_EQ(tracker_.reader().counters().stuck, 1u);

  // Another process is read meanwhile; the stuck one is not read again while its read waits.
  fakeProcess(311, 1, 7101, exe, "client\0"s, "ROLE=fine\0"sv);
  feed(execEvent(311, 7101, inodeOf(exe), exe.string(), "client\0"s, 1, 1, kernelDevOf(exe)));
  auto other = table_.find({311, 7101});
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->envValue("ROLE"), "fine");
  auto again =
      execEvent(310, 7100, inodeOf(exe), exe.string(), "client\0"s, 1, 1, kernelDevOf(exe));
  again.head.time_ns = 2;
  feed(again);
  EXPECT_EQ(tracker_.reader().counters().refused, 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));

  // The kernel lets it go: it is read again.
  const int writer = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(writer, 0);
  close(writer);
  for (int i = 0; i < 1000 && tracker_.reader().counters().stuck != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(tracker_.reader().counters().stuck, 0u);
}

// A process of thousands of arguments and variables (each costs it a few bytes of stack) is
// kept at a bounded cost: the matcher sees its whole command line and the log its whole argv,
// explain and prompts the first 1,024 arguments, and profiles its first 1,024 variables; its
// forks see what it did.
TEST_F(TrackerTest, AHugeArgvAndEnvironmentAreKeptAtABoundedCost) {
  const auto exe = dir_.write("bin/heavy", "ELF");
  std::string args = "heavy\0"s, joined = "heavy", environ;
  for (int i = 0; i < 3000; ++i) {
    args += "a\0"s;
    joined += " a";
  }
  args += "--last\0"s;
  joined += " --last";
  for (int i = 0; i < 2000; ++i) environ += "V" + std::to_string(i) + "=x" + '\0';
  fakeProcess(320, 1, 7200, exe, args, environ);
  auto exec = execEvent(320, 7200, inodeOf(exe), exe.string(), "heavy\0"s, 1, 1, kernelDevOf(exe));
  exec.args_truncated = 1;  // the kernel's record holds the first arguments only
  feed(exec);
  auto info = table_.find({320, 7200});
  ASSERT_NE(info, nullptr);
  ASSERT_NE(info->match, nullptr);
  EXPECT_EQ(info->match->cmdline, joined);
  EXPECT_EQ(info->argv.size(), ProcessDescription::kMaxKeptArgs);
  EXPECT_TRUE(info->argvCut);
  ASSERT_NE(info->logged, nullptr);
  EXPECT_EQ(info->logged->argv, args);
  ASSERT_TRUE(info->match->env);
  EXPECT_EQ(info->match->env->size(), ProcessDescription::kMaxKeptVariables);
  // Variables past those kept may be what an `env` key names: the matcher is told. The
  // command line was read whole (/proc, not the kernel's cut record).
  EXPECT_TRUE(info->match->envCut);
  EXPECT_FALSE(info->match->cmdlineCut);

  feed(forkEvent(320, 7200, 321, 7201));
  auto child = table_.find({321, 7201});
  ASSERT_NE(child, nullptr);
  ASSERT_NE(child->match, nullptr);
  EXPECT_EQ(child->match->cmdline, joined);
  EXPECT_TRUE(child->match->envCut);
  EXPECT_FALSE(child->match->cmdlineCut);
  ASSERT_NE(child->logged, nullptr);
  EXPECT_EQ(child->logged->argv, args);
}

// A command line and an environment longer than what /proc is read of (256 KiB): the matcher
// is told both were cut, the environment's last variable read (perhaps cut inside its value) is
// left out, and an interpreter's script is not named (the unread part may set PYTHONINSPECT).
TEST_F(TrackerTest, ACommandLineAndEnvironmentReadInPartAreMarkedCut) {
  const auto exe = dir_.write("bin/python3", "ELF");
  const auto script = dir_.write("app/run.py", "print()");
  const std::string pad(100'000, 'x');
  const std::string args =
      "python3\0"s + script.string() + '\0' + pad + '\0' + pad + '\0' + pad + '\0';
  const std::string environ =
      "A=" + pad + '\0' + "B=" + pad + '\0' + "LAST=" + pad + '\0' + "PYTHONINSPECT=1" + '\0';
  fakeProcess(330, 1, 7300, exe, args, environ);
  auto exec =
      execEvent(330, 7300, inodeOf(exe), exe.string(), "python3\0"s, 1, 1, kernelDevOf(exe));
  exec.args_truncated = 1;
  feed(exec);
  auto info = table_.find({330, 7300});
  ASSERT_NE(info, nullptr);
  ASSERT_NE(info->match, nullptr);
  EXPECT_TRUE(info->argvTruncated);
  EXPECT_TRUE(info->match->cmdlineCut);
  EXPECT_TRUE(info->match->envCut);
  ASSERT_TRUE(info->match->env);
  EXPECT_EQ(info->match->env->size(), 2u);  // A and B; LAST was cut inside its value
  EXPECT_EQ(info->match->env->find("LAST"), info->match->env->end());
  for (const std::string& tag : info->tags) EXPECT_FALSE(tag.starts_with("script:")) << tag;
  EXPECT_TRUE(info->scriptTagCut);  // what was read names the script: a key on it is open
  EXPECT_TRUE(info->match->scriptTagCut);

  // Read whole, the same script is named.
  const std::string shortArgs = "python3\0"s + script.string() + '\0';
  fakeProcess(331, 1, 7301, exe, shortArgs, "A=1\0"s);
  feed(execEvent(331, 7301, inodeOf(exe), exe.string(), shortArgs, 1, 1, kernelDevOf(exe)));
  auto whole = table_.find({331, 7301});
  ASSERT_NE(whole, nullptr);
  ASSERT_NE(whole->match, nullptr);
  EXPECT_FALSE(whole->match->cmdlineCut);
  EXPECT_FALSE(whole->match->envCut);
  EXPECT_FALSE(whole->scriptTagCut);
  EXPECT_NE(std::ranges::find(whole->tags, "script:" + script.string()), whole->tags.end());
}

TEST_F(TrackerTest, UnverifiablePathIsLeftEmpty) {
  const auto other = dir_.write("bin/other", "x");
  feed(execEvent(301, 7001, inodeOf(other) + 12345, other.string(), "a\0"s));
  EXPECT_EQ(table_.find({301, 7001})->path, "");
  feed(execEvent(302, 7002, 1, "./relative", "a\0"s));
  EXPECT_EQ(table_.find({302, 7002})->path, "");
  // The same inode on another device (a file of a tmpfs in the exec's own mount namespace
  // can be given any inode number by creating enough files) is not the file.
  feed(execEvent(303, 7003, inodeOf(other), other.string(), "a\0"s, 1, 1, kernelDevOf(other) + 1));
  EXPECT_EQ(table_.find({303, 7003})->path, "");
  EXPECT_FALSE(table_.find({303, 7003})->pathOnHost);
  // Known by its socket alone, for the policy: `unknown`, never the engine default that a
  // profile of its path (a refusing one, say) would have overridden.
  for (const std::uint32_t pid : {301u, 302u, 303u}) {
    EXPECT_EQ(table_.find({pid, pid + 6700})->source, ProcessSource::kOwnerOnly) << pid;
  }
}

// From outside, a binary bind-mounted over a path in a mount namespace of its own looks like
// this: /proc/PID/exe names the path, and following the link reaches another file than the
// host's at that path. (Played here by the " (deleted)" suffix, which the reader strips: the
// link's target is the planted image, the stripped path the host's file.)
TEST_F(TrackerTest, PathWhereTheHostHasAnotherFileMatchesNoPathKey) {
  const auto host = dir_.write("bin/curl", "the host's curl");
  const auto planted = dir_.write("bin/curl (deleted)", "another program");
  fakeProcess(600, 1, 300, planted, "curl\0https://example.org\0"s);
  feed(execEvent(600, 300, inodeOf(planted), host.string(), "curl\0https://example.org\0"s));
  auto info = table_.find({600, 300});
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->path, host.string());  // what the process sees, for explain and the log
  EXPECT_FALSE(info->pathOnHost);
  ASSERT_NE(info->match, nullptr);
  EXPECT_FALSE(info->match->path);  // path and path_glob keys cannot hold
  EXPECT_EQ(info->match->cmdline, "curl https://example.org");

  // Its children cannot claim it as parent_path or ancestor_path either.
  feed(forkEvent(600, 300, 601, 310));
  auto child = table_.find({601, 310});
  ASSERT_NE(child, nullptr);
  EXPECT_FALSE(child->match->path);
  EXPECT_EQ(child->ancestorPaths, (std::vector<std::string>{""}));
  const auto grandchildExe = dir_.write("bin/tool", "t");
  fakeProcess(602, 601, 320, grandchildExe, "tool\0"s);
  feed(execEvent(602, 320, inodeOf(grandchildExe), grandchildExe.string(), "tool\0"s, 601, 310));
  auto grandchild = table_.find({602, 320});
  ASSERT_NE(grandchild, nullptr);
  EXPECT_TRUE(grandchild->pathOnHost);
  EXPECT_EQ(grandchild->match->path, grandchildExe.string());
  EXPECT_EQ(grandchild->ancestorPaths.at(0), "");
  EXPECT_EQ(grandchild->ancestorPaths.at(1), "");
}

TEST_F(TrackerTest, ProcShowingALaterImageIsNotMixedIn) {
  const auto first = dir_.write("bin/wrapper", "1");
  const auto second = dir_.write("bin/real", "2");
  // /proc already shows the second image when the first exec event is handled.
  fakeProcess(400, 1, 9000, second, "real\0"s);
  feed(execEvent(400, 9000, inodeOf(first), first.string(), "wrapper\0--go\0"s));
  auto info = table_.find({400, 9000});
  EXPECT_EQ(info->path, first.string());
  EXPECT_EQ(info->argv, (std::vector<std::string>{"wrapper", "--go"}));
  feed(execEvent(400, 9000, inodeOf(second), second.string(), "real\0"s));
  EXPECT_EQ(table_.find({400, 9000})->path, second.string());
  // The flow recorded while the wrapper ran still finds the wrapper.
  EXPECT_EQ(table_.find({400, 9000}, 0x0fe00000, inodeOf(first))->path, first.string());
}

TEST_F(TrackerTest, ProcShowingAnotherFileWithTheSameInodeNumberIsNotMixedIn) {
  // The exec ran a file of another filesystem that has the allowed binary's inode number (a
  // tmpfs in the process's own mount namespace), then exec'd the allowed binary before the
  // tracker read /proc: the ctime tells the two apart.
  const auto allowed = dir_.write("bin/allowed", "ELF");
  struct stat st {};
  ASSERT_EQ(stat(allowed.c_str(), &st), 0);
  const std::uint64_t ctime = st.st_ctim.tv_sec * 1'000'000'000ull + st.st_ctim.tv_nsec;
  fakeProcess(410, 1, 9100, allowed, "allowed\0"s);
  auto event = execEvent(410, 9100, inodeOf(allowed), "/mnt/evil", "evil\0"s);
  event.owner.exe_ctime_ns = ctime + 1;
  feed(event);
  auto info = table_.find({410, 9100});
  ASSERT_NE(info, nullptr);
  EXPECT_NE(info->path, allowed.string());
  EXPECT_EQ(info->argv, (std::vector<std::string>{"evil"}));
  EXPECT_EQ(tracker_.counters().procGone.load(), 1u);
  // The same record with the file's own ctime is that file.
  fakeProcess(411, 1, 9200, allowed, "allowed\0"s);
  event = execEvent(411, 9200, inodeOf(allowed), allowed.string(), "allowed\0"s);
  event.owner.exe_ctime_ns = ctime;
  feed(event);
  EXPECT_EQ(table_.find({411, 9200})->path, allowed.string());
}

TEST_F(TrackerTest, AScriptTheProcessSeesAsAnotherFileGetsNoTag) {
  // In a mount namespace of its own, another file is bind-mounted over the trusted script:
  // the process's root shows a different file at the script's path.
  const auto exe = dir_.write("bin/python3.11", "#!");
  const std::string trusted = dir_.write("srv/trusted.py", "print()").string();
  dir_.write("otherroot" + trusted, "import evil");
  fakeProcess(210, 1, 5100, exe, "python3\0"s + trusted + "\0"s);
  std::filesystem::remove(dir_.path() / "210" / "root");
  std::filesystem::create_symlink(dir_.path() / "otherroot", dir_.path() / "210" / "root");
  feed(execEvent(210, 5100, inodeOf(exe), "/usr/bin/python3", "python3\0"s + trusted + "\0"s));
  auto info = table_.find({210, 5100});
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->tags, (std::vector<std::string>{"systemd:demo.service"}));
}

// A script named relative to the working directory was opened in the one its exec left: a
// process in another one now (a subshell forked after a `cd`, described from /proc) gets no
// tag for it, nor one whose directory another process shared at the exec (clone CLONE_FS).
TEST_F(TrackerTest, ARelativeScriptIsResolvedOnlyInTheDirectoryTheExecLeft) {
  const auto exe = dir_.write("bin/bash", "#!");
  const std::string trusted = dir_.write("trusted/job.sh", "echo").string();
  const std::string evil = dir_.write("evil/job.sh", "echo").string();
  struct statx evilDir {};
  ASSERT_EQ(
      ::statx(AT_FDCWD, (dir_.path() / "evil").c_str(), 0, STATX_INO | STATX_MNT_ID, &evilDir), 0);
  warden_exec_window exec = execWindow(3, exe);
  exec.cwd_mnt_id = static_cast<std::uint32_t>(evilDir.stx_mnt_id);
  exec.cwd_ino = evilDir.stx_ino;
  window_ = exec;
  const auto run = [&](std::uint32_t pid, const std::string& cwd) {
    fakeProcess(pid, 1, pid, exe, "bash\0job.sh\0"s);
    std::filesystem::remove(dir_.path() / std::to_string(pid) / "cwd");
    std::filesystem::create_symlink(cwd, dir_.path() / std::to_string(pid) / "cwd");
    feed(execEvent(pid, pid, inodeOf(exe), exe.string(), "bash\0job.sh\0"s, 1, 1, 0x0fe00000, 3));
    auto info = table_.find({pid, pid});
    return info ? info->tags : std::vector<std::string>{"not described"};
  };
  EXPECT_EQ(run(230, dir_.path() / "evil"),
            (std::vector<std::string>{"systemd:demo.service", "script:" + evil}));
  EXPECT_EQ(run(231, dir_.path() / "trusted"), (std::vector<std::string>{"systemd:demo.service"}))
      << trusted;
  exec.cwd_shared = 1;
  window_ = exec;
  EXPECT_EQ(run(232, dir_.path() / "evil"), (std::vector<std::string>{"systemd:demo.service"}));
  // A script named by its absolute path is the file it names, wherever the process is.
  fakeProcess(233, 1, 233, exe, "bash\0"s + trusted + "\0"s);
  feed(execEvent(233, 233, inodeOf(exe), exe.string(), "bash\0"s + trusted + "\0"s, 1, 1,
                 0x0fe00000, 3));
  ASSERT_NE(table_.find({233, 233}), nullptr);
  EXPECT_EQ(table_.find({233, 233})->tags,
            (std::vector<std::string>{"systemd:demo.service", "script:" + trusted}));
}

TEST_F(TrackerTest, ForkCopiesTheParentAndExitMarks) {
  const auto exe = dir_.write("bin/server", "s");
  fakeProcess(500, 1, 100, exe, "server\0"s);
  feed(execEvent(500, 100, inodeOf(exe), exe.string(), "server\0"s));
  feed(forkEvent(500, 100, 501, 150));
  auto child = table_.find({501, 150});
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->source, ProcessSource::kForkEvent);
  EXPECT_EQ(child->path, exe.string());
  EXPECT_EQ(child->ppid, 500u);
  EXPECT_EQ(child->ancestorPaths.front(), exe.string());

  warden_exit_event exit{};
  exit.head.kind = WARDEN_EVENT_EXIT;
  exit.head.time_ns = 42;
  exit.tgid = 501;
  exit.start_time_ns = nsOfTicks(150);
  feed(exit);
  EXPECT_TRUE(table_.exited({501, 150}));
  EXPECT_FALSE(table_.exited({500, 100}));
  EXPECT_EQ(tracker_.counters().exits.load(), 1u);
}

TEST_F(TrackerTest, ScanInsertsParentsBeforeChildren) {
  const auto init = dir_.write("bin/init", "i");
  const auto shell = dir_.write("bin/sh", "s");
  const auto tool = dir_.write("bin/tool", "t");
  fakeProcess(1, 0, 1, init, "init\0"s);
  fakeProcess(40, 1, 20, shell, "sh\0"s);
  fakeProcess(41, 40, 30, tool, "tool\0"s);
  tracker_.scanProc();
  auto info = table_.find({41, 30});
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->parentStartTicks, 20u);
  EXPECT_EQ(info->ancestorPaths, (std::vector<std::string>{shell.string(), init.string()}));
  EXPECT_EQ(tracker_.counters().scanned.load(), 3u);
}

// Attack review: a shell forks a helper and execs a trusted launcher made a subreaper (or init
// of a pid namespace of one's own); the helper forks the tool's process and exits, and the
// launcher adopts it. Its adopter did not start it: its ancestry is its forker's.
TEST_F(TrackerTest, AnAdoptedProcessIsLentNothingByItsAdopter) {
  const auto shell = dir_.write("bin/sh", "s");
  const auto launcher = dir_.write("bin/launcher", "l");
  const auto tool = dir_.write("bin/tool", "t");
  fakeProcess(700, 1, 70, shell, "sh\0"s);
  fakeProcess(701, 1, 71, launcher, "launcher\0"s);
  tracker_.scanProc();
  feed(forkEvent(700, 70, 702, 72));
  // Its exec record names the launcher, and no fork generation (an adoptive parent).
  feed(execEvent(702, 72, inodeOf(tool), tool.string(), "tool\0"s, 701, 71, kernelDevOf(tool)));
  auto adopted = table_.find({702, 72});
  ASSERT_NE(adopted, nullptr);
  EXPECT_EQ(adopted->ppid, 701u);
  EXPECT_EQ(adopted->ancestorPaths, std::vector<std::string>{shell.string()});
  ASSERT_NE(adopted->match, nullptr);
  // Control: a process the launcher forked itself is its child.
  feed(forkEvent(701, 71, 703, 73));
  feed(execEvent(703, 73, inodeOf(tool), tool.string(), "tool\0"s, 701, 71, kernelDevOf(tool)));
  auto child = table_.find({703, 73});
  ASSERT_NE(child, nullptr);
  ASSERT_FALSE(child->ancestorPaths.empty());
  EXPECT_EQ(child->ancestorPaths.front(), launcher.string());
}

// Attack review: the launcher adopts an orphan (its forker, a helper, exited) that execs a
// shell, which starts the tool as its child. The walk up from the tool reaches the orphan,
// whose description names its adopter as its parent: it goes on from the orphan's forker.
TEST_F(TrackerTest, AnAncestorsAdopterIsNotLentToWhatItStarts) {
  const auto shell = dir_.write("bin/sh", "s");
  const auto launcher = dir_.write("bin/launcher", "l");
  const auto stage = dir_.write("bin/stage", "g");
  const auto tool = dir_.write("bin/tool", "t");
  fakeProcess(800, 1, 80, shell, "sh\0"s);
  fakeProcess(801, 1, 81, launcher, "launcher\0"s);
  tracker_.scanProc();
  feed(forkEvent(800, 80, 802, 82));  // the helper
  feed(forkEvent(802, 82, 803, 83));  // the orphan-to-be
  // Adopted by the launcher, it execs: its record names the launcher and no fork generation.
  feed(execEvent(803, 83, inodeOf(stage), stage.string(), "stage\0"s, 801, 81, kernelDevOf(stage),
                 2));
  warden_fork_event fork = forkEvent(803, 83, 804, 84);
  fork.exec_id = 2;
  feed(fork);
  feed(execEvent(804, 84, inodeOf(tool), tool.string(), "tool\0"s, 803, 83, kernelDevOf(tool), 3));
  auto info = table_.find({804, 84});
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->ancestorPaths,
            (std::vector<std::string>{stage.string(), shell.string(), shell.string()}));
}

// The same, where the table holds no record of the orphan's fork (a flood of processes pushed
// it out, or its event was lost): its exec_windows entry names the helper that forked it, and
// its ancestry, and its children's, is taken from there, not from its adopter.
TEST_F(TrackerTest, AnAdoptedProcessWhoseForkTheTableLostIsLentNothingByItsAdopter) {
  const auto shell = dir_.write("bin/sh", "s");
  const auto launcher = dir_.write("bin/launcher", "l");
  const auto stage = dir_.write("bin/stage", "g");
  const auto tool = dir_.write("bin/tool", "t");
  fakeProcess(810, 1, 80, shell, "sh\0"s);
  fakeProcess(811, 1, 81, launcher, "launcher\0"s);
  tracker_.scanProc();
  const auto forkedBy = [](std::uint32_t pid, std::uint64_t ticks, warden_exec_window window) {
    window.forker_tgid = pid;
    window.forker_start_time_ns = nsOfTicks(ticks);
    window.fork_exec_id = 1;
    return window;
  };
  // 813 was forked by the helper 812 (gone: neither in the table nor in /proc), and the
  // launcher adopted it; its exec record names the launcher, and no fork generation.
  fakeProcess(813, 811, 83, stage, "stage\0"s);
  window_ = forkedBy(812, 82, execWindow(2, stage));
  feed(execEvent(813, 83, inodeOf(stage), stage.string(), "stage\0"s, 811, 81, kernelDevOf(stage),
                 2));
  auto adopted = table_.find({813, 83});
  ASSERT_NE(adopted, nullptr);
  EXPECT_EQ(adopted->ppid, 811u);
  EXPECT_EQ(adopted->forkedBy, (ProcessKey{812, 82}));
  // What the helper ran when it forked cannot be known any more: not the launcher.
  EXPECT_EQ(adopted->ancestorPaths, std::vector<std::string>{""});
  // What it starts is not the launcher's either.
  feed(forkEvent(813, 83, 814, 84));
  fakeProcess(814, 813, 84, tool, "tool\0"s);
  window_ = forkedBy(813, 83, execWindow(3, tool));
  feed(execEvent(814, 84, inodeOf(tool), tool.string(), "tool\0"s, 813, 83, kernelDevOf(tool), 3));
  auto grandchild = table_.find({814, 84});
  ASSERT_NE(grandchild, nullptr);
  EXPECT_EQ(grandchild->ancestorPaths, (std::vector<std::string>{stage.string(), ""}));
  // Control: a process the launcher forked itself, whose fork the table lost too, is its child.
  fakeProcess(815, 811, 85, tool, "tool\0"s);
  window_ = forkedBy(811, 81, execWindow(2, tool));
  feed(execEvent(815, 85, inodeOf(tool), tool.string(), "tool\0"s, 811, 81, kernelDevOf(tool), 2));
  auto child = table_.find({815, 85});
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->forkedBy, ProcessKey{});
  ASSERT_FALSE(child->ancestorPaths.empty());
  EXPECT_EQ(child->ancestorPaths.front(), launcher.string());
}

TEST_F(TrackerTest, AncestorsTheTableLacksAreReadFromProc) {
  // Described on demand (as with sock_diag): the parent's start time is unknown, and neither
  // parent nor grandparent is in the table.
  const auto init = dir_.write("bin/init", "i");
  const auto shell = dir_.write("bin/sh", "s");
  const auto tool = dir_.write("bin/tool", "t");
  ASSERT_TRUE(tracker_.start(nullptr));  // its scan of /proc finds nothing yet
  fakeProcess(1, 0, 1, init, "init\0"s);
  fakeProcess(70, 1, 20, shell, "sh\0"s);
  fakeProcess(71, 70, 30, tool, "tool\0"s);
  auto info = describeOnDemand(71, 30);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->ppid, 70u);
  EXPECT_EQ(info->ancestorPaths, (std::vector<std::string>{shell.string(), init.string()}));
}

// The 16 nearest ancestors are kept. A process started below more of them is marked, so that
// an `ancestor_path` key naming one above them is not taken for failing (a deny profile of
// "anything cron starts" escaped by a chain of shells); one exactly 16 below init is whole.
TEST_F(TrackerTest, AncestryDeeperThanTheKeptAncestorsIsMarkedCut) {
  const auto init = dir_.write("bin/init", "i");
  const auto cron = dir_.write("bin/cron", "c");
  const auto shell = dir_.write("bin/sh", "s");
  const auto tool = dir_.write("bin/tool", "t");
  fakeProcess(1, 0, 1, init, "init\0"s);
  fakeProcess(2, 1, 2, cron, "cron\0"s);
  std::uint32_t pid = 2;
  for (std::uint32_t level = 0; level < 20; ++level) {
    fakeProcess(10 + level, pid, 10 + level, shell, "sh\0"s);
    pid = 10 + level;
  }
  fakeProcess(90, pid, 90, tool, "tool\0"s);  // 20 shells, cron and init above it
  fakeProcess(91, 23, 91, tool, "tool\0"s);   // 14 shells, cron and init: 16 in all
  tracker_.scanProc();
  auto deep = table_.find({90, 90});
  ASSERT_NE(deep, nullptr);
  EXPECT_EQ(deep->ancestorPaths.size(), 16u);
  EXPECT_TRUE(deep->ancestorsCut);
  ASSERT_NE(deep->match, nullptr);
  EXPECT_TRUE(deep->match->ancestorsCut);
  auto whole = table_.find({91, 91});
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(whole->ancestorPaths.size(), 16u);
  EXPECT_EQ(whole->ancestorPaths.back(), init.string());
  EXPECT_FALSE(whole->ancestorsCut);
  // Its child is one further down: cut. The deep one's child stays cut.
  feed(forkEvent(91, 91, 92, 92));
  feed(forkEvent(90, 90, 93, 93));
  for (const ProcessKey key : {ProcessKey{92, 92}, ProcessKey{93, 93}}) {
    auto child = table_.find(key);
    ASSERT_NE(child, nullptr) << key.pid;
    EXPECT_EQ(child->ancestorPaths.size(), 16u) << key.pid;
    EXPECT_TRUE(child->ancestorsCut) << key.pid;
  }
}

TEST_F(TrackerTest, AncestryReadFromProcDeeperThanTheKeptAncestorsIsMarkedCut) {
  const auto init = dir_.write("bin/init", "i");
  const auto shell = dir_.write("bin/sh", "s");
  const auto tool = dir_.write("bin/tool", "t");
  ASSERT_TRUE(tracker_.start(nullptr));  // its scan of /proc finds nothing yet
  fakeProcess(1, 0, 1, init, "init\0"s);
  std::uint32_t pid = 1;
  for (std::uint32_t level = 0; level < 20; ++level) {
    fakeProcess(10 + level, pid, 10 + level, shell, "sh\0"s);
    pid = 10 + level;
  }
  fakeProcess(90, pid, 90, tool, "tool\0"s);
  fakeProcess(91, 24, 91, tool, "tool\0"s);  // 15 shells and init
  auto deep = describeOnDemand(90, 90);
  ASSERT_NE(deep, nullptr);
  EXPECT_EQ(deep->ancestorPaths.size(), 16u);
  EXPECT_TRUE(deep->ancestorsCut);
  auto whole = describeOnDemand(91, 91);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(whole->ancestorPaths.size(), 16u);
  EXPECT_FALSE(whole->ancestorsCut);
}

TEST_F(TrackerTest, AncestorWalkStopsAtAReusedPid) {
  // pid 80 is now a process younger than its supposed child: the parent died and its pid was
  // taken again, so it is nobody's ancestor.
  const auto newcomer = dir_.write("bin/newcomer", "n");
  const auto tool = dir_.write("bin/tool", "t");
  fakeProcess(80, 1, 500, newcomer, "newcomer\0"s);
  fakeProcess(81, 80, 30, tool, "tool\0"s);
  ASSERT_TRUE(tracker_.start(nullptr));  // the scan at start must not link them either
  auto info = describeOnDemand(81, 30);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->ancestorPaths, std::vector<std::string>{});
}

TEST_F(TrackerTest, TruncatedAndMalformedRecords) {
  warden_event_head head{};
  head.kind = WARDEN_EVENT_EXEC;  // but far too short for an exec event
  feed(head);
  head.kind = 99;
  feed(head);
  tracker_.handleRecord({});
  EXPECT_EQ(tracker_.counters().badRecords.load(), 3u);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(TrackerTest, RequestedDescriptionOnTheTrackerThread) {
  const auto exe = dir_.write("bin/daemon", "d");
  fakeProcess(600, 1, 60, exe, "daemon\0-f\0"s);
  ASSERT_TRUE(tracker_.start(nullptr));
  warden_owner owner{};
  owner.tgid = owner.pid = 600;
  owner.start_time_ns = nsOfTicks(60);
  owner.exe_ino = inodeOf(exe);
  tracker_.requestDescribe(owner);
  auto info = table_.waitComplete({600, 60}, std::chrono::seconds(5));
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->path, exe.string());
  EXPECT_EQ(info->argv, (std::vector<std::string>{"daemon", "-f"}));
  // Gone from /proc and unknown parent: described from the kernel record alone.
  warden_owner gone{};
  gone.tgid = 601;
  gone.start_time_ns = nsOfTicks(61);
  gone.uid = 7;
  std::strncpy(gone.comm, "ghost", sizeof gone.comm);
  tracker_.requestDescribe(gone);
  auto ghost = table_.waitComplete({601, 61}, std::chrono::seconds(5));
  ASSERT_NE(ghost, nullptr);
  EXPECT_EQ(ghost->source, ProcessSource::kOwnerOnly);
  EXPECT_EQ(ghost->comm, "ghost");
  EXPECT_EQ(ghost->uid, 7u);
  EXPECT_TRUE(ghost->path.empty());
  tracker_.stop();
  // Its child copies nothing it could be judged by: still only the kernel's record.
  feed(forkEvent(601, 61, 602, 62));
  auto child = table_.find({602, 62});
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->source, ProcessSource::kOwnerOnly);
}

// Fork events do not wake the tracker, so a verdict's request for a child that never exec'd is
// often served first: the fork event read after it must not replace what /proc said of the
// child itself with a copy of its parent.
TEST_F(TrackerTest, AChildDescribedOnRequestIsNotReplacedByItsParentsCopy) {
  const auto exe = dir_.write("bin/server", "s");
  fakeProcess(800, 1, 80, exe, "server\0"s, "ROLE=parent\0"sv);
  feed(execEvent(800, 80, inodeOf(exe), exe.string(), "server\0"s));
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(801, 800, 81, exe, "server\0--worker\0"s, "ROLE=worker\0"sv);
  auto requested = describeOnRequest(801, 81, exe, 800, 80);
  ASSERT_NE(requested, nullptr);
  EXPECT_EQ(requested->source, ProcessSource::kProcScan);
  EXPECT_GT(requested->requestReadNs, 0u);  // read for the request, not by the start's scan
  EXPECT_EQ(requested->argv, (std::vector<std::string>{"server", "--worker"}));

  feed(forkEvent(800, 80, 801, 81));
  auto after = table_.find({801, 81});
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->source, ProcessSource::kProcScan);
  EXPECT_EQ(after->argv, (std::vector<std::string>{"server", "--worker"}));
  EXPECT_EQ(tracker_.counters().describedBeforeFork.load(), 1u);
  EXPECT_EQ(tracker_.counters().forks.load(), 1u);
}

// A child forks and execs its parent's file under another command line, then sends at once:
// the verdict's request may be served right after the fork event (read with the exec's
// wake-up) and before the exec event. The fork copy has the same pid, start time and image,
// but not the generation the socket record carries: the child is read from /proc.
TEST_F(TrackerTest, AForkCopyDoesNotStandInForAChildThatExecdTheSameFile) {
  const auto exe = dir_.write("bin/tool", "t");
  fakeProcess(900, 1, 90, exe, "tool\0"s);
  feed(execEvent(900, 90, inodeOf(exe), exe.string(), "tool\0"s, 1, 1, 0x0fe00000, 5));
  feed(forkEvent(900, 90, 901, 91));
  auto copy = table_.find({901, 91});
  ASSERT_NE(copy, nullptr);
  ASSERT_EQ(copy->execId, 5u);
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(901, 900, 91, exe, "tool\0--as\0denied\0"s);
  auto requested = describeOnRequest(901, 91, exe, 900, 90, /*execId=*/6);
  ASSERT_NE(requested, nullptr);
  EXPECT_EQ(requested->source, ProcessSource::kProcScan);
  EXPECT_EQ(requested->execId, 6u);
  EXPECT_EQ(requested->argv, (std::vector<std::string>{"tool", "--as", "denied"}));
  // The child's flows from before its exec still find the copy.
  EXPECT_EQ(table_.find({901, 91}, 0x0fe00000, inodeOf(exe), 5), copy);
}

// /proc read at the exec event shows a later exec of the same file (another command line):
// the event's own arguments tell, and the description rests on the event alone.
TEST_F(TrackerTest, ProcShowingALaterExecOfTheSameFileIsNotMixedIn) {
  const auto exe = dir_.write("bin/tool", "t");
  fakeProcess(910, 1, 91, exe, "tool\0--as\0denied\0"s, "ROLE=later\0"sv);
  feed(execEvent(910, 91, inodeOf(exe), exe.string(), "tool\0"s, 1, 1, 0x0fe00000, 3));
  auto info = table_.find({910, 91}, 0x0fe00000, inodeOf(exe), 3);
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->argv, (std::vector<std::string>{"tool"}));
  EXPECT_FALSE(info->envValue("ROLE"));
  EXPECT_EQ(tracker_.counters().procGone.load(), 1u);
}

// A fork record read after the parent's later exec was described (on a verdict's request):
// the child is a copy of the parent as it was when it forked, the generation it inherits.
TEST_F(TrackerTest, AForkCopiesTheParentsGenerationAtTheFork) {
  const auto exe = dir_.write("bin/tool", "t");
  fakeProcess(920, 1, 92, exe, "tool\0"s);
  feed(execEvent(920, 92, inodeOf(exe), exe.string(), "tool\0"s, 1, 1, 0x0fe00000, 4));
  auto later = std::make_shared<ProcessDescription>(*table_.find({920, 92}));
  later->argv = {"tool", "--as", "denied"};
  later->execId = 5;
  table_.upsert(later);
  warden_fork_event fork = forkEvent(920, 92, 921, 93);
  fork.exec_id = 4;
  feed(fork);
  auto child = table_.find({921, 93});
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->execId, 4u);
  EXPECT_EQ(child->argv, (std::vector<std::string>{"tool"}));

  // A fork of a generation the table does not know makes no copy.
  fork = forkEvent(920, 92, 922, 94);
  fork.exec_id = 9;
  feed(fork);
  EXPECT_EQ(table_.find({922, 94}), nullptr);
}

// exec_windows keeps a process's entry after it ends (so that a /proc read it ended during
// is not taken for one an exec came between): the tracker forgets it when it reads the exit
// record, and sweeps the entries of processes found gone (their exit records lost).
TEST_F(TrackerTest, ExecWindowsAreForgottenAtTheExitRecordOrWhenFoundGone) {
  warden_exit_event exit{};
  exit.head.kind = WARDEN_EVENT_EXIT;
  exit.head.size = sizeof exit;
  exit.tgid = 940;
  exit.start_time_ns = nsOfTicks(94) + 123;
  feed(exit);
  EXPECT_EQ(forgotten(),
            (std::vector<std::pair<std::uint32_t, std::uint64_t>>{{940, nsOfTicks(94) + 123}}));

  const auto exe = dir_.write("bin/tool", "t");
  fakeProcess(941, 1, 95, exe, "tool\0"s);
  // 1,100 entries (three batches): the running process, an earlier one on its pid, and
  // processes that are gone.
  windowKeys_.push_back({.tgid = 941, .pad = 0, .start_time_ns = nsOfTicks(95) + 7});
  windowKeys_.push_back({.tgid = 941, .pad = 0, .start_time_ns = nsOfTicks(90)});
  for (std::uint32_t pid = 2000; pid < 3098; ++pid) {
    windowKeys_.push_back({.tgid = pid, .pad = 0, .start_time_ns = nsOfTicks(pid)});
  }
  ASSERT_TRUE(tracker_.start(nullptr));
  EXPECT_TRUE(eventually([&] { return forgotten().size() == 1 + 1099; }));
  tracker_.stop();
  const auto forgot = forgotten();
  EXPECT_EQ(std::count(forgot.begin(), forgot.end(), std::pair{941u, nsOfTicks(95) + 7}), 0)
      << "the running process's entry";
  EXPECT_EQ(std::count(forgot.begin(), forgot.end(), std::pair{941u, nsOfTicks(90)}), 1);
  EXPECT_EQ(tracker_.counters().execWindowsSwept.load(), 1099u);
  EXPECT_GE(keyBatches_.load(), 3);
}

// A process in the middle of an exec runs: the sweep does not read its /proc (which waits for
// that exec to end: for good, for one stuck in it).
TEST_F(TrackerTest, TheSweepDoesNotReadAProcessWhoseExecIsUnderWay) {
  window_ = window(3, 2, 1);
  for (std::uint32_t pid = 2000; pid < 2010; ++pid) {
    windowKeys_.push_back({.tgid = pid, .pad = 0, .start_time_ns = nsOfTicks(pid)});
  }
  ASSERT_TRUE(tracker_.start(nullptr));
  EXPECT_TRUE(eventually([&] { return keyBatches_.load() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  tracker_.stop();
  EXPECT_TRUE(forgotten().empty());
  EXPECT_EQ(tracker_.counters().execWindowsSwept.load(), 0u);
}

// A child gone before /proc could be read, its fork record not read yet: one that never
// exec'd runs its parent's image and argv of the generation it was forked at, and is
// described as that. One that exec'd its parent's file has a generation of its own, whose
// number a later exec of the parent may have (they count per process): never its parent's.
TEST_F(TrackerTest, AGoneChildIsDescribedAsItsParentOnlyIfItNeverExecd) {
  const auto exe = dir_.write("bin/tool", "t");
  // (Not in the fake /proc: the start's scan would describe it without a generation.)
  feed(execEvent(930, 93, inodeOf(exe), exe.string(), "tool\0"s, 1, 1, 0x0fe00000, 4));
  feed(execEvent(930, 93, inodeOf(exe), exe.string(), "tool\0--as\0allowed\0"s, 1, 1, 0x0fe00000,
                 5));
  ASSERT_TRUE(tracker_.start(nullptr));
  const auto request = [&](std::uint32_t pid, std::uint64_t ticks, std::uint64_t forkExecId,
                           std::uint64_t execId = 5) {
    const warden_owner owner =
        childOwner(pid, ticks, 930, 93, inodeOf(exe), 0x0fe00000, execId, forkExecId);
    tracker_.requestDescribe(owner);
    return table_.waitComplete({pid, ticks}, std::chrono::seconds(5), owner.exe_dev, owner.exe_ino,
                               owner.exec_id);
  };
  // Forked at generation 5, no exec since: the parent's copy.
  auto forked = request(931, 94, 5);
  ASSERT_NE(forked, nullptr);
  EXPECT_EQ(forked->source, ProcessSource::kForkEvent);
  EXPECT_EQ(forked->argv, (std::vector<std::string>{"tool", "--as", "allowed"}));
  EXPECT_EQ(forked->ppid, 930u);
  // Forked at generation 4 and exec'd the file itself (under argv nobody read): 5 is its own.
  auto execd = request(932, 95, 4);
  // Not told where it began (its parent may have adopted it, or an inbound flow's record,
  // whose generation is left open): never its parent's.
  auto adopted = request(933, 96, 0);
  auto inbound = request(934, 97, 0, 0);
  tracker_.stop();
  for (const auto& gone : {execd, adopted, inbound}) {
    ASSERT_NE(gone, nullptr);
    EXPECT_EQ(gone->source, ProcessSource::kOwnerOnly);
    EXPECT_TRUE(gone->argv.empty());
  }
}

// From review: a child described on request as a copy of its parent (it never exec'd before the
// call, and /proc shows something else by now) keeps its parent's tags. Made again, they saw an
// empty environment (a published description keeps it in its matcher's view only) and gave the
// script tag that PYTHONINSPECT had withheld from the parent.
TEST_F(TrackerTest, AForkCopyDescribedOnRequestKeepsItsParentsTags) {
  const auto python = dir_.write("bin/python3", "p");
  const auto other = dir_.write("bin/other", "o");
  const std::string script = dir_.write("srv/trusted.py", "print()").string();
  const std::string args = "python3\0"s + script + '\0';
  fakeProcess(960, 1, 96, python, args, "PYTHONINSPECT=1\0"sv);
  feed(execEvent(960, 96, inodeOf(python), python.string(), args, 1, 1, kernelDevOf(python), 6));
  auto parent = table_.find({960, 96});
  ASSERT_NE(parent, nullptr);
  ASSERT_TRUE(parent->complete);
  for (const std::string& tag : parent->tags) EXPECT_FALSE(tag.starts_with("script:")) << tag;
  std::filesystem::remove_all(dir_.path() / "960");  // gone before the scan
  ASSERT_TRUE(tracker_.start(nullptr));
  // The child runs another image by now: /proc does not describe the call's.
  fakeProcess(961, 960, 97, other, "other\0"s);
  const warden_owner owner =
      childOwner(961, 97, 960, 96, inodeOf(python), kernelDevOf(python), 6, 6);
  tracker_.requestDescribe(owner);
  auto child = table_.waitComplete({961, 97}, std::chrono::seconds(5), owner.exe_dev, owner.exe_ino,
                                   owner.exec_id);
  tracker_.stop();
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->source, ProcessSource::kForkEvent);
  EXPECT_EQ(child->tags, parent->tags);
}

// A process sends, then execs its own file again under other arguments before the verdict's
// request is served: /proc shows the later exec, which exec_windows tells. Nothing is
// published for the call's generation (its flow waits for the exec event, or gets `unknown`).
TEST_F(TrackerTest, ARequestForAGenerationTheProcessLeftIsNotReadFromProc) {
  const auto exe = dir_.write("bin/tool", "t");
  window_ = window(8, 2, 2);  // two execs, the last one left generation 8
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(950, 1, 95, exe, "tool\0--as\0allowed\0"s);
  warden_owner owner{};
  owner.tgid = owner.pid = 950;
  owner.start_time_ns = nsOfTicks(95);
  owner.exe_ino = inodeOf(exe);
  owner.exe_dev = 0x0fe00000;
  owner.exec_id = 7;
  tracker_.requestDescribe(owner);
  ASSERT_TRUE(eventually([&] { return tracker_.counters().procMoved.load() == 1; }));
  tracker_.stop();
  EXPECT_EQ(table_.find({950, 95}), nullptr);

  // The same request for the generation /proc shows is read.
  owner.exec_id = 8;
  ProcessTracker again{table_, ProcessTracker::Options{
                                   .procRoot = dir_.path().string(),
                                   .execWindows = &execWindows_,
                               }};
  ASSERT_TRUE(again.start(nullptr));
  again.requestDescribe(owner);
  auto described = table_.waitComplete({950, 95}, std::chrono::seconds(5), owner.exe_dev,
                                       owner.exe_ino, owner.exec_id);
  again.stop();
  ASSERT_NE(described, nullptr);
  EXPECT_EQ(described->argv, (std::vector<std::string>{"tool", "--as", "allowed"}));
}

// An exec event read while the process is already in another execve (or past it, with the
// same arguments and another environment): the description rests on the event alone.
TEST_F(TrackerTest, AnExecEventReadWhileTheProcessExecsAgainRestsOnTheEvent) {
  const auto exe = dir_.write("bin/tool", "t");
  fakeProcess(960, 1, 96, exe, "tool\0"s, "ROLE=later\0"sv);
  window_ = window(3, 2, 1);  // the second exec under way
  feed(execEvent(960, 96, inodeOf(exe), exe.string(), "tool\0"s, 1, 1, 0x0fe00000, 3));
  auto info = table_.find({960, 96}, 0x0fe00000, inodeOf(exe), 3);
  ASSERT_NE(info, nullptr);
  EXPECT_FALSE(info->envValue("ROLE"));
  EXPECT_EQ(tracker_.counters().procMoved.load(), 1u);

  window_ = window(3, 1, 1);  // settled at the event's generation: /proc is taken
  warden_exec_event settled =
      execEvent(960, 96, inodeOf(exe), exe.string(), "tool\0"s, 1, 1, 0x0fe00000, 3);
  settled.head.time_ns = 1;  // (not the exec a request read: that one has a read time)
  feed(settled);
  info = table_.find({960, 96}, 0x0fe00000, inodeOf(exe), 3);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->envValue("ROLE"), "later");
}

// The windows read around the /proc read at an exec event: an exec that began between them,
// one that ended between them, a process that exec'd and ended between two reads that found no
// entry, and windows that could not be read (taken: as before there were windows).
TEST_F(TrackerTest, AnExecEventsProcReadIsTakenOnlyWhenTheWindowsSayItShowedThatExec) {
  const auto exe = dir_.write("bin/tool", "t");
  fakeProcess(970, 1, 97, exe, "tool\0"s, "ROLE=read\0"sv);
  auto described = [&](std::uint32_t time) {
    warden_exec_event exec =
        execEvent(970, 97, inodeOf(exe), exe.string(), "tool\0"s, 1, 1, 0x0fe00000, 3);
    exec.head.time_ns = time;
    feed(exec);
    auto info = table_.find({970, 97}, 0x0fe00000, inodeOf(exe), 3);
    return info && info->envValue("ROLE") == "read";
  };
  nextWindows_ = {window(3, 1, 1), window(3, 2, 1)};  // one began
  EXPECT_FALSE(described(1));
  nextWindows_ = {window(3, 2, 1)};  // one under way: /proc, which waits for it, is not read
  EXPECT_FALSE(described(2));
  EXPECT_TRUE(nextWindows_.empty());
  EXPECT_EQ(tracker_.counters().procMoved.load(), 2u);

  window_ = warden_exec_window{};  // no entry: none since the programs were attached ...
  EXPECT_TRUE(described(3));
  // ... unless the process is ending (its entry may have gone with an exec in between).
  const std::string stat = "970 (x) S 1 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 97 0 0\n";
  dir_.write("970/stat", stat);
  EXPECT_FALSE(described(4));
  EXPECT_EQ(tracker_.counters().procMoved.load(), 3u);

  window_ = std::nullopt;  // cannot tell
  EXPECT_TRUE(described(5));
  EXPECT_EQ(tracker_.counters().execWindowUnknown.load(), 1u);
}

// A process can make another file its exe_file without exec (prctl PR_SET_MM_MAP, in a user
// namespace of its own): its socket calls then name that file at the generation of the exec
// that ran its own, and /proc shows that file too. The image the generation began with is
// known from the exec's event, from exec_windows, or (for a process running since before the
// programs were attached) from the start's scan: a record naming another one is described by
// the kernel's record alone, as replaced, so that its flows are `unknown`.
TEST_F(TrackerTest, AnImageTheExecEventDidNotNameIsReplaced) {
  const auto own = dir_.write("bin/own", "o");
  const auto allowed = dir_.write("bin/allowed", "a");
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(980, 1, 98, allowed, "own\0"s);  // /proc shows the file it swapped in
  feed(execEvent(980, 98, inodeOf(own), own.string(), "own\0"s, 1, 1, 0x0fe00000, 3));
  auto described = describeOnRequest(980, 98, allowed, 1, 1, 3);
  ASSERT_NE(described, nullptr);
  EXPECT_TRUE(described->imageReplaced);
  EXPECT_EQ(described->source, ProcessSource::kOwnerOnly);
  EXPECT_EQ(described->path, "");
  EXPECT_EQ(tracker_.counters().imageReplaced.load(), 1u);
}

// A child whose fork record was not read (lost, or still in the ring) and that has not exec'd
// since: it runs what its parent's exec put in place.
TEST_F(TrackerTest, AnUnexecutedChildsImageOtherThanItsParentsIsReplaced) {
  const auto own = dir_.write("bin/own", "o");
  const auto allowed = dir_.write("bin/allowed", "a");
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(990, 1, 99, own, "own\0"s);
  feed(execEvent(990, 99, inodeOf(own), own.string(), "own\0"s, 1, 1, 0x0fe00000, 3));
  fakeProcess(991, 990, 100, allowed, "own\0"s);
  const warden_owner owner = childOwner(991, 100, 990, 99, inodeOf(allowed), 0x0fe00000, 3, 3);
  tracker_.requestDescribe(owner);
  auto described = table_.waitComplete({991, 100}, std::chrono::seconds(5), owner.exe_dev,
                                       owner.exe_ino, owner.exec_id);
  tracker_.stop();
  ASSERT_NE(described, nullptr);
  EXPECT_TRUE(described->imageReplaced);
  EXPECT_EQ(tracker_.counters().imageReplaced.load(), 1u);
}

// A child adopted after its forker exited (fork_exec_id 0), whose fork copy the table no
// longer holds, that made another file its executable: its fork's entry names what it runs.
TEST_F(TrackerTest, AnAdoptedChildsImageOtherThanItsForkPassedOnIsReplaced) {
  const auto own = dir_.write("bin/own", "o");
  const auto allowed = dir_.write("bin/allowed", "a");
  window_ = forkWindow(3, own);
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(993, 1, 100, allowed, "own\0"s);  // /proc shows the file it swapped in
  const warden_owner owner = childOwner(993, 100, 1, 1, inodeOf(allowed), 0x0fe00000, 3, 0);
  tracker_.requestDescribe(owner);
  auto described = table_.waitComplete({993, 100}, std::chrono::seconds(5), owner.exe_dev,
                                       owner.exe_ino, owner.exec_id);
  tracker_.stop();
  ASSERT_NE(described, nullptr);
  EXPECT_TRUE(described->imageReplaced);
  EXPECT_EQ(tracker_.counters().imageReplaced.load(), 1u);
}

TEST_F(TrackerTest, TheImageItsForkPassedOnIsDescribedFromProc) {
  const auto own = dir_.write("bin/own", "o");
  window_ = forkWindow(3, own);
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(994, 1, 100, own, "own\0"s);
  const warden_owner owner = childOwner(994, 100, 1, 1, inodeOf(own), 0x0fe00000, 3, 0);
  tracker_.requestDescribe(owner);
  auto described = table_.waitComplete({994, 100}, std::chrono::seconds(5), owner.exe_dev,
                                       owner.exe_ino, owner.exec_id);
  tracker_.stop();
  ASSERT_NE(described, nullptr);
  EXPECT_FALSE(described->imageReplaced);
  EXPECT_EQ(described->source, ProcessSource::kProcScan);
  EXPECT_EQ(described->path, own.string());
  EXPECT_EQ(tracker_.counters().imageReplaced.load(), 0u);
}

TEST_F(TrackerTest, AnImageItsExecWindowDoesNotNameIsReplaced) {
  const auto own = dir_.write("bin/own", "o");
  const auto allowed = dir_.write("bin/allowed", "a");
  // The exec event not read yet (a storm): the window says what the exec put in place.
  window_ = execWindow(3, own);
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(981, 1, 98, allowed, "own\0"s);
  auto described = describeOnRequest(981, 98, allowed, 1, 1, 3);
  ASSERT_NE(described, nullptr);
  EXPECT_TRUE(described->imageReplaced);
  EXPECT_EQ(tracker_.counters().imageReplaced.load(), 1u);
}

// A listener's record names no generation (an earlier exec may have bound the socket): when
// /proc shows the record's image and the last exec put another in place, it was replaced; when
// /proc shows the last exec's own (a re-exec that kept the socket), it was not.
TEST_F(TrackerTest, AListenersImageIsToldAgainstTheLastExec) {
  const auto own = dir_.write("bin/own", "o");
  const auto allowed = dir_.write("bin/allowed", "a");
  window_ = execWindow(3, own);
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(984, 1, 98, allowed, "own\0"s);
  auto replaced = describeOnRequest(984, 98, allowed, 1, 1, /*execId=*/0);
  ASSERT_NE(replaced, nullptr);
  EXPECT_TRUE(replaced->imageReplaced);
}

TEST_F(TrackerTest, AListenerBoundBeforeAReExecIsNotTakenForAReplacement) {
  const auto before = dir_.write("bin/server-1", "1");
  const auto now = dir_.write("bin/server-2", "2");
  window_ = execWindow(4, now);
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(985, 1, 98, now, "server\0"s);
  // The record names the image that bound the socket; /proc shows the one it runs now.
  auto described = describeOnRequest(985, 98, before, 1, 1, /*execId=*/0);
  ASSERT_NE(described, nullptr);
  EXPECT_FALSE(described->imageReplaced);
  EXPECT_EQ(tracker_.counters().imageReplaced.load(), 0u);
}

TEST_F(TrackerTest, TheImageItsExecWindowNamesIsDescribedFromProc) {
  const auto own = dir_.write("bin/own", "o");
  window_ = execWindow(3, own);
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(982, 1, 98, own, "own\0"s);
  auto described = describeOnRequest(982, 98, own, 1, 1, 3);
  ASSERT_NE(described, nullptr);
  EXPECT_FALSE(described->imageReplaced);
  EXPECT_EQ(described->source, ProcessSource::kProcScan);
  EXPECT_EQ(described->path, own.string());
  EXPECT_EQ(tracker_.counters().imageReplaced.load(), 0u);
}

TEST_F(TrackerTest, AnImageOtherThanTheScanFoundWithoutAnExecSinceIsReplaced) {
  const auto own = dir_.write("bin/own", "o");
  const auto allowed = dir_.write("bin/allowed", "a");
  fakeProcess(983, 1, 98, own, "own\0"s);
  ASSERT_TRUE(tracker_.start(nullptr));  // the scan finds it running its own file
  std::filesystem::remove(dir_.path() / "983" / "exe");
  std::filesystem::create_symlink(allowed, dir_.path() / "983" / "exe");
  // No exec since the programs were attached (window_: no entry, none lost).
  auto described = describeOnRequest(983, 98, allowed, 1, 1, 3);
  ASSERT_NE(described, nullptr);
  EXPECT_TRUE(described->imageReplaced);
  EXPECT_EQ(tracker_.counters().imageReplaced.load(), 1u);
}

// Tags from the cgroup path take only what root named: a component whose parent directory
// someone else may write (a subtree handed to a user's manager) ends the trusted part, so a
// user cannot name a cgroup after a system unit or a container for a program of their own.
TEST_F(TrackerTest, TagsTakeOnlyTheCgroupComponentsRootNamed) {
  const auto exe = dir_.write("bin/tool", "t");
  const std::string hex(64, 'a');
  const std::string user = "user.slice/user-1000.slice/user@1000.service";
  dir_.write("cgroup/" + user + "/app.slice/docker-" + hex + ".scope/cgroup.procs", "");
  // systemd hands user@1000.service to the user: simulated by its mode.
  ::chmod((dir_.path() / "cgroup" / user).c_str(), 0775);
  fakeProcess(1000, 1, 100, exe, "tool\0"s);
  dir_.write("1000/cgroup", "0::/" + user + "/app.slice/docker-" + hex + ".scope\n");
  feed(execEvent(1000, 100, inodeOf(exe), exe.string(), "tool\0"s));
  auto info = table_.find({1000, 100});
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->tags, (std::vector<std::string>{"systemd:user@1000.service"}));
  // The same path, all root's: the container's scope is trusted.
  ::chmod((dir_.path() / "cgroup" / user).c_str(), 0755);
  fakeProcess(1001, 1, 101, exe, "tool\0"s);
  dir_.write("1001/cgroup", "0::/" + user + "/app.slice/docker-" + hex + ".scope\n");
  feed(execEvent(1001, 101, inodeOf(exe), exe.string(), "tool\0"s));
  info = table_.find({1001, 101});
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->tags,
            (std::vector<std::string>{"systemd:user@1000.service", "container:" + hex}));
}

// A verdict's request may be served ahead of the exec event still in the ring (a launch
// storm): the event then changes nothing, unless it is a later exec than the /proc read saw.
TEST_F(TrackerTest, AnExecDescribedOnRequestIsNotPublishedBareAgain) {
  const auto exe = dir_.write("bin/tool", "t");
  ASSERT_TRUE(tracker_.start(nullptr));
  fakeProcess(700, 1, 70, exe, "tool\0--fetch\0"s);
  auto requested = describeOnRequest(700, 70, exe);
  ASSERT_NE(requested, nullptr);
  EXPECT_EQ(requested->source, ProcessSource::kProcScan);
  EXPECT_GT(requested->requestReadNs, 0u);

  warden_exec_event exec = execEvent(700, 70, inodeOf(exe), exe.string(), "tool\0--fetch\0"s);
  exec.head.time_ns = requested->requestReadNs - 1;  // the exec the request already saw
  feed(exec);
  EXPECT_EQ(table_.find({700, 70}), requested);
  EXPECT_EQ(tracker_.counters().describedBeforeExec.load(), 1u);

  exec.head.time_ns = requested->requestReadNs + 1;  // a later exec of the same image
  feed(exec);
  auto again = table_.find({700, 70});
  ASSERT_NE(again, nullptr);
  EXPECT_NE(again, requested);
  EXPECT_TRUE(again->complete);
  EXPECT_EQ(again->source, ProcessSource::kExecEvent);
  EXPECT_EQ(tracker_.counters().describedBeforeExec.load(), 1u);
}

}  // namespace
}  // namespace warden::engine
