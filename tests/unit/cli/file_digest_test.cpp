#include "cli/file_digest.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/sha256.h"
#include "base/unique_fd.h"
#include "cli/hash_command.h"
#include "engine/attribution/exe_hasher.h"
#include "rules/process_info.h"
#include "tests/support/temp_dir.h"

namespace warden::cli {
namespace {

void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(Sha256File, KnownDigests) {
  warden::testing::TempDir dir;
  writeFile(dir.file("empty"), "");
  writeFile(dir.file("abc"), "abc");
  EXPECT_EQ(sha256File(dir.file("empty")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256File(dir.file("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256File, LargerThanOneReadIsHashedWhole) {
  warden::testing::TempDir dir;
  writeFile(dir.file("big"), std::string(1'000'000, 'a'));
  // The FIPS 180-2 test vector: one million 'a'.
  EXPECT_EQ(sha256File(dir.file("big")),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256File, FollowsSymbolicLinks) {
  warden::testing::TempDir dir;
  writeFile(dir.file("abc"), "abc");
  std::filesystem::create_symlink(dir.file("abc"), dir.file("link"));
  EXPECT_EQ(sha256File(dir.file("link")), sha256File(dir.file("abc")));
}

TEST(Sha256File, MissingDirectoryAndUnreadable) {
  warden::testing::TempDir dir;
  auto missing = sha256File(dir.file("nope"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ExitCode::kError);
  EXPECT_EQ(missing.error().message,
            "cannot read " + dir.file("nope").string() + ": No such file or directory");
  auto directory = sha256File(dir.path());
  ASSERT_FALSE(directory.has_value());
  EXPECT_NE(directory.error().message.find("is not a regular file"), std::string::npos);
  if (geteuid() != 0) {  // root reads anything
    writeFile(dir.file("secret"), "x");
    chmod(dir.file("secret").c_str(), 0);
    auto denied = sha256File(dir.file("secret"));
    ASSERT_FALSE(denied.has_value());
    EXPECT_EQ(denied.error().code, ExitCode::kPermissionDenied);
  }
}

// What `warden hash` prints is what the engine's matcher compares: the same digest of the same
// bytes, over a file larger than one read and with every byte value in it.
TEST(Sha256File, AgreesWithTheEngineByteForByte) {
  warden::testing::TempDir dir;
  std::string bytes(3 * 1024 * 1024 + 5, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 % 256);
  writeFile(dir.file("prog"), bytes);
  const auto printed = sha256File(dir.file("prog"));
  ASSERT_TRUE(printed.has_value()) << printed.error().message;

  engine::ImageHashLru cache;
  engine::ExeHasher hasher(cache);
  auto image = base::openFile(dir.file("prog"), O_RDONLY);
  ASSERT_TRUE(image) << image.error().message();
  const auto hashed = hasher.hashImage(image->get());
  ASSERT_TRUE(hashed) << hashed.error().message();
  EXPECT_EQ(*printed, *hashed);
  // A profile pins the printed text; the matcher parses both into the same digest.
  EXPECT_EQ(rules::parseSha256(*printed), rules::parseSha256(*hashed));
  EXPECT_EQ(*printed, base::sha256Hex(bytes).value());
}

TEST(HashCommand, PrintsALineToPasteAndReportsFailuresPerFile) {
  warden::testing::TempDir dir;
  writeFile(dir.file("abc"), "abc");
  std::filesystem::create_symlink(dir.file("abc"), dir.file("link"));
  std::ostringstream out, err;
  const int status =
      runHash({dir.file("abc").string(), dir.file("nope").string(), dir.file("link").string()},
              false, out, err);
  EXPECT_EQ(status, 1);
  const std::string digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  EXPECT_EQ(out.str(), "sha256 = [\"" + digest + "\"]  # " + dir.file("abc").string() + "\n" +
                           "sha256 = [\"" + digest + "\"]  # " + dir.file("link").string() +
                           " -> " + dir.file("abc").string() + "\n");
  EXPECT_EQ(err.str(),
            "warden: cannot read " + dir.file("nope").string() + ": No such file or directory\n");

  std::ostringstream json;
  EXPECT_EQ(runHash({dir.file("link").string()}, true, json, err), 0);
  const auto parsed = nlohmann::json::parse(json.str());
  EXPECT_EQ(parsed["sha256"], digest);
  EXPECT_EQ(parsed["file"], dir.file("link").string());
  EXPECT_EQ(parsed["path"], dir.file("abc").string());
}

}  // namespace
}  // namespace warden::cli
