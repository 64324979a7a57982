// The blocking half of a refresh, run on vigil_policy's worker thread: what
// a download brought goes into the cache, then each type's documents are
// merged, rendered in the child and installed (doc/policy.md). A type whose
// input is bad (an entry the checks refuse, sudoRole entries that cannot be
// converted, a document the schema refuses, a render or visudo failure)
// installs nothing and says why, naming the policy; the others go on.
#pragma once

#include "policy/downloader.hpp"
#include "policy/policy_settings.hpp"
#include "policy/policy_store.hpp"

#include <ctime>
#include <string>
#include <vector>

namespace vigil::policy {

enum class TypeState { installed, unchanged, nothing_applies, held, failed };
const char *type_state_name(TypeState state);

struct TypeReport {
    std::string type;
    std::string target;
    TypeState state = TypeState::failed;
    std::string message;                 // failed: why; else empty
    std::vector<std::string> documents;  // "PRIORITY NAME (SOURCE)", in merge order
    std::time_t last_change = 0;         // when the installed file last changed (0: unknown)
    std::time_t checked_at = 0;          // the refresh that found this state
};

struct RefreshReport {
    std::vector<std::string> notes;      // entries skipped, for the log (one line each)
    std::vector<TypeReport> types;
    CacheIndex index;                    // what the cache holds now
};

// Stores `download` in the cache, then merges, renders and installs every type.
Result<RefreshReport> apply_download(const PolicySettings &settings, const Download &download,
                                     const CacheIndex &previous);

// Merges, renders and installs every type from the cache as it is (no download).
RefreshReport apply_cache(const PolicySettings &settings, const CacheIndex &index);

// What the next install of `type` would write, from the cache (vigilctl policy diff).
Result<std::string> render_from_cache(const PolicySettings &settings, const PolicyType &type, const CacheIndex &index);

// Restores the original of `type`'s target and holds the type: refreshes
// leave it alone until an explicit `vigilctl policy refresh`.
Status rollback_type(const PolicySettings &settings, const PolicyType &type);
// Releases every held type (an explicit refresh).
void release_holds(const PolicySettings &settings);
bool is_held(const PolicySettings &settings, const PolicyType &type);

} // namespace vigil::policy
