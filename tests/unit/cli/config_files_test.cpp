#include "cli/config_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "db/store.h"
#include "tests/unit/db/temp_dir.h"

namespace warden::cli {
namespace {

TEST(ReadConfig, MissingFileSaysHowToNameAnother) {
  auto config = readConfig("/nonexistent/warden.toml");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, ExitCode::kError);
  EXPECT_EQ(config.error().message,
            "cannot read /nonexistent/warden.toml: No such file or directory (give the engine "
            "configuration with --config)");
}

TEST(ReadConfig, ErrorsAreListedWithTheirPlace) {
  db::testing::TempDir dir;
  std::ofstream(dir.file("warden.toml")) << "[engine]\nmode = \"sometimes\"\n";
  auto config = readConfig(dir.file("warden.toml"));
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, ExitCode::kError);
  EXPECT_NE(config.error().message.find(dir.file("warden.toml").string() + ":2:"),
            std::string::npos)
      << config.error().message;
}

TEST(OpenLogDatabase, NotCreatedYetIsItsOwnExitStatus) {
  db::testing::TempDir dir;
  rules::Config config;
  config.file = dir.file("warden.toml");
  config.logDb = dir.file("warden.db");
  auto db = openLogDatabase(config);
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.error().code, ExitCode::kNoDatabase);
  EXPECT_NE(db.error().message.find("no verdict log at " + config.logDb.string()),
            std::string::npos);
}

TEST(OpenLogDatabase, OpensAnExistingStoreReadOnly) {
  db::testing::TempDir dir;
  rules::Config config;
  config.logDb = dir.file("warden.db");
  ASSERT_TRUE(db::openStore(config.logDb).has_value());
  auto db = openLogDatabase(config);
  ASSERT_TRUE(db.has_value()) << db.error().message;
  EXPECT_EQ(db->access(), db::Access::kReadOnly);
}

TEST(OpenLogDatabase, AFileThatIsNotADatabaseIsAnError) {
  db::testing::TempDir dir;
  rules::Config config;
  config.logDb = dir.file("warden.db");
  std::ofstream(config.logDb) << "this is not sqlite, but long enough to look like a header....";
  auto db = openLogDatabase(config);
  ASSERT_FALSE(db.has_value());
  EXPECT_NE(db.error().message.find(config.logDb.string()), std::string::npos);
}

}  // namespace
}  // namespace warden::cli
