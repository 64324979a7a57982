#include "util/sysdb/search.hpp"

#include "util/ldb_c.hpp"

namespace vigil::sysdb::search {
namespace attr = layout::attr;
using layout::Kind;

std::string dn_text(ldb_dn *dn)
{
    const char *text = dn != nullptr ? ldb_dn_get_linearized(dn) : nullptr;
    return text != nullptr ? text : "(no DN)";
}

Error ldb_failure(ldb_context *ldb, const std::string &what)
{
    const char *why = ldb_errstring(ldb);
    return Error{Errc::io, what + ": " + (why && *why ? why : "unknown ldb error")};
}

Error out_of_memory(const std::string &what) { return Error{Errc::internal, "out of memory " + what}; }

Result<ldb_dn *> dn_for(TALLOC_CTX *mem, ldb_context *ldb, Kind kind, const std::string &name)
{
    ldb_dn *dn = layout::entry_dn(mem, ldb, kind, name);
    if (dn == nullptr) return Error{Errc::internal, "cannot build a DN for '" + name + "'"};
    return dn;
}

Result<ldb_message *> find_by_dn(ldb_context *ldb, TALLOC_CTX *mem, ldb_dn *dn, const char *const *attrs)
{
    ldb_result *res = nullptr;
    int ret = ldb_search(ldb, mem, &res, dn, LDB_SCOPE_BASE, attrs, nullptr);
    if (ret == LDB_ERR_NO_SUCH_OBJECT || (ret == LDB_SUCCESS && res->count == 0))
        return static_cast<ldb_message *>(nullptr);
    if (ret != LDB_SUCCESS) return ldb_failure(ldb, "cannot read " + dn_text(dn));
    return res->msgs[0];
}

Result<ldb_result *> find_by_attr(ldb_context *ldb, TALLOC_CTX *mem, Kind kind, const char *attribute,
                                  const std::string &value, const char *const *attrs)
{
    char *escaped = ldb_binary_encode_string(mem, value.c_str());
    ldb_dn *base = ldb_dn_new(mem, ldb, layout::container_of(kind));
    if (escaped == nullptr || base == nullptr) return out_of_memory("building a search");
    ldb_result *res = nullptr;
    int ret = ldb_search(ldb, mem, &res, base, LDB_SCOPE_SUBTREE, attrs, "(%s=%s)", attribute, escaped);
    if (ret != LDB_SUCCESS) return ldb_failure(ldb, std::string("cannot search ") + attribute + "=" + value);
    return res;
}

Result<ldb_result *> find_by_any(ldb_context *ldb, TALLOC_CTX *mem, Kind kind, const char *attribute,
                                 const std::vector<std::string> &values, const char *const *attrs)
{
    if (values.size() == 1) return find_by_attr(ldb, mem, kind, attribute, values[0], attrs);
    std::string filter = "(|";
    for (const std::string &value : values) {
        char *escaped = ldb_binary_encode_string(mem, value.c_str());
        if (escaped == nullptr) return out_of_memory("building a search");
        filter += std::string("(") + attribute + "=" + escaped + ")";
    }
    filter += ")";
    ldb_dn *base = ldb_dn_new(mem, ldb, layout::container_of(kind));
    if (base == nullptr) return out_of_memory("building a search");
    ldb_result *res = nullptr;
    int ret = ldb_search(ldb, mem, &res, base, LDB_SCOPE_SUBTREE, attrs, "%s", filter.c_str());
    if (ret != LDB_SUCCESS) return ldb_failure(ldb, std::string("cannot search ") + attribute + " for " + std::to_string(values.size()) + " values");
    return res;
}

Result<Timestamps> stamps_of(const StampFile &stamps, Kind kind, const std::string &name, bool initgroups)
{
    auto record = stamps.get(kind, name);
    if (!record) return std::move(record).error();
    if (!*record) return Timestamps{};
    return initgroups ? (*record)->initgroups : (*record)->entry;
}

} // namespace vigil::sysdb::search
