#include "base/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "tests/support/temp_dir.h"

namespace warden::base {
namespace {

bool isOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }
bool closeOnExec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

TEST(UniqueFd, ClosesOnceWhenItsLastOwnerGoes) {
  auto pipe = makePipe();
  ASSERT_TRUE(pipe) << pipe.error().message();
  const int fd = pipe->readEnd.get();
  UniqueFd moved = std::move(pipe->readEnd);
  EXPECT_FALSE(pipe->readEnd);
  EXPECT_EQ(moved.get(), fd);
  EXPECT_TRUE(isOpen(fd));
  moved.reset();
  EXPECT_FALSE(moved);
  EXPECT_FALSE(isOpen(fd));
}

TEST(UniqueFd, ReleaseHandsTheDescriptorOver) {
  auto pipe = makePipe();
  ASSERT_TRUE(pipe) << pipe.error().message();
  const int fd = pipe->writeEnd.release();
  EXPECT_FALSE(pipe->writeEnd);
  EXPECT_TRUE(isOpen(fd));
  UniqueFd adopted(fd);
}

TEST(UniqueFd, EveryDescriptorIsMadeCloseOnExec) {
  warden::testing::TempDir dir;
  auto file = openFile(dir.write("f", "x"), O_RDONLY);
  ASSERT_TRUE(file) << file.error().message();
  auto directory = openFile(dir.path(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(directory) << directory.error().message();
  auto at = openAt(directory->get(), "f", O_RDONLY);
  ASSERT_TRUE(at) << at.error().message();
  auto socket = makeSocket(AF_UNIX, SOCK_DGRAM, 0, "a test socket");
  ASSERT_TRUE(socket) << socket.error().message();
  auto event = makeEventFd(EFD_NONBLOCK, "a test eventfd");
  ASSERT_TRUE(event) << event.error().message();
  auto pipe = makePipe();
  ASSERT_TRUE(pipe) << pipe.error().message();
  for (int fd : {file->get(), directory->get(), at->get(), socket->get(), event->get(),
                 pipe->readEnd.get(), pipe->writeEnd.get()}) {
    EXPECT_TRUE(closeOnExec(fd)) << fd;
  }
}

TEST(UniqueFd, FailuresCarryTheErrnoAndWhatWasBeingDone) {
  warden::testing::TempDir dir;
  auto missing = openFile(dir.file("missing"), O_RDONLY);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_EQ(missing.error().message(),
            "opening " + dir.file("missing").string() + ": No such file or directory");
  auto socket = makeSocket(-1, SOCK_DGRAM, 0, "creating a socket of no family");
  ASSERT_FALSE(socket);
  EXPECT_EQ(socket.error().code, EAFNOSUPPORT);
  EXPECT_EQ(socket.error().message().rfind("creating a socket of no family: ", 0), 0u);
}

TEST(UniqueFd, SignalFdReadsTheSignalsItBlocked) {
  // Blocked in this thread only for the test: restored afterwards.
  sigset_t before;
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
  {
    auto signals = makeSignalFd({SIGUSR2});
    ASSERT_TRUE(signals) << signals.error().message();
    ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR2), 0);
    signalfd_siginfo info{};
    ASSERT_EQ(read(signals->get(), &info, sizeof info), static_cast<ssize_t>(sizeof info));
    EXPECT_EQ(info.ssi_signo, static_cast<std::uint32_t>(SIGUSR2));
  }
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &before, nullptr), 0);
}

}  // namespace
}  // namespace warden::base
