// The identity records of the cache: one user shape and one group shape used
// by the provider (which writes them), the cache (which stores them) and the
// responders (which serve them). See doc/cache.md.
#pragma once

#include "util/result.hpp"

#include <cstdint>
#include <ctime>
#include <map>
#include <string>
#include <vector>

namespace vigil::sysdb {

// Further directory attributes kept as the directory sent them (e.g. the
// shadow* attributes the auth provider needs), attribute name -> values.
using ExtraAttrs = std::map<std::string, std::vector<std::string>>;

struct User {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;           // primary group
    std::string gecos;               // empty strings mean "not set"
    std::string home;
    std::string shell;
    std::string original_dn;         // the entry's DN in the directory
    std::string modify_stamp;        // modifyTimestamp or entryCSN, as the server wrote it
    ExtraAttrs extra;

    bool operator==(const User &) const = default;
};

struct Group {
    std::string name;
    std::uint32_t gid = 0;
    std::vector<std::string> members;       // user names (rfc2307 memberUid)
    std::vector<std::string> member_groups; // names of nested groups (rfc2307bis)
    std::string original_dn;
    std::string modify_stamp;
    // The provider's digest of the directory entry this record was made
    // from (hex; empty: none): an answer with the same digest makes the
    // same record, so it is known unchanged without being converted.
    std::string source_digest;

    bool operator==(const Group &) const = default;
};

// Wall-clock seconds, so an expiry survives a restart. A record with no
// stored timestamps reads as {0, 0}: expired.
struct Timestamps {
    std::int64_t last_update = 0;  // when the directory last answered for it
    std::int64_t expires_at = 0;   // dataExpireTimestamp: stale from this second on

    bool operator==(const Timestamps &) const = default;
};

// What the responder does with a cached entry (DESIGN.md, cache logic).
enum class Freshness {
    fresh,    // answer from the cache
    expiring, // answer from the cache now, refresh in the background
    expired,  // ask the provider and wait (serve it only if the provider cannot answer)
};

const char *freshness_name(Freshness f) noexcept;

// Classifies `ts` at `now`. `entry_timeout` is the domain's
// entry_cache_timeout (seconds), `nowait_percentage` the responder's
// entry_cache_nowait_percentage (0 disables the expiring phase).
// A last_update in the future means a clock jumped: that entry counts as
// expired, whatever expires_at says, so a clock set back cannot freeze it.
Freshness classify(const Timestamps &ts, std::int64_t now, std::int64_t entry_timeout,
                   int nowait_percentage) noexcept;

// Brings a record to the form the cache stores and compares: member lists
// sorted with duplicates dropped (the directory returns them in any order),
// extra attributes without empty values. Storing normalises; reads return
// normalised records, so a stored record reads back equal to normalise(it).
User normalised(User user);
Group normalised(Group group);
// Whether `group` is in that form already (normalised(group) == group).
bool is_normalised(const Group &group);

// Refuses what NSS cannot carry or the cache cannot hold, with a message
// naming the record, its DN and the field (Errc::invalid_argument):
// "user 'alice' (uid=alice,ou=people,dc=example,dc=com): gecos contains a newline".
// The provider logs it and skips the record.
Status validate(const User &user);
Status validate(const Group &group);

// The uid/gid that NSS callers read as "no id" ((uid_t)-1) is refused too.
inline constexpr std::uint32_t invalid_id = 0xffffffffu;

} // namespace vigil::sysdb
