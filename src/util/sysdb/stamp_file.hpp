// The cache's timestamps file (doc/cache.md, "Files"): one small fixed-size
// record per cached entry, in a tdb of its own, written without fsync.
//
// It is not an ldb file: a timestamps record is a handful of integers, and
// ldb's per-write costs (a DN parsed and case-folded, the record unpacked,
// repacked and stored, then its sequence-number record rewritten) made a
// refresh of a user in 500 unchanged groups cost 500 of them, ~6 µs each.
// Here a refresh overwrites its 56-byte record in place.
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
#include <unordered_map>

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

    // The timestamps writes of one cache write, gathered while its steps
    // run and applied after its entries commit (apply()): a step that
    // fails leaves the file untouched, and no record says "fresh" of an
    // entry whose new data was not committed.
    //
    // From its first read of the file until apply() (or its end) a batch
    // holds the file's all-records read lock: readers go on reading, and
    // each of its reads takes no lock of its own (two fcntl(2) calls each
    // otherwise: 500 of them for a user's 500 groups).
    class Batch {
    public:
        Batch() = default;
        Batch(const Batch &) = delete;
        Batch &operator=(const Batch &) = delete;
        ~Batch() { release(); }

        // The record as this batch leaves it: its pending write, else the file's.
        Result<std::optional<StampRecord>> get(const StampFile &file, layout::Kind kind, std::string_view name);
        void put(layout::Kind kind, std::string_view name, const StampRecord &record);
        // The same, for a record for_each() just listed (so read whole).
        void put_listed(layout::Kind kind, std::string_view name, const StampRecord &record);
        void remove(layout::Kind kind, std::string_view name);
        bool empty() const noexcept { return writes_ == 0; }

    private:
        friend class StampFile;
        struct Entry {
            std::optional<StampRecord> record; // written: nullopt deletes; else what the file holds
            bool written = false;              // put or removed; else only read
            bool sound = false;                // the file's record was read whole: overwritten in place
        };
        Entry &entry(layout::Kind kind, std::string_view name);
        void release() noexcept;
        std::unordered_map<std::string, Entry> entries_; // by key
        std::size_t writes_ = 0;
        tdb_context *read_locked_ = nullptr; // holds its all-records read lock
    };

    // The writer's only write. Records that overwrite a sound record of
    // the same size are written in place under the all-records lock: no
    // tdb structure changes, so no transaction is needed (a transaction's
    // start and commit cost 30-150 µs, growing with the file, and a refresh
    // of one entry writes one record). New records and deletions go through
    // one transaction. Each record stands alone (it says when its own entry
    // was refreshed), so a failure part way leaves only true records.
    // Releases the batch's read lock first.
    Status apply(Batch &batch);

    struct Handle; // the tdb, shared by every StampFile of this process on the same file

private:
    StampFile(std::shared_ptr<Handle> handle, std::string path) : handle_(std::move(handle)), path_(std::move(path)) {}
    void read_header();
    tdb_context *tdb() const;
    Result<std::optional<StampRecord>> get_key(std::string_view key) const;
    Status store(std::string_view key, const void *data, std::size_t size, int flag);
    Status erase(std::string_view key);

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

    std::shared_ptr<Handle> handle_;
    std::string path_;
    State state_ = State::empty;
    std::string why_;
    bool in_tx_ = false;
};

} // namespace vigil::sysdb
