#include "util/creds/credential_store.hpp"

#include "util/ldb_c.hpp"
#include "util/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <sys/stat.h>
#include <unistd.h>

namespace vigil::creds {
namespace {

constexpr const char *root_dn = "cn=credentials";
namespace attr {
constexpr const char *version = "formatVersion";
constexpr const char *name = "name";
constexpr const char *hash = "cachedPassword";
constexpr const char *stored_at = "cachedPasswordStored";
constexpr const char *failed = "failedOfflineLogins";
constexpr const char *locked_until = "offlineLockedUntil";
} // namespace attr

// Only the effective uid may read or write: the hashes can be attacked
// offline, and the lockout state must not be reset by anyone else.
Status private_to_us(const std::string &path, const struct stat &st, const char *what)
{
    if (st.st_uid != geteuid())
        return Error{Errc::permission, std::string(what) + " " + path + " is owned by uid " +
                                           std::to_string(st.st_uid) + ", not " + std::to_string(geteuid())};
    if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return Error{Errc::permission, std::string(what) + " " + path + " has mode " + mode +
                                           ": group and others must have no access"};
    }
    return {};
}

Status check_directory(const std::string &dir)
{
    struct stat st {};
    if (lstat(dir.c_str(), &st) != 0) return sys_error("credentials directory " + dir, errno);
    if (!S_ISDIR(st.st_mode)) return Error{Errc::permission, "credentials directory " + dir + " is not a directory"};
    return private_to_us(dir, st, "credentials directory");
}

// A missing file is fine (ldb creates it 0600); anything else must be ours.
Status check_file(const std::string &path)
{
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        return sys_error("credentials database " + path, errno);
    }
    if (!S_ISREG(st.st_mode)) return Error{Errc::permission, "credentials database " + path + " is not a regular file"};
    return private_to_us(path, st, "credentials database");
}

// A plain name: the canonicaliser's output. Anything else is a caller bug.
Status plain_name(const std::string &name)
{
    if (name.empty()) return Error{Errc::invalid_argument, "empty user name for the credentials database"};
    for (char c : name)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return Error{Errc::invalid_argument, "user name with a control character for the credentials database"};
    return {};
}

Error ldb_failure(ldb_context *ldb, const std::string &what)
{
    const char *why = ldb_errstring(ldb);
    return Error{Errc::io, what + ": " + (why && *why ? why : "unknown ldb error")};
}

Result<ldb_dn *> row_dn(TALLOC_CTX *mem, ldb_context *ldb, const std::string &name)
{
    ldb_dn *dn = ldb_dn_new(mem, ldb, root_dn);
    ldb_val value{reinterpret_cast<uint8_t *>(const_cast<char *>(name.data())), name.size()};
    // add_child_val escapes the value: a name with ',' or '=' stays one RDN.
    if (dn == nullptr || !ldb_dn_add_child_val(dn, attr::name, value))
        return Error{Errc::internal, "cannot build the credentials DN for user " + name};
    return dn;
}

Status add_int(ldb_message *msg, const char *name, std::int64_t value)
{
    if (ldb_msg_add_fmt(msg, name, "%" PRId64, value) != LDB_SUCCESS)
        return Error{Errc::internal, std::string("out of memory writing ") + name};
    return {};
}

Status ensure_root(const sysdb::LdbFile &file)
{
    ldb_context *ldb = file.raw();
    TallocPtr<void> mem = make_talloc_ctx("creds open");
    ldb_dn *dn = ldb_dn_new(mem.get(), ldb, root_dn);
    ldb_result *res = nullptr;
    const char *attrs[] = {attr::version, nullptr};
    int ret = ldb_search(ldb, mem.get(), &res, dn, LDB_SCOPE_BASE, attrs, nullptr);
    if (ret == LDB_SUCCESS && res->count == 1) {
        std::int64_t version = ldb_msg_find_attr_as_int64(res->msgs[0], attr::version, -1);
        if (version == CredentialStore::format_version) return {};
        // Unlike the cache this cannot be rebuilt: keep it for a vigil that knows it.
        return Error{Errc::invalid_config, "credentials database " + file.path() + " has format version " +
                                               std::to_string(version) + ", this vigil knows " +
                                               std::to_string(CredentialStore::format_version) +
                                               "; refusing to use or discard it"};
    }
    if (ret != LDB_SUCCESS && ret != LDB_ERR_NO_SUCH_OBJECT) return ldb_failure(ldb, "cannot read " + file.path());

    auto tx = file.begin();
    if (!tx) return std::move(tx).error();
    ldb_message *msg = ldb_msg_new(mem.get());
    if (msg == nullptr) return Error{Errc::internal, "out of memory creating " + file.path()};
    msg->dn = dn;
    if (Status st = add_int(msg, attr::version, CredentialStore::format_version); !st) return st;
    if (ldb_add(ldb, msg) != LDB_SUCCESS) return ldb_failure(ldb, "cannot initialise " + file.path());
    return tx->commit();
}

} // namespace

std::string CredentialStore::file_name(const std::string &domain) { return "creds_" + domain + ".ldb"; }

