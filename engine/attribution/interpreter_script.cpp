#include "engine/attribution/interpreter_script.h"

#include <algorithm>
#include <filesystem>
#include <initializer_list>

namespace warden::engine {
namespace {

using Args = std::vector<std::string>;
// The index in argv of the script file; nullopt: the program is not (only) a file, or the
// command line is not understood.
using ScriptIndex = std::optional<std::size_t>;

bool oneOf(std::string_view text, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), text) != set.end();
}

bool isOneOf(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }

// Every value of variable `name`: an environment may hold it more than once (execve takes any
// list), and which copy a program sees is its own affair (getenv takes the first, a shell's
// import the last).
std::vector<std::string_view> envValues(const Args& env, std::string_view name) {
  std::vector<std::string_view> values;
  for (const std::string& entry : env) {
    if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
        entry[name.size()] == '=') {
      values.push_back(std::string_view(entry).substr(name.size() + 1));
    }
  }
  return values;
}

// Whether any copy of `name` is set to something.
bool envSet(const Args& env, std::string_view name) {
  return std::ranges::any_of(envValues(env, name), [](auto value) { return !value.empty(); });
}

// The word after option `i` when it takes its value from there; false when there is none.
bool skipValueWord(const Args& argv, std::size_t& i) { return ++i < argv.size(); }

// "--" ends the options: the next word is the script (none: the program comes from stdin).
ScriptIndex afterEndOfOptions(const Args& argv, std::size_t i) {
  if (i + 1 < argv.size()) return i + 1;
  return std::nullopt;
}

// CPython (Python/getopt.c, Python/initconfig.c): short options cluster ("-Ic"); c, m, W and X
// take the rest of the word or else the next word; -c and -m end the options with the program.
ScriptIndex pythonScript(const Args& argv, const Args& env) {
  bool ignoresEnvironment = false;
  ScriptIndex script;
  for (std::size_t i = 1; i < argv.size() && !script; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") {
      script = afterEndOfOptions(argv, i);
      if (!script) return std::nullopt;
      break;
    }
    if (arg == "-") return std::nullopt;  // the program on stdin
    if (!arg.starts_with('-')) {
      script = i;
      break;
    }
    if (arg.starts_with("--")) {
      if (arg == "--check-hash-based-pycs" && skipValueWord(argv, i)) continue;
      return std::nullopt;  // --help, --version...: nothing runs; others are unknown
    }
    for (std::size_t j = 1; j < arg.size(); ++j) {
      const char c = arg[j];
      // -c: inline code, -m: a module (both also glued and clustered); -i: an interactive
      // prompt reading code from stdin once the script is done.
      if (c == 'c' || c == 'm' || c == 'i') return std::nullopt;
      if (c == 'W' || c == 'X') {
        if (j + 1 == arg.size() && !skipValueWord(argv, i)) return std::nullopt;
        break;  // the rest of the word (or the next word) is the value
      }
      if (c == 'E' || c == 'I') ignoresEnvironment = true;
      if (!isOneOf(c, "bBdEIOPqRsStuvx")) return std::nullopt;
    }
  }
  if (!script) return std::nullopt;
  // PYTHONINSPECT is -i.
  if (!ignoresEnvironment && envSet(env, "PYTHONINSPECT")) return std::nullopt;
  return script;
}

// -M/-m: "Module" or "Module=args" (perl puts args in a NUL-quoted q//, no way out of it).
// Anything else after the name is pasted into the program as code ("-M'Mod;code'").
bool plainModuleLoad(std::string_view value) {
  if (value.starts_with('-')) value.remove_prefix(1);  // -M-Mod: "no Mod"
  if (value.empty()) return false;                     // "-M Mod" is an error
  const std::size_t end =
      value.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:");
  if (end == 0) return false;
  return end == std::string_view::npos || value[end] == '=';
}

