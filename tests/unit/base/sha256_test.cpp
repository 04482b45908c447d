#include "base/sha256.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "base/unique_fd.h"
#include "tests/support/temp_dir.h"

namespace warden::base {
namespace {

constexpr std::string_view kEmpty =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kAbc =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

// 5 MiB and 17 bytes of (i * 7 + 3) % 251: several read chunks and a short last one. Its digest
// is Python's hashlib.sha256(bytes((i * 7 + 3) % 251 for i in range(5 * 1024 * 1024 + 17))).
std::string multiMegabyteInput() {
  std::string data(5 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7 + 3) % 251);
  return data;
}
constexpr std::string_view kMultiMegabyte =
    "bff535696990615f8779068f2a8463f7b2a0caea713fe1c2e5cd30b2ef7fbaf5";

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256Hex("").value(), kEmpty);
  EXPECT_EQ(sha256Hex("abc").value(), kAbc);
  // FIPS 180-2, appendix B.2.
  EXPECT_EQ(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").value(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256Hex(multiMegabyteInput()).value(), kMultiMegabyte);
}

TEST(Sha256, PiecesMakeTheSameDigestAsTheWhole) {
  const std::string data = multiMegabyteInput();
  auto hash = Sha256::start();
  ASSERT_TRUE(hash) << hash.error().message();
  // Odd piece sizes, so that no piece lines up with SHA-256's 64-byte blocks.
  std::size_t piece = 1;
  for (std::size_t at = 0; at < data.size(); at += piece, piece = piece * 3 % 100'003 + 1) {
    ASSERT_TRUE(hash->update(std::string_view(data).substr(at, piece)));
  }
  EXPECT_EQ(hash->finishHex().value(), kMultiMegabyte);
}

TEST(Sha256, FilesAreReadInChunksFromTheStart) {
  warden::testing::TempDir dir;
  EXPECT_EQ(sha256HexOfFile(dir.write("empty", "")).value(), kEmpty);
  EXPECT_EQ(sha256HexOfFile(dir.write("big", multiMegabyteInput())).value(), kMultiMegabyte);
  // A descriptor someone else has read from: hashed whole, and its offset left alone.
  auto fd = openFile(dir.write("abc", "abc"), O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  ASSERT_EQ(lseek(fd->get(), 2, SEEK_SET), 2);
  EXPECT_EQ(sha256HexOfFd(fd->get()).value(), kAbc);
  EXPECT_EQ(lseek(fd->get(), 0, SEEK_CUR), 2);
}

TEST(Sha256, FailuresSayWhy) {
  warden::testing::TempDir dir;
  auto missing = sha256HexOfFile(dir.file("missing"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_EQ(missing.error().message(),
            "opening " + dir.file("missing").string() + ": No such file or directory");
  auto directory = openFile(dir.path(), O_RDONLY);
  ASSERT_TRUE(directory);
  auto unreadable = sha256HexOfFd(directory->get());
  ASSERT_FALSE(unreadable);
  EXPECT_EQ(unreadable.error().code, EISDIR);
}

TEST(LowercaseHex, TwoDigitsPerByte) {
  const std::uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(lowercaseHex(bytes), "000fa0ff");
  EXPECT_EQ(lowercaseHex({}), "");
}

}  // namespace
}  // namespace warden::base
