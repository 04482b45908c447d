#pragma once

#include <nlohmann/json.hpp>

#include "cli/policy_view.h"
#include "db/database.h"
#include "rules/config.h"

namespace warden::cli {

// Fills the hit counts of `view` (RuleView::hits, ProfileView::defaultHits): live from wardend
// when the view is the revision it runs (control request "hits"), else, wardend not running,
// as it last stored them in the database, matched by rules::HitKey. Says where they come from,
// or why they are missing, in view.notes.
void addHits(PolicyView& view, const rules::Config& config);

// The pieces of addHits, for the tests: a "hits" answer for the revision the view shows, and
// the stored counts of a database.
bool addLiveHits(PolicyView& view, const nlohmann::json& answer);
void addStoredHits(PolicyView& view, db::Database& db);

}  // namespace warden::cli