// The digits an option such as -0 or -l consumes: at most `limit` of `digits`.
std::size_t skipDigits(std::string_view arg, std::size_t j, std::string_view digits,
                       std::size_t limit) {
  for (std::size_t n = 0; j < arg.size() && n < limit && isOneOf(arg[j], digits); ++n) ++j;
  return j;
}

constexpr std::string_view kOctal = "01234567";
constexpr std::string_view kHex = "0123456789abcdefABCDEF";

// perl (perl.c parse_body and moreswitches): switches cluster; -e/-E take the rest of the word
// or the next word; -I likewise; -x, -i, -C, -D, -M, -m, -F take the rest of the word.
ScriptIndex perlScript(const Args& argv, const Args& env) {
  // PERL5OPT holds switches perl applies as if given first, -M'Mod;code' and -d among them.
  if (envSet(env, "PERL5OPT")) return std::nullopt;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-") return std::nullopt;  // the program on stdin
    if (!arg.starts_with('-')) return i;
    if (arg == "--") return afterEndOfOptions(argv, i);
    if (arg.starts_with("--")) return std::nullopt;  // --help, --version; others are errors
    // Whitespace inside a switch word starts further switches, as on a #! line.
    if (arg.find_first_of(" \t\n\r") != std::string_view::npos) return std::nullopt;
    std::size_t j = 1;
    while (j < arg.size()) {
      const char c = arg[j++];
      switch (c) {
        case 'e':
        case 'E':
          return std::nullopt;  // inline code
        case 'd':
          // The debugger takes its commands from the terminal; -d:Mod runs Devel::Mod.
          return std::nullopt;
        case 'F':
          return std::nullopt;  // the split pattern is pasted into the program
        case 'S':
          return std::nullopt;  // the script is looked up in PATH, not where it is named
        case 'M':
        case 'm':
          if (!plainModuleLoad(arg.substr(j))) return std::nullopt;
          j = arg.size();
          break;
        case 'I':
          if (j == arg.size() && !skipValueWord(argv, i)) return std::nullopt;
          j = arg.size();
          break;
        case 'x':  // a directory to change to once the script is open
        case 'i':  // the in-place backup extension
        case 'C':  // Unicode features
        case 'D':  // debugging flags
          j = arg.size();
          break;
        case '0':
          if (j < arg.size() && (arg[j] == 'x' || arg[j] == 'X')) {
            j = skipDigits(arg, j + 1, kHex, arg.size());
          } else {
            j = skipDigits(arg, j, kOctal, 3);
          }
          break;
        case 'l':
          j = skipDigits(arg, j, kOctal, j < arg.size() && arg[j] == '0' ? 4 : 3);
          break;
        default:
          if (!isOneOf(c, "acfghnpstTuUvwWX")) return std::nullopt;
      }
    }
  }
  return std::nullopt;  // no script: the program comes from stdin
}

// ruby (ruby.c proc_options): switches cluster; -e, -I, -r, -E, -C take the rest of the word or
// else the next word; -x, -F, -i, -W, -T, -K the rest of the word.
ScriptIndex rubyScript(const Args& argv) {
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-") return std::nullopt;  // the program on stdin
    if (!arg.starts_with('-')) return i;
    if (arg == "--") return afterEndOfOptions(argv, i);
    if (arg.starts_with("--")) {
      const std::size_t eq = arg.find('=');
      const std::string_view name = arg.substr(2, eq == std::string_view::npos ? eq : eq - 2);
      if (oneOf(name, {"enable", "disable", "encoding", "external-encoding", "internal-encoding",
                       "dump", "backtrace-limit", "crash-report", "parser"})) {
        if (eq == std::string_view::npos && !skipValueWord(argv, i)) return std::nullopt;
        continue;
      }
      if (eq == std::string_view::npos &&
          (oneOf(name, {"verbose", "yjit", "rjit", "jit"}) || name.starts_with("enable-") ||
           name.starts_with("disable-"))) {
        continue;
      }
      if (name.starts_with("yjit-") || name.starts_with("rjit-")) continue;
      return std::nullopt;  // --help, --version, --copyright; others are unknown
    }
    for (std::size_t j = 1; j < arg.size(); ++j) {
      const char c = arg[j];
      if (c == 'e') return std::nullopt;              // inline code
      if (c == 'S') return std::nullopt;              // the script is looked up in PATH
      if (c == 'C' || c == 'X') return std::nullopt;  // the script is opened in another directory
      if (c == 'x') {
        if (j + 1 < arg.size()) return std::nullopt;  // -xDIR changes directory as well
        continue;
      }
      if (c == 'I' || c == 'r' || c == 'E') {
        if (j + 1 == arg.size() && !skipValueWord(argv, i)) return std::nullopt;
        break;
      }
      if (isOneOf(c, "FiWTK")) break;  // the rest of the word is the value
      if (c == '0') {
        j = skipDigits(arg, j + 1, kOctal, 3) - 1;
        continue;
      }
      if (!isOneOf(c, "acdhlnpsUvwy")) return std::nullopt;
    }
  }
  return std::nullopt;
}

