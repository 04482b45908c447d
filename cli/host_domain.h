#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>

namespace warden::cli {

// The part of a host name an organisation registers, as `warden suggest` guesses it without a
// public-suffix list: the last two labels ("example.org" of "cdn.example.org"), or the last
// three when the top-level label is two letters (a country code) and the second-level label
// has at most three characters, which is how registries under country codes name their
// public second levels ("example.co.uk", "example.com.au", "example.ne.jp"). The guess errs
// narrow: "www.abc.de" counts as registered at "www.abc.de", so no wildcard is drafted above
// it. Empty when the name has too few labels for that (a bare "example", "co.uk").
std::string registrableDomain(std::string_view host);

// Host names generalised as an administrator would: where at least two different names lie
// strictly below one registrable domain D, they (and D itself, when present) become "*.D",
// which matches D and every subdomain; other names stay as they are. Returns, for each name
// given, its pattern (keys and patterns in lower case without a trailing dot).
std::map<std::string, std::string> generaliseHosts(const std::set<std::string>& hosts);

// A host name in lower case without a trailing dot, as rule patterns are written.
std::string normalizedHost(std::string_view host);

}  // namespace warden::cli
