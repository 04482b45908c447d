// `warden status`'s prompt line: what `warden prompt` was asked and answered.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/status_text.h"

namespace warden::cli {
namespace {

using nlohmann::json;

std::string print(const json& status) {
  std::ostringstream out;
  printStatus(status, 0, out);
  return out.str();
}

json promptStatus(int clients, int questions) {
  return {{"clients", clients},
          {"held", 1},
          {"timeout", 30},
          {"hold", 64},
          {"questions", questions},
          {"answers", 3},
          {"timeouts", 1},
          {"released", 1},
          {"hold_full", 2},
          {"duplicates_dropped", 4},
          {"remembered_decisions", 6},
          {"remembered_answers", 1}};
}

TEST(PromptStatusText, ShownOnceAPromptClientCame) {
  json status = {{"running", true}, {"prompt", promptStatus(2, 5)}};
  const std::string text = print(status);
  EXPECT_NE(text.find("prompt       2 clients, 1 flow held now (timeout 30 s, hold 64); 5 "
                      "questions: 3 answered, 1 timed out, 1 released\n"
                      "             2 not held (hold full), 4 packets of held flows dropped, 6 "
                      "flows decided by 1 until-restart answers\n"),
            std::string::npos)
      << text;
}

TEST(PromptStatusText, NotShownWhenNothingWasAsked) {
  json quiet = promptStatus(0, 0);
  quiet["remembered_answers"] = 0;
  EXPECT_EQ(print({{"running", true}, {"prompt", quiet}}).find("prompt"), std::string::npos);
  EXPECT_EQ(print({{"running", true}}).find("prompt"), std::string::npos);
}

}  // namespace
}  // namespace warden::cli
