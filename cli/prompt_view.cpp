#include "cli/prompt_view.h"

#include <algorithm>

#include "cli/table.h"

namespace warden::cli {
namespace {

using nlohmann::json;

std::string text(const json& value, const char* key, std::string fallback = "-") {
  const auto it = value.find(key);
  if (it == value.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// What a question says for the terminal: a process names its own argv (and its executable's
// path, within limits), and a DNS answer its host name; control characters in them could
// rewrite what the user reads before answering (escape sequences that move the cursor, a
// newline and a forged "program" line). Escaped as `warden log` and `explain` do.
std::string shown(const json& value, const char* key) { return printable(text(value, key)); }

std::string joined(const json& list) {
  if (!list.is_array() || list.empty()) return "-";
  std::string out;
  for (const auto& item : list) {
    if (!out.empty()) out += ' ';
    out += printable(item.is_string() ? item.get<std::string>() : item.dump());
  }
  return out;
}

}  // namespace

std::string PromptView::greeting(const json& answer) {
  const json prompt = answer.value("prompt", json::object());
  return "warden prompt: connected to wardend; a flow of a program no profile matches waits " +
         text(prompt, "timeout", "?") + " s for an answer here (at most " +
         text(prompt, "hold", "?") +
         " at once), then gets the engine verdict. Ctrl-C or q quits: what waits gets the "
         "engine verdict.\n";
}

std::optional<std::size_t> PromptView::find(std::uint64_t id) const {
  for (std::size_t i = 0; i < questions_.size(); ++i) {
    if (questions_[i].body.value("id", std::uint64_t{0}) == id) return i;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> PromptView::current() const {
  if (questions_.empty()) return std::nullopt;
  return questions_.front().body.value("id", std::uint64_t{0});
}

std::string PromptView::target(const json& q) const {
  const std::string remote = shown(q, "remote");
  const bool v6 = remote.find(':') != std::string::npos;
  std::string where = (v6 ? "[" + remote + "]" : remote) + ":" + shown(q, "remote_port");
  if (shown(q, "direction") == "in")
    where = "local port " + shown(q, "local_port") + " from " + remote;
  std::string out =
      shown(q, "exe") + " " + shown(q, "direction") + " " + shown(q, "proto") + " " + where;
  if (q.contains("host") && q["host"].is_string())
    out += " (" + printable(q["host"].get<std::string>()) + ")";
  return out;
}

std::string PromptView::show() const {
  if (questions_.empty()) return "";
  const json& q = questions_.front().body;
  std::string out = "\nquestion " + shown(q, "id") + ": " + shown(q, "exe") + " wants " +
                    (shown(q, "direction") == "in" ? "to accept " : "to connect to ") +
                    shown(q, "proto") + " ";
  const std::string remote = shown(q, "remote");
  const bool v6 = remote.find(':') != std::string::npos;
  if (shown(q, "direction") == "in") {
    out += "local port " + shown(q, "local_port") + " from " + remote;
  } else {
    out += (v6 ? "[" + remote + "]" : remote) + ":" + shown(q, "remote_port");
  }
  out += "\n  host       " + shown(q, "host");
  out += "\n  program    " + shown(q, "exe");
  if (q.value("exe_on_host", true) == false) {
    out +=
        " (not the host's file at that path: a mount namespace of its own; no rule can "
        "name it)";
  }
  out += "\n  argv       " + joined(q.value("argv", json::array()));
  out += "\n  pid        " + shown(q, "pid") + ", user " + shown(q, "user") + " (uid " +
         shown(q, "uid") + ")";
  out += "\n  parent     " + shown(q, "parent");
  out += "\n  tags       " + joined(q.value("tags", json::array()));
  out += "\n  time left  " + std::to_string(q.value("timeout_ms", std::uint64_t{0}) / 1000) +
         " s (then the engine verdict)";
  if (questions_.size() > 1) {
    out += "\n  (" + std::to_string(questions_.size() - 1) + " more waiting)";
  }
  out += "\n  " + std::string(kKeys) + "\n";
  return out;
}

std::string PromptView::received(const std::string& line) {
  const json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!message.is_object()) return "";
  const std::string event = message.value("event", "");
  const std::uint64_t id = message.value("id", std::uint64_t{0});
  if (event == "question") {
    questions_.push_back({message});
    // A question behind the one shown waits its turn; the first one is shown at once.
    return questions_.size() == 1 ? show() : "";
  }
  if (event == "answer") {
    const auto mine = std::find_if(answered_.begin(), answered_.end(),
                                   [id](const auto& entry) { return entry.first == id; });
    std::string out;
    if (message.value("ok", false)) {
      out = mine != answered_.end() ? mine->second + "\n" : "";
    } else {
      out = "question " + std::to_string(id) +
            ": not applied: " + message.value("error", std::string("refused")) + "\n";
    }
    if (mine != answered_.end()) answered_.erase(mine);
    return out;
  }
  if (event == "closed") {
    const auto at = find(id);
    if (!at) return "";
    const bool shown = *at == 0;
    const std::string what = target(questions_[*at].body);
    questions_.erase(questions_.begin() + static_cast<std::ptrdiff_t>(*at));
    const std::string reason = message.value("reason", "");
    std::string out;
    if (reason == "answered") {
      out = "question " + std::to_string(id) + " (" + what + "): answered elsewhere\n";
    } else if (reason == "timeout") {
      out = "question " + std::to_string(id) + " (" + what +
            "): no answer in time, the engine verdict was given\n";
    } else {
      out =
          "question " + std::to_string(id) + " (" + what + "): released with the engine verdict\n";
    }
    return shown ? out + show() : out;
  }
  return "";
}

std::vector<std::string> PromptView::editArguments(const json& q, std::string_view action,
                                                   std::string_view duration) {
  std::vector<std::string> args = {std::string(action), text(q, "exe")};
  std::string proto = text(q, "proto");
  if (proto == "icmpv6") proto = "icmp";
  const bool in = text(q, "direction") == "in";
  args.insert(args.end(), {"--proto", proto});
  if (proto == "tcp" || proto == "udp") {
    args.insert(args.end(), {"--port", text(q, in ? "local_port" : "remote_port")});
  }
  if (in) args.insert(args.end(), {"--direction", "in"});
  // A name covers every address it resolves to; without one, the address is the destination.
  if (q.contains("host") && q["host"].is_string()) {
    args.insert(args.end(), {"--host", q["host"].get<std::string>()});
  } else {
    args.insert(args.end(), {"--ip", text(q, "remote")});
  }
  if (!duration.empty()) args.insert(args.end(), {"--for", std::string(duration)});
  // The file the question was about, not whatever its path names by the time a key is
  // pressed (a user may swap it for a symbolic link to another program, or rewrite it).
  const std::uint64_t inode = q.value("exe_ino", std::uint64_t{0});
  if (inode != 0) {
    std::string identity =
        std::to_string(q.value("exe_dev", std::uint64_t{0})) + ":" + std::to_string(inode);
    if (const std::int64_t ctime = q.value("exe_ctime_ns", std::int64_t{0}); ctime > 0) {
      identity += ":" + std::to_string(ctime);
    }
    args.insert(args.end(), {"--same-file", identity});
  }
  return args;
}

PromptView::Keyed PromptView::key(char key) {
  Keyed keyed;
  if (key == 'q' || key == 'Q' || key == 3 || key == 4) {  // also Ctrl-C, Ctrl-D
    keyed.quit = true;
    return keyed;
  }
  if (questions_.empty()) return keyed;
  std::string action;
  std::string scope = "once";
  std::string words;
  std::string duration;  // with `edit`: "" always, else --for's value
  bool edit = false;
  switch (key) {
    case 'a':
      action = "allow", words = "allowed once";
      break;
    case 'r':
      action = "allow", scope = "restart", words = "allowed until wardend restarts";
      break;
    case 't':
      action = "allow", words = "allowed for 10 minutes", duration = "10m", edit = true;
      break;
    case 'A':
      action = "allow", words = "allowed always", edit = true;
      break;
    case 'd':
      action = "deny", words = "denied once";
      break;
    case 'R':
      action = "deny", scope = "restart", words = "denied until wardend restarts";
      break;
    case 'T':
      action = "deny", words = "denied for 10 minutes", duration = "10m", edit = true;
      break;
    case 'D':
      action = "deny", words = "denied always", edit = true;
      break;
    default:
      keyed.text = "keys: " + std::string(kKeys) + "\n";
      return keyed;
  }
  const json& q = questions_.front().body;
  const std::uint64_t id = q.value("id", std::uint64_t{0});
  if (edit &&
      (q.value("exe_on_host", true) == false || q.value("exe_ino", std::uint64_t{0}) == 0)) {
    // A rule names a file of the host by path; this process runs another file there (or one
    // wardend could not tell apart): the rule would be another program's.
    keyed.text = "question " + std::to_string(id) + ": " + shown(q, "exe") +
                 " is not known to be the host's file at that path: no rule can name it; "
                 "answer once (a, d) or until wardend restarts (r, R)\n";
    return keyed;
  }
  // The held flow gets the verdict from wardend at once; the rule for the flows after it is
  // written into the policy files as `warden allow|deny` does.
  keyed.send = json{{"answer", id}, {"action", action}, {"scope", scope}}.dump();
  if (edit) keyed.edit = editArguments(q, action, duration);
  answered_.emplace_back(id, "question " + std::to_string(id) + ": " + words + ": " + target(q));
  // It leaves the screen now; wardend's "closed" for it then finds nothing to remove.
  questions_.erase(questions_.begin());
  keyed.text = show();
  return keyed;
}

}  // namespace warden::cli
