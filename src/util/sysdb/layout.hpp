// How records sit in the cache's ldb files (doc/cache.md, "Layout"): DNs,
// attribute names, and the conversion between records and ldb messages.
// Internal to src/util/sysdb.
#pragma once

#include "util/result.hpp"
#include "util/sysdb/records.hpp"

#include <string>
#include <string_view>

#include <cstdint>
#include <talloc.h>

struct ldb_context;
struct ldb_dn;
struct ldb_message;

namespace vigil::sysdb::layout {

enum class Kind { user, group };

// Both files share one skeleton: the root (holding the format version) and
// one container per kind. An entry and its timestamps have the same DN.
inline constexpr const char *root_dn = "cn=sysdb";
inline constexpr const char *users_dn = "cn=users,cn=sysdb";
inline constexpr const char *groups_dn = "cn=groups,cn=sysdb";

namespace attr {
inline constexpr const char *version = "formatVersion";
inline constexpr const char *name = "name";
inline constexpr const char *object_class = "objectClass";
inline constexpr const char *uid = "uidNumber";
inline constexpr const char *primary_gid = "primaryGidNumber"; // not gidNumber: a gid lookup finds groups only
inline constexpr const char *gid = "gidNumber";
inline constexpr const char *gecos = "gecos";
inline constexpr const char *home = "homeDirectory";
inline constexpr const char *shell = "loginShell";
inline constexpr const char *member = "memberUid";
inline constexpr const char *member_group = "memberGroup";
inline constexpr const char *original_dn = "originalDN";
inline constexpr const char *modify_stamp = "modifyStamp";
inline constexpr const char *source_digest = "sourceDigest"; // groups
inline constexpr const char *digest_key = "digestKey";       // the root entry: the key of the digests
// the timestamps' fields (a tdb record since format 2, stamp_file.hpp): kept
// reserved so that an extra directory attribute cannot take their names
inline constexpr const char *last_update = "lastUpdate";
inline constexpr const char *expires_at = "dataExpireTimestamp";
inline constexpr const char *initgr_last_update = "initgrLastUpdate";
inline constexpr const char *initgr_expires_at = "initgrExpireTimestamp";
inline constexpr const char *access_filter_allowed = "accessFilterAllowed";
inline constexpr const char *access_filter_checked = "accessFilterChecked";
inline constexpr const char *access_filter_hash = "accessFilterHash";
} // namespace attr

// Attributes ldb or the cache itself put on an entry; an extra directory
// attribute may not use these names.
bool is_reserved_attr(std::string_view name) noexcept;

const char *container_of(Kind kind) noexcept;

// name=NAME,<container>: NAME is a DN value, so ldb escapes it; the `name`
// attribute has no ldb schema, so it compares byte for byte (case-sensitive).
ldb_dn *entry_dn(TALLOC_CTX *mem, ldb_context *ldb, Kind kind, const std::string &name);

// A message for ldb_add. Null only when out of memory.
ldb_message *encode(TALLOC_CTX *mem, ldb_context *ldb, const User &user);
ldb_message *encode(TALLOC_CTX *mem, ldb_context *ldb, const Group &group);

Result<User> decode_user(const ldb_message *msg);
Result<Group> decode_group(const ldb_message *msg);

// The ldb_modify message that turns `old` into `now` (both full entries):
// single values replaced, multi-valued attributes changed by the values
// added and removed only (a member more in a 10,000-member group touches one
// index record, not 10,000). No elements when the two are equal.
// Null only when out of memory.
ldb_message *diff(TALLOC_CTX *mem, const ldb_message *old, const ldb_message *now);

// Whether `old` (a full entry) holds exactly what encode(group) would write,
// i.e. diff(old, encode(group)) has no elements: storing `group` then
// changes nothing. `group` must be normalised. Compares without copying.
bool holds(const ldb_message *old, const Group &group);

// Reads an integer attribute written by this code; `fallback` when absent.
std::int64_t find_int(const ldb_message *msg, const char *attr, std::int64_t fallback);

} // namespace vigil::sysdb::layout
