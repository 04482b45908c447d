#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace warden::cli {

// What `warden prompt` shows and sends, without the terminal or the socket (prompt_command
// does those), so that the tests feed it wardend's lines and keys. It keeps the questions
// wardend has open, shows the oldest one, and turns a key into an answer line.
// Not thread-safe.
class PromptView {
 public:
  // What one key did.
  struct Keyed {
    std::optional<std::string> send;  // the answer line for wardend, without newline
    // For "10 minutes" and "always": the `warden` arguments (after the program's name) that
    // write the rule into the policy files, to run once wardend has the answer.
    std::vector<std::string> edit;
    std::string text;  // what to print now
    bool quit = false;
  };

  // The keys, as shown under each question.
  static constexpr std::string_view kKeys =
      "a allow once  t allow 10 min  r allow until restart  A allow always\n"
      "  d deny once   T deny 10 min   R deny until restart   D deny always   q quit";

  // `warden allow|deny EXE --proto P --port N --host H|--ip A [--direction in] [--for 10m]`
  // for question `q` (a JSON question line), without the program's name.
  static std::vector<std::string> editArguments(const nlohmann::json& q, std::string_view action,
                                                std::string_view duration);

  // A line from wardend (after the greeting): returns what to print (may be empty).
  std::string received(const std::string& line);
  // A key pressed.
  Keyed key(char key);
  // The greeting's text ("connected to wardend: ...").
  static std::string greeting(const nlohmann::json& answer);
  // The question shown now, if any.
  std::optional<std::uint64_t> current() const;
  std::size_t open() const { return questions_.size(); }

 private:
  struct Question {
    nlohmann::json body;
  };
  // The text of the question shown now, with the keys (empty when none is open).
  std::string show() const;
  std::string target(const nlohmann::json& q) const;
  std::optional<std::size_t> find(std::uint64_t id) const;

  std::vector<Question> questions_;  // oldest first
  // What this client answered and is waiting to hear back about: id, and the words for it.
  std::vector<std::pair<std::uint64_t, std::string>> answered_;
};

}  // namespace warden::cli
