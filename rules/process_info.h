#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace warden::rules {

using Sha256 = std::array<std::uint8_t, 32>;

// 64 hex digits (either case) to a digest, or nothing.
std::optional<Sha256> parseSha256(std::string_view hex);
std::string toHex(const Sha256& digest);

// A process's environment as the matcher sees it: variable names to values. Copies share one
// map, so that the many processes a shell or a build starts with one environment hold it once
// (the engine keeps thousands of descriptions); changing a copy gives it a map of its own.
// Like a std::map, one object must not be changed while another thread reads it.
class Environment {
 public:
  using Map = std::map<std::string, std::string, std::less<>>;
  using const_iterator = Map::const_iterator;

  Environment() = default;
  Environment(std::initializer_list<Map::value_type> entries)
      : map_(std::make_shared<Map>(entries)) {}
  explicit Environment(Map map) : map_(std::make_shared<Map>(std::move(map))) {}

  const_iterator find(std::string_view name) const { return map().find(name); }
  const_iterator begin() const { return map().begin(); }
  const_iterator end() const { return map().end(); }
  std::size_t size() const { return map().size(); }
  bool empty() const { return map().empty(); }

  std::string& operator[](const std::string& name) { return own()[name]; }
  template <typename... Args>
  std::pair<Map::iterator, bool> emplace(Args&&... args) {
    return own().emplace(std::forward<Args>(args)...);
  }
  std::size_t erase(std::string_view name);

  bool operator==(const Environment& other) const {
    return map_ == other.map_ || map() == other.map();
  }
  // Whether both hold the very same map (not only equal ones).
  bool sharesWith(const Environment& other) const { return map_ && map_ == other.map_; }

 private:
  const Map& map() const;
  Map& own();

  std::shared_ptr<Map> map_;  // null: empty
};

// What the engine learned about the process owning a flow's socket, as the matcher sees
// it. Every attribute is optional: one the engine could not obtain is left empty, and a
// [[match]] key that needs it does not hold (SPEC section 4). Built once per process by
// the engine and only read by the matcher; `sha256` may be called from a worker thread.
// What the engine can tell of an image's digest when the matcher asks for it: the digest, none
// (it cannot be had: a key that needs it does not hold), or not yet (it is being computed: which
// profile the process gets cannot be told, and the flow gets the engine `unknown` verdict, as
// one whose process was not described in time).
struct DigestAnswer {
  DigestAnswer() = default;
  DigestAnswer(std::optional<Sha256> known) : digest(known) {}  // NOLINT: the digest, or none
  static DigestAnswer notYet() {
    DigestAnswer answer;
    answer.pending = true;
    return answer;
  }
  explicit operator bool() const { return digest.has_value(); }

  std::optional<Sha256> digest;
  bool pending = false;
};

struct ProcessInfo {
  std::optional<std::string> path;  // /proc/PID/exe, " (deleted)" stripped
  // argv joined by single spaces (setArgv): all the matcher reads of argv. The list itself is
  // the description's, not kept again here (a process of 128 Ki arguments made it megabytes).
  std::optional<std::string> cmdline;
  std::optional<Environment> env;
  std::optional<std::vector<std::string>> tags;  // "flatpak:org.mozilla.firefox", ...
  std::optional<std::uint32_t> uid;
  std::optional<std::string> user;                    // the name of `uid`
  std::optional<std::vector<std::string>> ancestors;  // executables: [0] = the parent, ...
  // Digest of the executed image, asked for only when a candidate [[match]] has `sha256`;
  // empty or returning nothing = unknown.
  std::function<DigestAnswer()> sha256;
  // The command line, or the environment, was read only in part: /proc gives a process's
  // first 256 KiB of either, an exec event its first WARDEN_ARGS_LEN bytes of argv, and a
  // description keeps the first 1,024 variables. A `cmdline` regex over what was read may hold
  // where the whole would not, or not hold where it would, and a variable may sit past the
  // cut: a [[match]] whose other keys hold and that needs the rest cannot be told to hold or
  // not (ProfileSelection::attributeCut). What was read is whole: the environment's last,
  // possibly cut, variable is left out.
  bool cmdlineCut = false;
  bool envCut = false;
  // Variables the environment holds more than once with different values (execve takes any
  // list): `env` has the first, but which one the program uses is its own affair (getenv
  // takes the first, a shell the last), so a key that wants a value of one is undetermined.
  // Empty for nearly every process.
  std::vector<std::string> envConflicts;
  // Likewise the ancestors: more than the 16 nearest, which are all `ancestors` holds.
  bool ancestorsCut = false;
  // And a `script:` tag: what was read names a script, but the unread part may name another
  // program or set a variable that runs other code, so it was not given; nor can it be said
  // not to be the process's.
  bool scriptTagCut = false;

  void setArgv(const std::vector<std::string>& args);
};

// argv joined by single spaces, the text `cmdline` regexes see.
std::string joinArgv(const std::vector<std::string>& argv);

}  // namespace warden::rules
