#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/reload_command.h"

namespace warden::cli {
namespace {

TEST(ReloadText, PlainReloadNamesTheRevision) {
  EXPECT_EQ(reloadText({{"ok", true}, {"revision", 7}}), "reloaded: policy revision 7 in force\n");
}

TEST(ReloadText, RedecideCounts) {
  const nlohmann::json answer = {{"ok", true},
                                 {"revision", 7},
                                 {"redecide",
                                  {{"examined", 12},
                                   {"kept", 10},
                                   {"revoked", 2},
                                   {"denied", 1},
                                   {"rejected", 1},
                                   {"learned", 0},
                                   {"gone", 0},
                                   {"failed", 0}}}};
  EXPECT_EQ(reloadText(answer),
            "reloaded: policy revision 7 in force; redecided 12 flows: 10 kept, 2 revoked "
            "(1 denied, 1 rejected)\n");
}

TEST(ReloadText, LearnModeGoneAndFailed) {
  const nlohmann::json answer = {
      {"ok", true},
      {"revision", 3},
      {"redecide", {{"examined", 1}, {"kept", 1}, {"revoked", 0}, {"learned", 1}, {"gone", 0}}}};
  EXPECT_EQ(reloadText(answer),
            "reloaded: policy revision 3 in force; redecided 1 flow: 1 kept (1 only by learn "
            "mode), 0 revoked\n");
  const nlohmann::json some = {
      {"revision", 4},
      {"redecide",
       {{"examined", 4}, {"kept", 1}, {"revoked", 1}, {"denied", 1}, {"gone", 1}, {"failed", 1}}}};
  EXPECT_EQ(reloadText(some),
            "reloaded: policy revision 4 in force; redecided 4 flows: 1 kept, 1 revoked (1 "
            "denied, 0 rejected), 1 gone meanwhile, 1 failed\n");
}

}  // namespace
}  // namespace warden::cli
