#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace warden::cli {

// Long output on a terminal goes through a pager, as systemctl and journalctl do it.

// The pager command line: $WARDEN_PAGER if set, else $PAGER if set, else "less". A value
// that is empty or "cat" means no pager. The arguments are the environment's values (null
// when unset).
std::optional<std::string> pagerCommand(const char* wardenPager, const char* pager);

// Whether the program `command` names can be run: its first word, looked up in `path` (a
// PATH value) unless it has a slash. A command with shell syntax in it (quotes, pipes,
// variables, ...) is taken as found: only the shell can tell.
bool pagerFound(std::string_view command, const char* path);

// Runs `command` with /bin/sh -c (a pager variable may carry options: "less -S"), writes
// `text` to its standard input and waits for it to exit. LESS=FRXMK is put in its
// environment unless LESS is set: quit when it fits one screen (F), let colours through (R),
// no screen clearing (X), long prompt (M), quit on Ctrl-C (K). Where the pager cannot be
// started or is not installed (a minimal system without less), the text goes to stdout
// instead. SIGINT and SIGQUIT are ignored while the pager
// runs, so that Ctrl-C reaches only the pager instead of leaving it orphaned on the terminal.
void showPaged(std::string_view text, const std::string& command);

}  // namespace warden::cli