enum class NodeOption { kFlag, kValue, kRefused };

// `name` is an option word without its "=value".
NodeOption nodeOption(std::string_view name) {
  // Inline code, a REPL, a package.json script, or nothing run at all.
  if (oneOf(name, {"-e", "--eval", "-p", "--print", "-pe", "-i", "--interactive", "--run", "-v",
                   "--version", "-h", "--help", "--v8-options", "--completion-bash"})) {
    return NodeOption::kRefused;
  }
  // The inspector lets whoever connects to it run code in the process. An env file may hold
  // NODE_OPTIONS (--inspect, --require) that the process's environment does not show.
  if (name.starts_with("--inspect") || name.starts_with("--debug") ||
      name.starts_with("--env-file")) {
    return NodeOption::kRefused;
  }
  if (oneOf(name, {"-r",
                   "--require",
                   "--import",
                   "--loader",
                   "--experimental-loader",
                   "-C",
                   "--conditions",
                   "--input-type",
                   "--title",
                   "--icu-data-dir",
                   "--openssl-config",
                   "--redirect-warnings",
                   "--diagnostic-dir",
                   "--disable-warning",
                   "--dns-result-order",
                   "--unhandled-rejections",
                   "--watch-path",
                   "--cpu-prof-dir",
                   "--cpu-prof-name",
                   "--cpu-prof-interval",
                   "--heap-prof-dir",
                   "--heap-prof-name",
                   "--heap-prof-interval",
                   "--heapsnapshot-signal",
                   "--heapsnapshot-near-heap-limit",
                   "--max-http-header-size",
                   "--max-old-space-size",
                   "--max-semi-space-size",
                   "--stack-size",
                   "--stack-trace-limit",
                   "--report-dir",
                   "--report-directory",
                   "--report-filename",
                   "--report-signal",
                   "--secure-heap",
                   "--secure-heap-min",
                   "--tls-cipher-list",
                   "--tls-keylog",
                   "--trace-event-categories",
                   "--trace-event-file-pattern",
                   "--experimental-policy",
                   "--policy-integrity",
                   "--experimental-default-type",
                   "--use-largepages",
                   "--test-reporter",
                   "--test-reporter-destination",
                   "--test-name-pattern",
                   "--test-skip-pattern",
                   "--test-concurrency",
                   "--test-shard",
                   "--test-timeout"})) {
    return NodeOption::kValue;
  }
  if (name.starts_with("--no-") || oneOf(name, {"-c",
                                                "--check",
                                                "--abort-on-uncaught-exception",
                                                "--enable-source-maps",
                                                "--expose-gc",
                                                "--frozen-intrinsics",
                                                "--force-fips",
                                                "--enable-fips",
                                                "--pending-deprecation",
                                                "--preserve-symlinks",
                                                "--preserve-symlinks-main",
                                                "--prof",
                                                "--throw-deprecation",
                                                "--trace-deprecation",
                                                "--trace-sync-io",
                                                "--trace-uncaught",
                                                "--trace-warnings",
                                                "--trace-exit",
                                                "--trace-tls",
                                                "--track-heap-objects",
                                                "--use-openssl-ca",
                                                "--use-bundled-ca",
                                                "--watch",
                                                "--watch-preserve-output",
                                                "--zero-fill-buffers",
                                                "--cpu-prof",
                                                "--heap-prof",
                                                "--report-on-fatalerror",
                                                "--report-uncaught-exception",
                                                "--report-on-signal",
                                                "--report-compact",
                                                "--test",
                                                "--permission",
                                                "--experimental-permission",
                                                "--openssl-legacy-provider",
                                                "--openssl-shared-config",
                                                "--insecure-http-parser",
                                                "--tls-min-v1.0",
                                                "--tls-min-v1.1",
                                                "--tls-min-v1.2",
                                                "--tls-min-v1.3",
                                                "--tls-max-v1.2",
                                                "--tls-max-v1.3",
                                                "--experimental-modules",
                                                "--experimental-vm-modules",
                                                "--experimental-wasm-modules",
                                                "--experimental-json-modules",
                                                "--experimental-import-meta-resolve",
                                                "--experimental-fetch",
                                                "--experimental-websocket",
                                                "--experimental-global-webcrypto",
                                                "--experimental-strip-types",
                                                "--experimental-transform-types",
                                                "--experimental-require-module",
                                                "--experimental-detect-module",
                                                "--experimental-test-coverage",
                                                "--experimental-sqlite"})) {
    return NodeOption::kFlag;
  }
  return NodeOption::kRefused;  // unknown: it may take the next word, which would shift the script
}

