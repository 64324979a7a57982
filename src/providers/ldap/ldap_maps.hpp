// What the identity provider reads from the directory, and how a directory
// entry becomes a cache record: the attribute maps and search bases of
// sssd.conf (ldap_user_*, ldap_group_*), min_id/max_id, and the checks that
// keep bad data out of the cache.
#pragma once

#include "providers/ldap/ldap_conn.hpp"
#include "util/config.hpp"
#include "util/result.hpp"
#include "util/siphash.hpp"
#include "util/sysdb/records.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vigil::ldap {

enum class Schema { rfc2307, rfc2307bis };

// "base[?scope[?filter]]" as sssd.conf's ldap_*_search_base.
struct SearchBase {
    std::string base;
    Scope scope = Scope::subtree;
    std::string filter; // ANDed with each lookup's own filter
};
Result<SearchBase> parse_search_base(std::string_view text);

struct UserMap {
    std::string object_class, name, uid_number, gid_number, gecos, home, shell, modify_stamp;
    // Kept in the cache as sysdb::User::extra under these names, for the
    // access rules that must work offline (providers/access): shadowExpire,
    // host, aeStatus, aeNotBefore, aeNotAfter by default.
    std::vector<std::string> extra;
};

struct GroupMap {
    std::string object_class, name, gid_number, member, modify_stamp;
};

struct IdSettings {
    Schema schema = Schema::rfc2307;
    UserMap user;
    GroupMap group;
    std::string search_base;        // ldap_search_base; empty: the server's naming context
    std::string user_base_text;     // ldap_user_search_base as written ("" = search_base)
    std::string group_base_text;
    std::uint32_t min_id = 1;
    std::uint32_t max_id = 0;       // 0: no upper limit
    std::int64_t entry_cache_timeout = 5400;
    bool enumerate = false;
    std::chrono::seconds enumeration_refresh{300};        // ldap_enumeration_refresh_timeout
    std::chrono::seconds enumeration_search_timeout{60};  // ldap_enumeration_search_timeout
    std::chrono::seconds connection_check_interval{10};   // ldap_connection_check_interval (0: off)
    // Not configuration: the cache's key for digests of entries
    // (sysdb::Sysdb::digest_key), set by the provider.
    SipHash128::Key digest_key{};

    static Result<IdSettings> from_config(const Config &config, const std::string &domain);

    // The bases to use, given the base found on the server when none is set.
    Result<SearchBase> user_base(const std::string &server_base) const;
    Result<SearchBase> group_base(const std::string &server_base) const;

    std::vector<std::string> user_attributes() const;
    std::vector<std::string> group_attributes() const;
};

// A directory entry as a cache record. An error says why the entry cannot
// be served (naming its DN); the provider logs it once and skips the entry.
// The entry is taken, so that its values move into the record, not copied.
Result<sysdb::User> to_user(LdapEntry entry, const IdSettings &settings);
Result<sysdb::Group> to_group(LdapEntry entry, const IdSettings &settings);

// The digest of a group's directory entry as to_group reads it (its DN,
// attributes and values as sent, and every setting and rule that shapes the
// record), keyed with settings.digest_key; lowercase hex. Equal digests:
// to_group makes the same record (Group::source_digest). Whatever to_group
// comes to depend on must be part of it (group_mapping_revision below).
std::string group_entry_digest(const LdapEntry &entry, const IdSettings &settings);
// The same in two steps, for many entries: what every digest under these
// settings starts with, computed once, then each entry's.
SipHash128 group_digest_start(const IdSettings &settings);
std::string group_entry_digest(const LdapEntry &entry, const SipHash128 &start);

// A cached group as the cache's read-ahead shows it (sysdb::Prefetch), by
// the DN of the entry its record was made from.
struct CachedGroupSource {
    std::string_view name;
    std::uint32_t gid = 0;
    std::string_view digest; // Group::source_digest; empty: none
};
using CachedGroupSources = std::unordered_map<std::string_view, CachedGroupSource>;

// The groups of an initgroups answer, in the directory's order: an entry
// that is not a servable group, or whose name or gid an earlier kept group
// has, is skipped with a line naming its DN (the first wins). An entry
// whose DN and digest are a cached group's is that group, unchanged: it is
// kept by name, not converted again. The entries converted are moved from;
// the caller frees them all when it likes (vigil_be: after answering).
struct AnswerGroups {
    std::vector<sysdb::Group> converted;
    std::vector<std::string> unchanged;
};
AnswerGroups distinct_groups(std::vector<LdapEntry> &entries, const IdSettings &settings,
                             const CachedGroupSources &cached);

} // namespace vigil::ldap
