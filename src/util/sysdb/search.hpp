// The ldb searches the cache is made of, shared by its reads and writes.
// Internal to src/util/sysdb.
#pragma once

#include "util/result.hpp"
#include "util/sysdb/layout.hpp"
#include "util/sysdb/stamp_file.hpp"

#include <string>
#include <vector>

struct ldb_context;
struct ldb_dn;
struct ldb_message;
struct ldb_result;

namespace vigil::sysdb::search {

// The two files of one cache.
struct Files {
    ldb_context *entries;
    const StampFile *stamps;
};

std::string dn_text(ldb_dn *dn);
Error ldb_failure(ldb_context *ldb, const std::string &what);
Error out_of_memory(const std::string &what);

Result<ldb_dn *> dn_for(TALLOC_CTX *mem, ldb_context *ldb, layout::Kind kind, const std::string &name);

// The entry at `dn`, or null when there is none.
Result<ldb_message *> find_by_dn(ldb_context *ldb, TALLOC_CTX *mem, ldb_dn *dn, const char *const *attrs = nullptr);

// Entries of `kind` whose `attribute` equals `value`, through the attribute's
// index. The value is escaped (ldb_binary_encode_string), so '*' or ")(" in a
// name is only ever a value: no filter injection.
Result<ldb_result *> find_by_attr(ldb_context *ldb, TALLOC_CTX *mem, layout::Kind kind, const char *attribute,
                                  const std::string &value, const char *const *attrs = nullptr);

// Entries of `kind` whose `attribute` equals any of `values` (escaped as
// above): one indexed search for the lot.
Result<ldb_result *> find_by_any(ldb_context *ldb, TALLOC_CTX *mem, layout::Kind kind, const char *attribute,
                                 const std::vector<std::string> &values, const char *const *attrs);

// The entry's (or with `initgroups`, the user's initgroups) timestamps.
// Missing timestamps read as {0, 0}: expired (the file may have been lost).
Result<Timestamps> stamps_of(const StampFile &stamps, layout::Kind kind, const std::string &name,
                             bool initgroups = false);

} // namespace vigil::sysdb::search
