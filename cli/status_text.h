#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/color.h"

namespace warden::cli {

// `warden status` for people: the daemon's status object (the "status" member of its answer
// to {"command":"status"}) as labelled lines and a table of the queues. `nowNs` dates the
// ages shown. Fields the daemon did not send are shown as unknown or left out, never guessed,
// so an older or newer wardend still prints. `palette` makes the
// queue table's header bold.
void printStatus(const nlohmann::json& status, std::int64_t nowNs, std::ostream& out,
                 const Palette& palette = Palette());

}  // namespace warden::cli
