// The cache's timestamps file (doc/cache.md, "Files"): one small fixed-size
// record per cached entry, in a tdb of its own, written without fsync.
//
// It is not an ldb file: a timestamps record is a handful of integers, and
// ldb's per-write costs (a DN parsed and case-folded, the record unpacked,
// repacked and stored, then its sequence-number record rewritten) made a
// refresh of a user in 500 unchanged groups cost 500 of them, ~6 µs each.
// Here one write is a tdb_store of 56 bytes in the transaction.
//
// Key: one byte for the kind ('u' user, 'g' group) then the name's bytes.
// Value: the record below, in this machine's byte order (the header record
// carries a byte-order mark; a file from another machine is moved aside like
// any other unknown format). Internal to src/util/sysdb.
#pragma once

#include "util/result.hpp"
#include "util/sysdb/layout.hpp"
#include "util/sysdb/records.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct tdb_context;

namespace vigil::sysdb {

struct StampRecord {
    Timestamps entry;      // lastUpdate / dataExpireTimestamp of the entry
    Timestamps initgroups; // users only: of the last initgroups answer
    // users only: the last online answer of ldap_access_filter (has_access_memo)
    bool has_access_memo = false;
    bool access_allowed = false;
    std::int64_t access_checked = 0;
    std::uint64_t access_hash = 0;

    bool operator==(const StampRecord &) const = default;
};

class StampFile {
public:
    static constexpr std::uint32_t format_version = 2;
    enum class Access { read_write, read_only };

    // read_write (the writer) creates a missing file (0600, sized for
    // 100,000 entries). Opening does not repair: state() says what the file
    // holds, and Sysdb::open moves aside what it cannot use (sysdb_open.cpp).
    static Result<StampFile> open(const std::string &path, Access access);

    enum class State { empty, current, other };
    State state() const noexcept { return state_; }
    const std::string &why() const noexcept { return why_; } // other: what is wrong
    // The writer, on an empty file: writes the header.
    Status initialise();

    StampFile(StampFile &&) noexcept = default;
    StampFile &operator=(StampFile &&) noexcept = default;
    ~StampFile();

    const std::string &path() const noexcept { return path_; }

    // nullopt: no record (the entry reads as expired). A record of the
    // wrong size (damage) reads as none too, with one log line.
    Result<std::optional<StampRecord>> get(layout::Kind kind, std::string_view name) const;

    // Every record of `kind`, in tdb's order.
    Status for_each(layout::Kind kind, const std::function<void(std::string_view name, const StampRecord &)> &fn) const;

    // Writes, the writer's only, inside a transaction (begin()).
    Status put(layout::Kind kind, std::string_view name, const StampRecord &record);
    Status remove(layout::Kind kind, std::string_view name);

    class Tx {
    public:
        Tx(Tx &&other) noexcept : file_(other.file_) { other.file_ = nullptr; }
        Tx &operator=(Tx &&) = delete;
        ~Tx();
        Status commit();

    private:
        friend class StampFile;
        explicit Tx(StampFile *file) : file_(file) {}
        StampFile *file_;
    };
    // Cancelled at scope exit unless committed. One at a time.
    Result<Tx> begin();

    struct Handle; // the tdb, shared by every StampFile of this process on the same file

private:
    StampFile(std::shared_ptr<Handle> handle, std::string path) : handle_(std::move(handle)), path_(std::move(path)) {}
    void read_header();
    tdb_context *tdb() const;
    Status store(std::string_view key, const void *data, std::size_t size);

    std::shared_ptr<Handle> handle_;
    std::string path_;
    State state_ = State::empty;
    std::string why_;
    bool in_tx_ = false;
};

} // namespace vigil::sysdb
