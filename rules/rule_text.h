#pragma once

#include <string>

#include "rules/rule.h"

namespace warden::rules {

// An address block as a rule writes it: 192.0.2.0/24, or a bare address for a /32 or /128.
std::string cidrText(const Cidr& cidr);

// A rule in one line, as `warden rules` shows it and the stored policy remembers it:
// "reject out tcp ip=192.0.2.0/24 ports=443,8000-8100 host=*.example.org scope=internet".
std::string describe(const Rule& rule);

}  // namespace warden::rules
