// The credentials database of one domain: <db dir>/creds_<domain>.ldb.
//
// Apart from the identity cache on purpose (DESIGN.md): the cache can be
// moved aside and rebuilt from the directory, cached credentials and lockout
// state cannot. So this file is root-only (the directory 0700 and the file
// 0600, both owned by us, checked on open), every write is one synchronous
// (fsynced) transaction, and a format it does not know is refused, never
// discarded.
//
// One store may be used from several threads: the event loop reads, the
// hash worker writes a fresh hash (a durable commit must not stall the
// loop); every call holds the store's lock, so calls never overlap.
//
// Rows are keyed by the canonical user name (creds/canonical_name.hpp); the
// callers canonicalise, the store only refuses what is not a plain name.
#pragma once

#include "util/creds/offline_policy.hpp"
#include "util/result.hpp"
#include "util/sysdb/ldb_file.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace vigil::creds {

class CredentialStore {
public:
    static constexpr int format_version = 1;

    // "creds_<domain>.ldb"
    static std::string file_name(const std::string &domain);

    // Opens, creating it if missing, the file for `domain` in `db_dir`.
    // Errc::permission if the directory or file can be read or written by
    // anyone but the effective uid.
    static Result<CredentialStore> open(const std::string &db_dir, const std::string &domain);

    const std::string &path() const noexcept { return file_.path(); }
    // True unless the file was opened without fsync (it never is; tests check).
    bool writes_synchronously() const;

    Result<std::optional<CredentialRecord>> find(const std::string &canonical_name) const;
    // Replaces the whole row, in one durable transaction.
    Status put(const std::string &canonical_name, const CredentialRecord &record);
    // Forgets the row (the directory says the account is disabled). No row: fine.
    Status remove(const std::string &canonical_name);

private:
    explicit CredentialStore(sysdb::LdbFile file) : file_(std::move(file)), lock_(std::make_unique<std::mutex>()) {}
    sysdb::LdbFile file_;
    std::unique_ptr<std::mutex> lock_; // on the heap: the store is movable

};

} // namespace vigil::creds
