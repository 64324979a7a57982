#include "util/ldb.hpp"

#include "util/log.hpp"

#include "util/ldb_c.hpp"

namespace vigil {

Result<Ldb> Ldb::open(const std::string &path, Mode mode)
{
    // ldb makes its own tevent context; ours are used for I/O, not for ldb.
    TallocPtr<ldb_context> ldb(ldb_init(nullptr, nullptr));
    if (!ldb) return Error{Errc::internal, "ldb_init failed (out of memory?)"};
    unsigned flags = mode == Mode::read_only ? LDB_FLG_RDONLY | LDB_FLG_DONT_CREATE_DB : 0;
    std::string url = "tdb://" + path;
    int ret = ldb_connect(ldb.get(), url.c_str(), flags, nullptr);
    if (ret != LDB_SUCCESS) {
        const char *why = ldb_errstring(ldb.get());
        return Error{ret == LDB_ERR_NO_SUCH_OBJECT || ret == LDB_ERR_OPERATIONS_ERROR ? Errc::not_found
                                                                                     : Errc::io,
                     "cannot open ldb " + path + ": " + (why && *why ? why : ldb_strerror(ret))};
    }
    return Ldb(std::move(ldb), path);
}

Result<LdbTransaction> Ldb::begin()
{
    int ret = ldb_transaction_start(raw());
    if (ret != LDB_SUCCESS) {
        return Error{Errc::io, "cannot start a transaction on " + path_ + ": " + last_error()};
    }
    return LdbTransaction(this);
}

std::string Ldb::last_error() const
{
    const char *why = ldb_errstring(raw());
    return why && *why ? why : "unknown ldb error";
}

LdbTransaction::~LdbTransaction()
{
    if (ldb_ == nullptr) return;
    if (ldb_transaction_cancel(ldb_->raw()) != LDB_SUCCESS) {
        VLOG(error, "cannot cancel a transaction on %s: %s", ldb_->path().c_str(),
             ldb_->last_error().c_str());
    }
}

Status LdbTransaction::commit()
{
    const Ldb *ldb = ldb_;
    ldb_ = nullptr;
    if (ldb == nullptr) return Error{Errc::internal, "transaction already finished"};
    if (ldb_transaction_commit(ldb->raw()) != LDB_SUCCESS) {
        return Error{Errc::io, "cannot commit to " + ldb->path() + ": " + ldb->last_error()};
    }
    return {};
}

} // namespace vigil