Result<CredentialStore> CredentialStore::open(const std::string &db_dir, const std::string &domain)
{
    if (domain.empty() || domain.find('/') != std::string::npos || domain.front() == '.')
        return Error{Errc::invalid_argument, "unusable domain name '" + domain + "' for a credentials database"};
    if (Status st = check_directory(db_dir); !st) return std::move(st).error();
    std::string path = db_dir + "/" + file_name(domain);
    if (Status st = check_file(path); !st) return std::move(st).error();
    // durable: every commit is fsynced; a lockout must survive a power cut.
    auto file = sysdb::LdbFile::open(path, sysdb::LdbFile::Access::read_write, sysdb::LdbFile::Sync::durable);
    if (!file) return std::move(file).error();
    // ldb created it 0600; check what is there now, whoever made it.
    if (Status st = check_file(path); !st) return std::move(st).error();
    if (Status st = ensure_root(*file); !st) return std::move(st).error();
    return CredentialStore(std::move(*file));
}

bool CredentialStore::writes_synchronously() const { return (ldb_get_flags(file_.raw()) & LDB_FLG_NOSYNC) == 0; }

Result<std::optional<CredentialRecord>> CredentialStore::find(const std::string &canonical_name) const
{
    if (Status st = plain_name(canonical_name); !st) return std::move(st).error();
    std::lock_guard held(*lock_);
    ldb_context *ldb = file_.raw();
    TallocPtr<void> mem = make_talloc_ctx("creds find");
    auto dn = row_dn(mem.get(), ldb, canonical_name);
    if (!dn) return std::move(dn).error();
    ldb_result *res = nullptr;
    const char *attrs[] = {attr::hash, attr::stored_at, attr::failed, attr::locked_until, nullptr};
    int ret = ldb_search(ldb, mem.get(), &res, *dn, LDB_SCOPE_BASE, attrs, nullptr);
    if (ret == LDB_ERR_NO_SUCH_OBJECT || (ret == LDB_SUCCESS && res->count == 0)) return std::optional<CredentialRecord>{};
    if (ret != LDB_SUCCESS) return ldb_failure(ldb, "cannot read the credentials of " + canonical_name);

    const ldb_message *msg = res->msgs[0];
    CredentialRecord record;
    record.hash = ldb_msg_find_attr_as_string(msg, attr::hash, "");
    record.stored_at = WallTime(std::chrono::seconds(ldb_msg_find_attr_as_int64(msg, attr::stored_at, 0)));
    std::int64_t failed = ldb_msg_find_attr_as_int64(msg, attr::failed, 0);
    record.failed_attempts = failed < 0 ? 0u : static_cast<unsigned>(std::min<std::int64_t>(failed, UINT32_MAX));
    if (ldb_msg_find_element(msg, attr::locked_until) != nullptr)
        record.locked_until = WallTime(std::chrono::seconds(ldb_msg_find_attr_as_int64(msg, attr::locked_until, 0)));
    return std::optional<CredentialRecord>(std::move(record));
}

Status CredentialStore::put(const std::string &canonical_name, const CredentialRecord &record)
{
    if (Status st = plain_name(canonical_name); !st) return st;
    std::lock_guard held(*lock_);
    if (record.hash.empty() || record.hash[0] != '$')
        return Error{Errc::invalid_argument, "refusing to store a credential for " + canonical_name +
                                                 " that is not a crypt hash"};
    ldb_context *ldb = file_.raw();
    TallocPtr<void> mem = make_talloc_ctx("creds put");
    auto dn = row_dn(mem.get(), ldb, canonical_name);
    if (!dn) return std::move(dn).error();
    ldb_message *msg = ldb_msg_new(mem.get());
    if (msg == nullptr) return Error{Errc::internal, "out of memory storing credentials"};
    msg->dn = *dn;
    if (ldb_msg_add_string(msg, attr::name, canonical_name.c_str()) != LDB_SUCCESS ||
        ldb_msg_add_string(msg, attr::hash, record.hash.c_str()) != LDB_SUCCESS)
        return Error{Errc::internal, "out of memory storing credentials"};
    if (Status st = add_int(msg, attr::stored_at, record.stored_at.time_since_epoch().count()); !st) return st;
    if (Status st = add_int(msg, attr::failed, record.failed_attempts); !st) return st;
    if (record.locked_until) {
        if (Status st = add_int(msg, attr::locked_until, record.locked_until->time_since_epoch().count()); !st)
            return st;
    }

    // Delete and add in one transaction: the row is replaced whole or not at all.
    auto tx = file_.begin();
    if (!tx) return std::move(tx).error();
    int ret = ldb_delete(ldb, *dn);
    if (ret != LDB_SUCCESS && ret != LDB_ERR_NO_SUCH_OBJECT)
        return ldb_failure(ldb, "cannot replace the credentials of " + canonical_name);
    if (ldb_add(ldb, msg) != LDB_SUCCESS) return ldb_failure(ldb, "cannot store the credentials of " + canonical_name);
    return tx->commit();
}

Status CredentialStore::remove(const std::string &canonical_name)
{
    if (Status st = plain_name(canonical_name); !st) return st;
    std::lock_guard held(*lock_);
    ldb_context *ldb = file_.raw();
    TallocPtr<void> mem = make_talloc_ctx("creds remove");
    auto dn = row_dn(mem.get(), ldb, canonical_name);
    if (!dn) return std::move(dn).error();
    auto tx = file_.begin();
    if (!tx) return std::move(tx).error();
    int ret = ldb_delete(ldb, *dn);
    if (ret != LDB_SUCCESS && ret != LDB_ERR_NO_SUCH_OBJECT)
        return ldb_failure(ldb, "cannot drop the credentials of " + canonical_name);
    return tx->commit();
}

} // namespace vigil::creds
