#include "engine/attribution/interpreter_script.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace warden::engine {
namespace {

using Strings = std::vector<std::string>;

const Strings kNoEnv;

std::optional<std::string> scriptOf(std::string_view path, const Strings& argv,
                                    std::string_view cwd = "/w", const Strings& env = kNoEnv) {
  return interpretedScript(path, argv, &env, cwd);
}

constexpr std::string_view kPython = "/usr/bin/python3.11";
constexpr std::string_view kPerl = "/usr/bin/perl";
constexpr std::string_view kRuby = "/usr/bin/ruby3.1";
constexpr std::string_view kNode = "/usr/bin/node";
constexpr std::string_view kBash = "/usr/bin/bash";
constexpr std::string_view kDash = "/usr/bin/dash";

TEST(InterpreterScript, PythonRunsTheFirstWordAfterItsOptions) {
  EXPECT_EQ(scriptOf(kPython, {"python3", "-u", "tool.py", "--x"}, "/srv"), "/srv/tool.py");
  EXPECT_EQ(scriptOf(kPython, {"/usr/bin/python3", "/opt/b/run.py"}), "/opt/b/run.py");
  EXPECT_EQ(scriptOf(kPython, {"python3", "-W", "ignore", "x.py"}, "/h"), "/h/x.py");
  EXPECT_EQ(scriptOf(kPython, {"python3", "-Wignore", "x.py"}, "/h"), "/h/x.py");
  EXPECT_EQ(scriptOf(kPython, {"python3", "-X", "dev", "-Xutf8", "x.py"}, "/h"), "/h/x.py");
  EXPECT_EQ(scriptOf(kPython, {"python3", "-IsB", "x.py"}, "/h"), "/h/x.py");
  EXPECT_EQ(scriptOf(kPython, {"python3", "-OO", "--", "-x.py"}, "/h"), "/h/-x.py");
  EXPECT_EQ(scriptOf(kPython, {"python3", "--check-hash-based-pycs", "always", "x.py"}, "/h"),
            "/h/x.py");
  // What looks like options after the script belongs to the script.
  EXPECT_EQ(scriptOf(kPython, {"python3", "x.py", "-c", "code"}, "/h"), "/h/x.py");
}

TEST(InterpreterScript, PythonInlineCodeInEveryFormHasNoScript) {
  const Strings forms[] = {
      {"python3", "-c", "import socket", "/opt/trusted.py"},
      {"python3", "-cimport socket", "/opt/trusted.py"},
      {"python3", "-Ic", "code", "/opt/trusted.py"},
      {"python3", "-Sc", "code", "/opt/trusted.py"},
      {"python3", "-IScode", "/opt/trusted.py"},
      {"python3", "-u", "-c", "code", "/opt/trusted.py"},
      {"python3", "-W", "ignore", "-c", "code", "/opt/trusted.py"},
      {"python3", "-m", "http.server", "/opt/trusted.py"},
      {"python3", "-mhttp.server", "/opt/trusted.py"},
      {"python3", "-Em", "pip", "/opt/trusted.py"},
      {"python3", "-", "/opt/trusted.py"},
      {"python3", "-i", "/opt/trusted.py"},  // reads code from stdin after the script
      {"python3", "-ui", "/opt/trusted.py"},
      {"python3"},
      {"python3", "-u"},
      {"python3", "--"},
      {"python3", "-W"},
      {"python3", "--help", "/opt/trusted.py"},
      {"python3", "--no-such-option", "/opt/trusted.py"},
      {"python3", "-Z", "/opt/trusted.py"},  // unknown: unsure what it takes
  };
  for (const Strings& argv : forms) {
    EXPECT_EQ(scriptOf(kPython, argv), std::nullopt) << ::testing::PrintToString(argv);
  }
}

TEST(InterpreterScript, PythonInspectFromTheEnvironmentUnlessIgnored) {
  const Strings inspect = {"PYTHONINSPECT=1"};
  EXPECT_EQ(scriptOf(kPython, {"python3", "/opt/t.py"}, "/", inspect), std::nullopt);
  EXPECT_EQ(scriptOf(kPython, {"python3", "-E", "/opt/t.py"}, "/", inspect), "/opt/t.py");
  EXPECT_EQ(scriptOf(kPython, {"python3", "-I", "/opt/t.py"}, "/", inspect), "/opt/t.py");
  const Strings empty = {"PYTHONINSPECT="};
  EXPECT_EQ(scriptOf(kPython, {"python3", "/opt/t.py"}, "/", empty), "/opt/t.py");
}

TEST(InterpreterScript, PerlRunsTheFirstWordAfterItsSwitches) {
  EXPECT_EQ(scriptOf(kPerl, {"perl", "-w", "/usr/bin/cloc"}), "/usr/bin/cloc");
  EXPECT_EQ(scriptOf(kPerl, {"perl", "-I", "lib", "s.pl"}), "/w/s.pl");
  EXPECT_EQ(scriptOf(kPerl, {"perl", "-Ilib", "-wT", "s.pl"}), "/w/s.pl");
  EXPECT_EQ(scriptOf(kPerl, {"perl", "-MIO::Socket", "-Mstrict=vars,subs", "s.pl"}), "/w/s.pl");
  EXPECT_EQ(scriptOf(kPerl, {"perl", "-l0", "-0777", "-i.bak", "-x", "s.pl"}), "/w/s.pl");
  EXPECT_EQ(scriptOf(kPerl, {"perl", "-pi.orig", "s.pl", "file"}), "/w/s.pl");
  EXPECT_EQ(scriptOf(kPerl, {"perl", "-CSDA", "--", "-s.pl"}), "/w/-s.pl");
  // -i takes the rest of the word: this "e" is the backup extension.
  EXPECT_EQ(scriptOf(kPerl, {"perl", "-pie", "s.pl"}), "/w/s.pl");
}

TEST(InterpreterScript, PerlInlineCodeInEveryFormHasNoScript) {
  const Strings forms[] = {
      {"perl", "-e", "print 1", "/opt/t.pl"},
      {"perl", "-eprint 1", "/opt/t.pl"},
      {"perl", "-E", "say 1", "/opt/t.pl"},
      {"perl", "-Esay 1", "/opt/t.pl"},
      {"perl", "-le", "print 1", "/opt/t.pl"},
      {"perl", "-wnle", "print", "/opt/t.pl"},
      {"perl", "-l0e", "print", "/opt/t.pl"},
      {"perl", "-I", "lib", "-e", "1", "/opt/t.pl"},
      {"perl", "-MIO::Socket;connect(...)", "/opt/t.pl"},  // code pasted after "use"
      {"perl", "-M", "IO::Socket", "/opt/t.pl"},           // perl refuses a separate word
      {"perl", "-d", "/opt/t.pl"},                         // debugger commands from the tty
      {"perl", "-d:Trace", "/opt/t.pl"},
      {"perl", "-F/x/);system(1);(/", "-an", "/opt/t.pl"},
      {"perl", "-S", "t.pl"},
      {"perl", "-w -e1", "/opt/t.pl"},
      {"perl", "-", "/opt/t.pl"},
      {"perl"},
      {"perl", "-w"},
      {"perl", "--help"},
      {"perl", "-Q", "/opt/t.pl"},
  };
  for (const Strings& argv : forms) {
    EXPECT_EQ(scriptOf(kPerl, argv), std::nullopt) << ::testing::PrintToString(argv);
  }
  const Strings perl5opt = {"PERL5OPT=-MIO::Socket;system(1)"};
  EXPECT_EQ(scriptOf(kPerl, {"perl", "/opt/t.pl"}, "/", perl5opt), std::nullopt);
}

TEST(InterpreterScript, Ruby) {
  EXPECT_EQ(scriptOf(kRuby, {"ruby", "-I", "lib", "app.rb"}), "/w/app.rb");
  EXPECT_EQ(scriptOf(kRuby, {"ruby", "-Ilib", "-rjson", "-w", "app.rb"}), "/w/app.rb");
  EXPECT_EQ(scriptOf(kRuby, {"ruby", "-r", "json", "-E", "UTF-8", "app.rb"}), "/w/app.rb");
  EXPECT_EQ(scriptOf(kRuby, {"ruby", "--disable", "gems", "--enable=jit", "app.rb"}), "/w/app.rb");
  EXPECT_EQ(scriptOf(kRuby, {"ruby", "--disable-gems", "--yjit", "-W0", "app.rb"}), "/w/app.rb");
  const Strings forms[] = {
      {"ruby", "-e", "1", "/opt/t.rb"},
      {"ruby", "-e1", "/opt/t.rb"},
      {"ruby", "-we", "1", "/opt/t.rb"},
      {"ruby", "-rsocket", "-e", "1", "/opt/t.rb"},
      {"ruby", "-S", "t.rb"},
      {"ruby", "-C", "/tmp/evil", "t.rb"},
      {"ruby", "-C/tmp/evil", "t.rb"},
      {"ruby", "-x/tmp/evil", "t.rb"},
      {"ruby", "-", "/opt/t.rb"},
      {"ruby"},
      {"ruby", "--unknown", "/opt/t.rb"},
      {"ruby", "-I"},
  };
  for (const Strings& argv : forms) {
    EXPECT_EQ(scriptOf(kRuby, argv), std::nullopt) << ::testing::PrintToString(argv);
  }
}

TEST(InterpreterScript, Node) {
  EXPECT_EQ(scriptOf(kNode, {"node", "--require", "x", "server.js"}, "/n"), "/n/server.js");
  EXPECT_EQ(scriptOf(kNode, {"node", "-r", "x", "--import=y", "server.js"}, "/n"), "/n/server.js");
  EXPECT_EQ(scriptOf(kNode, {"node", "--no-warnings", "--max-old-space-size", "4096", "s.js"}),
            "/w/s.js");
  EXPECT_EQ(scriptOf(kNode, {"node", "--", "s.js", "-e", "x"}), "/w/s.js");
  const Strings forms[] = {
      {"node", "-e", "1", "/opt/t.js"},
      {"node", "--eval", "1", "/opt/t.js"},
      {"node", "--eval=1", "/opt/t.js"},
      {"node", "-p", "1", "/opt/t.js"},
      {"node", "--print", "1", "/opt/t.js"},
      {"node", "-pe", "1", "/opt/t.js"},
      {"node", "-r", "x", "-e", "1", "/opt/t.js"},
      {"node", "-i", "/opt/t.js"},
      {"node", "--inspect", "/opt/t.js"},
      {"node", "--inspect-brk=0.0.0.0:9229", "/opt/t.js"},
      {"node", "inspect", "/opt/t.js"},
      {"node", "-", "/opt/t.js"},
      {"node"},
      {"node", "--some-new-option", "/opt/t.js"},  // may take the next word
      {"node", "--require"},
      // A module given as a data: URL is inline code; an env file may hold NODE_OPTIONS.
      {"node", "--import", "data:text/javascript,evil()", "/opt/t.js"},
      {"node", "--import=data:text/javascript,evil()", "/opt/t.js"},
      {"node", "-r", "data:text/javascript,evil()", "/opt/t.js"},
      {"node", "--experimental-loader", "data:text/javascript,evil()", "/opt/t.js"},
      {"node", "--env-file=/tmp/evil.env", "/opt/t.js"},
      {"node", "--env-file-if-exists", "/tmp/evil.env", "/opt/t.js"},
  };
  for (const Strings& argv : forms) {
    EXPECT_EQ(scriptOf(kNode, argv), std::nullopt) << ::testing::PrintToString(argv);
  }
  const Strings inspect = {"NODE_OPTIONS=--max-old-space-size=100 --inspect"};
  EXPECT_EQ(scriptOf(kNode, {"node", "/opt/t.js"}, "/", inspect), std::nullopt);
  const Strings require = {"NODE_OPTIONS=--require /opt/x.js --no-warnings"};
  EXPECT_EQ(scriptOf(kNode, {"node", "/opt/t.js"}, "/", require), "/opt/t.js");
  const Strings inlineImport = {"NODE_OPTIONS=--import=data:text/javascript,evil()"};
  EXPECT_EQ(scriptOf(kNode, {"node", "/opt/t.js"}, "/", inlineImport), std::nullopt);
  EXPECT_EQ(scriptOf(kNode, {"node", "--import", "./data:x.mjs", "/opt/t.js"}), "/opt/t.js")
      << "a file whose name has data: in it is a file";
}

TEST(InterpreterScript, Shells) {
  EXPECT_EQ(scriptOf(kBash, {"bash", "-x", "./deploy.sh", "prod"}, "/ops"), "/ops/deploy.sh");
  EXPECT_EQ(scriptOf(kBash, {"bash", "-euo", "pipefail", "s.sh"}), "/w/s.sh");
  EXPECT_EQ(scriptOf(kBash, {"bash", "--norc", "-O", "extglob", "+x", "s.sh"}), "/w/s.sh");
  EXPECT_EQ(scriptOf("/usr/bin/zsh", {"zsh", "-o", "errexit", "s.zsh"}, "/"), "/s.zsh");
  EXPECT_EQ(scriptOf(kDash, {"sh", "-e", "--", "s.sh", "-c"}), "/w/s.sh");
  EXPECT_EQ(scriptOf(kDash, {"sh", "-", "s.sh"}), "/w/s.sh");  // "-" ends the options
  const Strings forms[] = {
      {"sh", "-c", "curl x", "/opt/t.sh"},
      {"sh", "-ec", "curl x", "/opt/t.sh"},
      {"bash", "-xc", "curl x", "/opt/t.sh"},
      {"bash", "-cx", "curl x", "/opt/t.sh"},
      {"bash", "-e", "-c", "curl x", "/opt/t.sh"},
      {"bash", "-o", "errexit", "-c", "curl x", "/opt/t.sh"},
      {"bash", "+c", "curl x", "/opt/t.sh"},
      {"bash", "-s", "/opt/t.sh"},
      {"bash", "-i", "/opt/t.sh"},
      {"bash", "--login", "/opt/t.sh"},
      {"bash", "--rcfile", "/tmp/evil", "/opt/t.sh"},
      {"bash", "-o"},
      {"bash"},
      {"-bash"},
      {"sh", "-"},
  };
  for (const Strings& argv : forms) {
    EXPECT_EQ(scriptOf(kBash, argv), std::nullopt) << ::testing::PrintToString(argv);
  }
  for (const std::string variable : {"BASH_ENV=/tmp/evil.sh", "BASH_FUNC_curl%%=() { evil; }",
                                     "SHELLOPTS=xtrace", "PS4=+$(evil)"}) {
    const Strings env = {variable};
    EXPECT_EQ(scriptOf(kBash, {"bash", "/opt/t.sh"}, "/", env), std::nullopt) << variable;
  }
  // xtrace from the command line, or the script's own `set -x`, expands PS4 too: in bash,
  // dash and zsh alike.
  const Strings ps4 = {"PS4=+$(evil)"};
  EXPECT_EQ(scriptOf(kBash, {"bash", "-x", "/opt/t.sh"}, "/", ps4), std::nullopt);
  EXPECT_EQ(scriptOf(kDash, {"sh", "-o", "xtrace", "/opt/t.sh"}, "/", ps4), std::nullopt);
  EXPECT_EQ(scriptOf("/usr/bin/zsh", {"zsh", "/opt/t.sh"}, "/", ps4), std::nullopt);
}

TEST(InterpreterScript, OtherProgramsAndUnknownEnvironmentsHaveNone) {
  EXPECT_EQ(scriptOf("/usr/bin/curl", {"curl", "x.py"}), std::nullopt);
  EXPECT_EQ(scriptOf("/usr/bin/bashful", {"bashful", "x.sh"}), std::nullopt);
  EXPECT_EQ(interpretedScript(kPython, {"python3", "/opt/t.py"}, nullptr, "/"), std::nullopt);
}

// execve takes any list, so a variable may come twice; a shell takes the last copy, getenv the
// first: any copy that would run other code withholds the tag (from review: an empty BASH_ENV
// first and bash running the second).
TEST(InterpreterScript, AVariableSetTwiceCountsByEitherCopy) {
  for (const Strings& env : {Strings{"BASH_ENV=", "BASH_ENV=/tmp/evil.sh"},
                             Strings{"BASH_ENV=/tmp/evil.sh", "BASH_ENV="}}) {
    EXPECT_EQ(scriptOf(kBash, {"bash", "/opt/t.sh"}, "/", env), std::nullopt)
        << ::testing::PrintToString(env);
  }
  EXPECT_EQ(scriptOf(kPython, {"python3", "/opt/t.py"}, "/", {"PYTHONINSPECT=", "PYTHONINSPECT=1"}),
            std::nullopt);
  EXPECT_EQ(scriptOf(kNode, {"node", "/opt/t.js"}, "/",
                     {"NODE_OPTIONS=--max-old-space-size=64", "NODE_OPTIONS=--inspect"}),
            std::nullopt);
  EXPECT_EQ(scriptOf(kBash, {"bash", "/opt/t.sh"}, "/", {"BASH_ENV=", "BASH_ENV="}), "/opt/t.sh");
}

// A command line read in part: its last word may be cut short ("/opt/t.py" of
// "/opt/t.pyc-evil"), the words before it are whole.
TEST(InterpreterScript, ACutCommandLineNamesAScriptOnlyBeforeItsLastWord) {
  const Strings env;
  EXPECT_EQ(interpretedScript(kPython, {"python3", "/opt/t.py"}, &env, "/", true), std::nullopt);
  EXPECT_EQ(interpretedScript(kPython, {"python3", "/opt/t.py", "--p"}, &env, "/", true),
            "/opt/t.py");
  EXPECT_EQ(interpretedScript(kPython, {"python3", "/opt/t.py"}, &env, "/", false), "/opt/t.py");
}

TEST(InterpreterScript, PathsAreMadeAbsoluteWithoutGuessingAtLinks) {
  EXPECT_EQ(scriptOf(kPython, {"python3", "./a/./b.py"}, "/srv"), "/srv/a/b.py");
  // "/tmp/link/../x" is not "/tmp/x" when link is a symbolic link.
  EXPECT_EQ(scriptOf(kPython, {"python3", "/tmp/link/../../opt/t.py"}), std::nullopt);
  EXPECT_EQ(scriptOf(kPython, {"python3", "../t.py"}, "/opt/x"), std::nullopt);
  EXPECT_EQ(scriptOf(kPython, {"python3", "t.py"}, ""), std::nullopt);
  EXPECT_EQ(scriptOf(kPython, {"python3", ""}), std::nullopt);
}

}  // namespace
}  // namespace warden::engine
