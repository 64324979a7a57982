#include "util/confdb.hpp"

#include "util/ldb_c.hpp"
#include <algorithm>
#include <cerrno>
#include <ctime>
#include <sys/stat.h>

namespace vigil {
namespace {

constexpr const char *root_dn = "cn=config";
constexpr const char *section_attr = "section";
constexpr const char *version_attr = "version";
constexpr const char *updated_attr = "lastUpdate";

// "vigil" -> cn=vigil,cn=config; "domain/LDAP" -> cn=LDAP,cn=domain,cn=config.
ldb_dn *section_dn(TALLOC_CTX *mem, ldb_context *ldb, const std::string &section)
{
    ldb_dn *dn = ldb_dn_new(mem, ldb, root_dn);
    if (dn == nullptr) return nullptr;
    std::string rest = section;
    std::vector<std::string> parts;
    for (std::size_t slash; (slash = rest.find('/')) != std::string::npos;) {
        parts.push_back(rest.substr(0, slash));
        rest.erase(0, slash + 1);
    }
    parts.push_back(rest);
    for (const std::string &part : parts) {
        ldb_val v{reinterpret_cast<uint8_t *>(const_cast<char *>(part.data())), part.size()};
        if (!ldb_dn_add_child_val(dn, "cn", v)) return nullptr;
    }
    return dn;
}

Status add_entry(ldb_context *ldb, ldb_dn *dn, const std::vector<std::pair<std::string, std::string>> &attrs)
{
    TallocPtr<ldb_message> msg(ldb_msg_new(nullptr));
    if (!msg) return Error{Errc::internal, "out of memory"};
    msg->dn = ldb_dn_copy(msg.get(), dn);
    for (const auto &[name, value] : attrs) {
        char *copy = talloc_strndup(msg.get(), value.data(), value.size());
        if (copy == nullptr || ldb_msg_add_string(msg.get(), name.c_str(), copy) != LDB_SUCCESS)
            return Error{Errc::internal, "out of memory building " + std::string(ldb_dn_get_linearized(dn))};
    }
    int ret = ldb_add(ldb, msg.get());
    if (ret != LDB_SUCCESS) {
        return Error{Errc::io, std::string("cannot add ") + ldb_dn_get_linearized(dn) + ": " + ldb_errstring(ldb)};
    }
    return {};
}

// An empty value is kept as a value of its own ("" in the file means "set to
// nothing", which differs from "not set"); ldb refuses zero-length values.
constexpr std::string_view empty_marker = "\x01";

} // namespace

std::string Confdb::path_for(const Config &config)
{
    return config.get_string("vigil", "state_dir") + "/db/config.ldb";
}

Result<Confdb> Confdb::open(const std::string &path, Ldb::Mode mode)
{
    struct stat st;
    if (mode == Ldb::Mode::read_only && stat(path.c_str(), &st) != 0) {
        return sys_error("confdb " + path + " (is vigild running?)", errno);
    }
    auto ldb = Ldb::open(path, mode);
    if (!ldb) return std::move(ldb).error();
    return Confdb(std::move(*ldb));
}

Status Confdb::write(const Config &config)
{
    ldb_context *ldb = ldb_.raw();
    TallocPtr<void> mem(talloc_new(nullptr));
    auto tx = ldb_.begin();
    if (!tx) return std::move(tx).error();

    // Remove the old configuration, children before parents.
    ldb_result *old = nullptr;
    ldb_dn *root = ldb_dn_new(mem.get(), ldb, root_dn);
    int ret = ldb_search(ldb, mem.get(), &old, root, LDB_SCOPE_SUBTREE, nullptr, nullptr);
    if (ret != LDB_SUCCESS && ret != LDB_ERR_NO_SUCH_OBJECT) {
        return Error{Errc::io, "cannot read confdb " + ldb_.path() + ": " + ldb_.last_error()};
    }
    if (ret == LDB_SUCCESS) {
        std::vector<ldb_dn *> dns;
        for (unsigned i = 0; i < old->count; ++i) dns.push_back(old->msgs[i]->dn);
        std::sort(dns.begin(), dns.end(), [](ldb_dn *a, ldb_dn *b) {
            return ldb_dn_get_comp_num(a) > ldb_dn_get_comp_num(b);
        });
        for (ldb_dn *dn : dns) {
            if (ldb_delete(ldb, dn) != LDB_SUCCESS) {
                return Error{Errc::io, std::string("cannot delete ") + ldb_dn_get_linearized(dn) +
                                           ": " + ldb_.last_error()};
            }
        }
    }

    Status st = add_entry(ldb, root, {{version_attr, std::to_string(format_version)},
                                      {updated_attr, std::to_string(time(nullptr))}});
    if (!st) return st;
    bool domain_container = false;
    for (const auto &[name, section] : config.sections) {
        if (name.starts_with("domain/") && !domain_container) {
            st = add_entry(ldb, section_dn(mem.get(), ldb, "domain"), {{section_attr, "domain"}});
            if (!st) return st;
            domain_container = true;
        }
        ldb_dn *dn = section_dn(mem.get(), ldb, name);
        if (dn == nullptr) return Error{Errc::internal, "cannot build a DN for [" + name + "]"};
        std::vector<std::pair<std::string, std::string>> attrs{{section_attr, name}};
        for (const auto &[key, setting] : section.options)
            attrs.emplace_back(key, setting.value.empty() ? std::string(empty_marker) : setting.value);
        st = add_entry(ldb, dn, attrs);
        if (!st) return st;
    }
    return tx->commit();
}

Result<Config> Confdb::read() const
{
    ldb_context *ldb = ldb_.raw();
    TallocPtr<void> mem(talloc_new(nullptr));
    ldb_dn *root = ldb_dn_new(mem.get(), ldb, root_dn);

    ldb_result *res = nullptr;
    int ret = ldb_search(ldb, mem.get(), &res, root, LDB_SCOPE_BASE, nullptr, nullptr);
    if (ret != LDB_SUCCESS || res->count != 1) {
        return Error{Errc::not_found, "confdb " + ldb_.path() + " holds no configuration (is vigild running?)"};
    }
    unsigned version = ldb_msg_find_attr_as_uint(res->msgs[0], version_attr, 0);
    if (version != format_version) {
        return Error{Errc::invalid_config, "confdb " + ldb_.path() + " has format version " +
                                               std::to_string(version) + ", expected " +
                                               std::to_string(format_version) + ": restart vigild to rewrite it"};
    }

    ret = ldb_search(ldb, mem.get(), &res, root, LDB_SCOPE_SUBTREE, nullptr, "(section=*)");
    if (ret != LDB_SUCCESS) return Error{Errc::io, "cannot read confdb " + ldb_.path() + ": " + ldb_.last_error()};

    Config config;
    for (unsigned i = 0; i < res->count; ++i) {
        const ldb_message *msg = res->msgs[i];
        const char *name = ldb_msg_find_attr_as_string(msg, section_attr, nullptr);
        SectionKind kind;
        std::string_view domain;
        // The cn=domain container and anything not a section are skipped.
        if (name == nullptr || !classify_section(name, kind, domain)) continue;
        ConfigSection &section = config.sections[name];
        section.file = ldb_.path();
        for (unsigned a = 0; a < msg->num_elements; ++a) {
            const ldb_message_element &el = msg->elements[a];
            // ldb adds attributes of its own (distinguishedName): options only.
            if (find_option(kind, el.name) == nullptr || el.num_values != 1) continue;
            std::string value(reinterpret_cast<const char *>(el.values[0].data), el.values[0].length);
            if (value == empty_marker) value.clear();
            section.options[el.name] = Setting{std::move(value), ldb_.path(), 0};
        }
    }
    return config;
}

} // namespace vigil
