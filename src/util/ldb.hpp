// RAII over an ldb database: the handle (a talloc tree) and transactions.
// A transaction is a scope that never awaits: open, write, commit, in one
// synchronous block (DESIGN.md: nested transactions commit together).
#pragma once

#include "util/result.hpp"
#include "util/talloc.hpp"

#include <string>

struct ldb_context;
struct ldb_dn;

namespace vigil {

class LdbTransaction;

class Ldb {
public:
    enum class Mode { read_write, read_only };

    // Opens (read_write: creates) the tdb file at `path`.
    static Result<Ldb> open(const std::string &path, Mode mode);

    ldb_context *raw() const noexcept { return ldb_.get(); }
    const std::string &path() const noexcept { return path_; }

    Result<LdbTransaction> begin();

    // ldb's own description of the last failure, for messages.
    std::string last_error() const;

private:
    Ldb(TallocPtr<ldb_context> ldb, std::string path) : ldb_(std::move(ldb)), path_(std::move(path)) {}

    TallocPtr<ldb_context> ldb_;
    std::string path_;
};

class LdbTransaction {
public:
    LdbTransaction(LdbTransaction &&other) noexcept : ldb_(other.ldb_) { other.ldb_ = nullptr; }
    LdbTransaction &operator=(LdbTransaction &&) = delete;
    ~LdbTransaction(); // cancels unless committed

    Status commit();

private:
    friend class Ldb;
    explicit LdbTransaction(const Ldb *ldb) : ldb_(ldb) {}
    const Ldb *ldb_;
};

} // namespace vigil
