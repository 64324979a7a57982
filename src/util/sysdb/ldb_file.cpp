#include "util/sysdb/ldb_file.hpp"

#include "util/ldb_c.hpp"
#include "util/log.hpp"

namespace vigil::sysdb {
namespace {

std::string errstring(ldb_context *ldb, int ret)
{
    const char *why = ldb_errstring(ldb);
    return why && *why ? why : ldb_strerror(ret);
}

} // namespace

Result<LdbFile> LdbFile::open(const std::string &path, Access access, Sync sync)
{
    // ldb makes its own tevent context; ours are used for I/O, not for ldb.
    TallocPtr<ldb_context> ldb(ldb_init(nullptr, nullptr));
    if (!ldb) return Error{Errc::internal, "ldb_init failed (out of memory?)"};
    ldb_set_create_perms(ldb.get(), 0600);
    unsigned flags = access == Access::read_only ? LDB_FLG_RDONLY | LDB_FLG_DONT_CREATE_DB : 0;
    if (sync == Sync::no_sync) flags |= LDB_FLG_NOSYNC;
    std::string url = "tdb://" + path;
    int ret = ldb_connect(ldb.get(), url.c_str(), flags, nullptr);
    if (ret != LDB_SUCCESS) {
        return Error{Errc::io, "cannot open ldb " + path + ": " + errstring(ldb.get(), ret)};
    }
    return LdbFile(std::move(ldb), path);
}

std::string LdbFile::last_error() const
{
    const char *why = ldb_errstring(raw());
    return why && *why ? why : "unknown ldb error";
}

Result<LdbFileTx> LdbFile::begin() const
{
    int ret = ldb_transaction_start(raw());
    if (ret != LDB_SUCCESS) {
        return Error{Errc::io, "cannot start a transaction on " + path_ + ": " + errstring(raw(), ret)};
    }
    return LdbFileTx(raw(), path_);
}

LdbFileTx::~LdbFileTx()
{
    if (ldb_ == nullptr) return;
    if (ldb_transaction_cancel(ldb_) != LDB_SUCCESS) {
        VLOG(error, "cannot cancel a transaction on %s: %s", path_.c_str(), errstring(ldb_, LDB_ERR_OPERATIONS_ERROR).c_str());
    }
}

Status LdbFileTx::commit()
{
    ldb_context *ldb = ldb_;
    ldb_ = nullptr;
    if (ldb == nullptr) return Error{Errc::internal, "transaction on " + path_ + " already finished"};
    int ret = ldb_transaction_commit(ldb);
    if (ret != LDB_SUCCESS) return Error{Errc::io, "cannot commit to " + path_ + ": " + errstring(ldb, ret)};
    return {};
}

} // namespace vigil::sysdb