// Checks one option word (and skips its value word); false when it refuses a script tag.
bool acceptNodeOption(const std::vector<std::string_view>& words, std::size_t& i) {
  const std::string_view word = words[i];
  const std::size_t eq = word.find('=');
  const std::string_view name = word.substr(0, eq);
  switch (nodeOption(name)) {
    case NodeOption::kRefused:
      return false;
    case NodeOption::kValue: {
      if (eq == std::string_view::npos && ++i >= words.size()) return false;
      // A module given as a data: URL is code written inline.
      const std::string_view value = eq == std::string_view::npos ? words[i] : word.substr(eq + 1);
      return !(oneOf(name, {"-r", "--require", "--import", "--loader", "--experimental-loader"}) &&
               value.starts_with("data:"));
    }
    case NodeOption::kFlag:
      return eq == std::string_view::npos;
  }
  return false;
}

std::vector<std::string_view> splitWords(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while ((start = text.find_first_not_of(" \t\n", start)) != std::string_view::npos) {
    const std::size_t end = std::min(text.find_first_of(" \t\n", start), text.size());
    words.push_back(text.substr(start, end - start));
    start = end;
  }
  return words;
}

// node (src/node_options.cc): no clustering; an option's value follows "=" or is the next word.
ScriptIndex nodeScript(const Args& argv, const Args& env) {
  // NODE_OPTIONS holds more options (not -e/-p, but --inspect and --require).
  for (const std::string_view options : envValues(env, "NODE_OPTIONS")) {
    const auto words = splitWords(options);
    for (std::size_t i = 0; i < words.size(); ++i) {
      if (!acceptNodeOption(words, i)) return std::nullopt;
    }
  }
  const std::vector<std::string_view> words(argv.begin(), argv.end());
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string_view arg = words[i];
    if (arg == "-") return std::nullopt;  // the program on stdin
    if (arg == "--") return afterEndOfOptions(argv, i);
    if (!arg.starts_with('-')) {
      if (arg == "inspect" || arg == "debug") return std::nullopt;  // the debugger client
      return i;
    }
    if (!acceptNodeOption(words, i)) return std::nullopt;
  }
  return std::nullopt;  // no script: a REPL or stdin
}

