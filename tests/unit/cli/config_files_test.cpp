#include "cli/config_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "db/store.h"
#include "tests/support/temp_dir.h"

namespace warden::cli {
namespace {

TEST(ReadConfig, MissingFileSaysHowToNameAnother) {
  std::ostringstream notes;
  auto config = readConfig("/nonexistent/warden.toml", notes);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, ExitCode::kError);
  EXPECT_EQ(config.error().message,
            "cannot read /nonexistent/warden.toml: No such file or directory (give the engine "
            "configuration with --config)");
}

TEST(ReadConfig, ErrorsThatAreNotTomlAreListedWithTheirPlace) {
  warden::testing::TempDir dir;
  std::ofstream(dir.file("warden.toml")) << "[engine]\nmode = \n";
  std::ostringstream notes;
  auto config = readConfig(dir.file("warden.toml"), notes);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, ExitCode::kError);
  EXPECT_NE(config.error().message.find(dir.file("warden.toml").string() + ":2:"),
            std::string::npos)
      << config.error().message;
}

TEST(ReadConfig, AFileWithErrorsStillGivesItsPathsWithANote) {
  warden::testing::TempDir dir;
  std::ofstream(dir.file("warden.toml"))
      << "[engine]\nmode = \"sometimes\"\n[log]\ndb = \"state/warden.db\"\n"
         "[control]\nsocket = \"/run/test/control.sock\"\n[[rule]]\naction = \"permit\"\n";
  std::ostringstream notes;
  auto config = readConfig(dir.file("warden.toml"), notes);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->logDb, dir.file("state/warden.db"));
  EXPECT_EQ(config->controlSocket, "/run/test/control.sock");
  EXPECT_EQ(config->profilesDir, "/etc/warden/profiles.d");  // the default: not in the file
  EXPECT_EQ(notes.str(), "warden: note: " + dir.file("warden.toml").string() +
                             " has errors (`warden check` lists them); using its paths anyway\n");
}

TEST(ReadConfig, APathOfTheWrongTypeIsAnError) {
  warden::testing::TempDir dir;
  std::ofstream(dir.file("warden.toml")) << "[control]\nsocket = 5\n";
  std::ostringstream notes;
  auto config = readConfig(dir.file("warden.toml"), notes);
  ASSERT_FALSE(config.has_value());
  EXPECT_NE(config.error().message.find(":2:"), std::string::npos) << config.error().message;
}

TEST(OpenLogDatabase, NotCreatedYetIsItsOwnExitStatus) {
  warden::testing::TempDir dir;
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
  warden::testing::TempDir dir;
  rules::Config config;
  config.logDb = dir.file("warden.db");
  ASSERT_TRUE(db::openStore(config.logDb).has_value());
  auto db = openLogDatabase(config);
  ASSERT_TRUE(db.has_value()) << db.error().message;
  EXPECT_EQ(db->access(), db::Access::kReadOnly);
}

TEST(OpenLogDatabase, AFileThatIsNotADatabaseIsAnError) {
  warden::testing::TempDir dir;
  rules::Config config;
  config.logDb = dir.file("warden.db");
  std::ofstream(config.logDb) << "this is not sqlite, but long enough to look like a header....";
  auto db = openLogDatabase(config);
  ASSERT_FALSE(db.has_value());
  EXPECT_NE(db.error().message.find(config.logDb.string()), std::string::npos);
}

}  // namespace
}  // namespace warden::cli
