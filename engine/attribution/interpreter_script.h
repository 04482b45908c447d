#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warden::engine {

// The script file an interpreter (python, perl, ruby, node, sh, bash, zsh, dash) runs as its
// program, made absolute against `cwd`: what the `script:<path>` tag names (SPEC section 5).
//
// A wrong tag grants what the script's profile allows to code that is not the script, a missing
// one grants nothing; so this answers only when the command line is understood completely and
// the file is the whole program. It is nullopt for other programs and whenever code comes from
// elsewhere: inline (-c, -e, -E, --eval, -p, also glued as -cCODE and inside clusters as -Ic or
// -ec, perl's -M'Mod;code' and -F), from stdin (-, -s, an interactive session after the
// script), from a module (python -m), through a debugger (perl -d, node --inspect), from a file
// found elsewhere than named (perl/ruby -S, ruby -C), from environment variables the
// interpreter runs code from (PYTHONINSPECT, PERL5OPT, NODE_OPTIONS' --inspect, BASH_ENV,
// exported bash functions; any copy of one, as an environment may hold a variable twice), for
// options it does not know, and when `env` is unknown (null): pass null for an environment read
// only in part. `argvCut`: argv was read only in part, so its last word may be cut short.
// Pure.
std::optional<std::string> interpretedScript(std::string_view path,
                                             const std::vector<std::string>& argv,
                                             const std::vector<std::string>* env,
                                             std::string_view cwd, bool argvCut = false);

}  // namespace warden::engine