// sh, bash, dash, zsh: options cluster with - or +; -o/-O take the next word; -c takes the
// program from the first word that is not an option; "-" and "--" end the options.
ScriptIndex shellScript(const Args& argv, const Args& env) {
  // bash runs BASH_ENV before a script, and an exported function replaces the command of its
  // name for the script; SHELLOPTS can turn on xtrace, which expands PS4 (command
  // substitutions included) before every command.
  // PS4 itself is refused too: xtrace may also come from the command line (-x, -o xtrace) or
  // from the script's own `set -x`, and dash and zsh expand it as well.
  if (envSet(env, "BASH_ENV") || envSet(env, "SHELLOPTS") || envSet(env, "PS4")) {
    return std::nullopt;
  }
  for (const std::string& entry : env) {
    if (entry.starts_with("BASH_FUNC_")) return std::nullopt;
  }
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-" || arg == "--") return afterEndOfOptions(argv, i);
    if (!arg.starts_with('-') && !arg.starts_with('+')) return i;
    if (arg.starts_with("--")) {
      if (oneOf(arg,
                {"--noediting", "--noprofile", "--norc", "--posix", "--restricted", "--verbose",
                 "--debugger", "--dump-strings", "--dump-po-strings", "--pretty-print"})) {
        continue;
      }
      // --login, --rcfile, --init-file: startup files run first; --help, --version; unknown.
      return std::nullopt;
    }
    if (arg.size() == 1) return std::nullopt;  // a lone "+"
    for (std::size_t j = 1; j < arg.size(); ++j) {
      const char c = arg[j];
      // -c: inline code; -s: stdin; -i: interactive and -l: login, which read startup files.
      if (isOneOf(c, "csil")) return std::nullopt;
      if (c == 'o' || c == 'O') {
        if (!skipValueWord(argv, i)) return std::nullopt;
        continue;
      }
      if (!isOneOf(c, "abefhkmnprtuvxBCDEHPT")) return std::nullopt;
    }
  }
  return std::nullopt;  // no script: commands come from stdin
}

std::string_view baseName(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "python", "python3", "python3.11", "pypy3"...: the name, then digits and dots.
bool nameWithVersion(std::string_view base, std::string_view name) {
  if (!base.starts_with(name)) return false;
  const std::string_view rest = base.substr(name.size());
  return std::all_of(rest.begin(), rest.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

ScriptIndex scriptIndex(std::string_view path, const Args& argv, const Args& env) {
  const std::string_view base = baseName(path);
  if (nameWithVersion(base, "python") || nameWithVersion(base, "pypy")) {
    return pythonScript(argv, env);
  }
  if (nameWithVersion(base, "perl")) return perlScript(argv, env);
  if (nameWithVersion(base, "ruby")) return rubyScript(argv);
  if (base == "nodejs" || nameWithVersion(base, "node")) return nodeScript(argv, env);
  if (oneOf(base, {"sh", "bash", "zsh", "dash"})) return shellScript(argv, env);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> interpretedScript(std::string_view path, const Args& argv,
                                             const Args* env, std::string_view cwd, bool argvCut) {
  if (!env) return std::nullopt;  // it may hold code the interpreter runs
  const ScriptIndex index = scriptIndex(path, argv, *env);
  if (!index || argv[*index].empty()) return std::nullopt;
  // Of a command line read in part, the last word may be cut short; the words before the
  // script are whole when it is not the last (every interpreter here stops at the script).
  if (argvCut && *index + 1 >= argv.size()) return std::nullopt;
  std::filesystem::path script(argv[*index]);
  // ".." after a symbolic link leads elsewhere than the same text without it: no tag.
  for (const auto& part : script) {
    if (part == "..") return std::nullopt;
  }
  if (script.is_relative()) {
    if (cwd.empty() || cwd.front() != '/') return std::nullopt;
    script = std::filesystem::path(cwd) / script;
  }
  return script.lexically_normal().string();
}

}  // namespace warden::engine
