// One ldb file of the cache, opened the way the cache needs it: created
// 0600 (it holds the directory's data), and optionally without fsync (the
// timestamps file: losing it only makes entries read as expired).
// util/ldb.hpp's Ldb opens with ldb's defaults, which allow neither; if it
// grows open flags, this wrapper can go.
#pragma once

#include "util/result.hpp"
#include "util/talloc.hpp"

#include <string>

struct ldb_context;

namespace vigil::sysdb {

class LdbFileTx;

class LdbFile {
public:
    enum class Access { read_write, read_only };
    enum class Sync { durable, no_sync };

    // read_write creates a missing file with mode 0600.
    static Result<LdbFile> open(const std::string &path, Access access, Sync sync);

    ldb_context *raw() const noexcept { return ldb_.get(); }
    const std::string &path() const noexcept { return path_; }
    std::string last_error() const;

    // A transaction on this file; cancelled at scope exit unless committed.
    Result<LdbFileTx> begin() const;

private:
    LdbFile(TallocPtr<ldb_context> ldb, std::string path) : ldb_(std::move(ldb)), path_(std::move(path)) {}
    TallocPtr<ldb_context> ldb_;
    std::string path_;
};

class LdbFileTx {
public:
    LdbFileTx(LdbFileTx &&other) noexcept : ldb_(other.ldb_), path_(std::move(other.path_)) { other.ldb_ = nullptr; }
    LdbFileTx &operator=(LdbFileTx &&) = delete;
    ~LdbFileTx();

    Status commit();

private:
    friend class LdbFile;
    // The raw handle, not the LdbFile: the handle stays put when an LdbFile moves.
    LdbFileTx(ldb_context *ldb, std::string path) : ldb_(ldb), path_(std::move(path)) {}
    ldb_context *ldb_;
    std::string path_;
};

} // namespace vigil::sysdb
