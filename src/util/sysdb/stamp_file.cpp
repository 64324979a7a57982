#include "util/sysdb/stamp_file.hpp"

#include "util/log.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <tdb.h>
#include <utility>

namespace vigil::sysdb {

struct StampFile::Handle {
    tdb_context *tdb = nullptr;
    bool writable = false;
    std::pair<dev_t, ino_t> id{};
    ~Handle();
};

namespace {

// tdb refuses to open a file twice in one process (its fcntl locks are per
// process), so every StampFile of this process on the same file shares one
// handle: a test's reader next to its writer, vigilctl's reopen.
std::mutex registry_mutex;
std::map<std::pair<dev_t, ino_t>, std::weak_ptr<StampFile::Handle>> &registry()
{
    static auto *map = new std::map<std::pair<dev_t, ino_t>, std::weak_ptr<StampFile::Handle>>; // never destroyed: no exit-time order problem
    return *map;
}

// The same hash table size as the entries file (sysdb_open.cpp): 100,000
// entries without long chains. ~400 KiB.
constexpr int hash_chains = 100003;

constexpr std::uint32_t magic = 0x53544756;      // "VGTS" read as little-endian bytes
constexpr std::uint32_t byte_order = 0x01020304; // reads differently on another byte order
constexpr std::string_view header_key{"\0header", 7};

// On disk (native byte order, fixed offsets, no padding questions):
//   header: magic u32, version u32, byte order u32, record size u32  = 16 bytes
//   record: flags u32, 0 u32, entry last/expires i64 x2,
//           initgroups last/expires i64 x2, access checked i64,
//           access hash u64                                           = 56 bytes
constexpr std::size_t header_size = 16;
constexpr std::size_t record_size = 56;
constexpr std::uint32_t flag_access_memo = 1, flag_access_allowed = 2;

template <class T> void put_at(std::uint8_t *buf, std::size_t at, T value) { std::memcpy(buf + at, &value, sizeof value); }
template <class T> T get_at(const std::uint8_t *buf, std::size_t at)
{
    T value;
    std::memcpy(&value, buf + at, sizeof value);
    return value;
}

void encode(const StampRecord &r, std::uint8_t *buf)
{
    std::uint32_t flags = (r.has_access_memo ? flag_access_memo : 0) | (r.access_allowed ? flag_access_allowed : 0);
    put_at(buf, 0, flags);
    put_at(buf, 4, std::uint32_t{0});
    put_at(buf, 8, r.entry.last_update);
    put_at(buf, 16, r.entry.expires_at);
    put_at(buf, 24, r.initgroups.last_update);
    put_at(buf, 32, r.initgroups.expires_at);
    put_at(buf, 40, r.access_checked);
    put_at(buf, 48, r.access_hash);
}

StampRecord decode(const std::uint8_t *buf)
{
    StampRecord r;
    auto flags = get_at<std::uint32_t>(buf, 0);
    r.has_access_memo = (flags & flag_access_memo) != 0;
    r.access_allowed = (flags & flag_access_allowed) != 0;
    r.entry = {get_at<std::int64_t>(buf, 8), get_at<std::int64_t>(buf, 16)};
    r.initgroups = {get_at<std::int64_t>(buf, 24), get_at<std::int64_t>(buf, 32)};
    r.access_checked = get_at<std::int64_t>(buf, 40);
    r.access_hash = get_at<std::uint64_t>(buf, 48);
    return r;
}

char kind_byte(layout::Kind kind) { return kind == layout::Kind::user ? 'u' : 'g'; }

// The key of an entry: short names stay in the string's own buffer.
std::string key_of(layout::Kind kind, std::string_view name)
{
    std::string key;
    key.reserve(name.size() + 1);
    key.push_back(kind_byte(kind));
    key.append(name);
    return key;
}

TDB_DATA data_of(std::string_view bytes)
{
    return {reinterpret_cast<unsigned char *>(const_cast<char *>(bytes.data())), bytes.size()};
}

std::string tdb_message(tdb_context *tdb) { return tdb_errorstr(tdb); }

bool no_such_record(tdb_context *tdb) { return tdb_error(tdb) == TDB_ERR_NOEXIST; }

} // namespace

StampFile::Handle::~Handle()
{
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        auto it = registry().find(id);
        if (it != registry().end() && it->second.expired()) registry().erase(it);
    }
    if (tdb != nullptr) tdb_close(tdb);
}

Result<StampFile> StampFile::open(const std::string &path, Access access)
{
    const bool writer = access == Access::read_write;
    std::shared_ptr<Handle> handle;
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        struct stat st;
        if (stat(path.c_str(), &st) == 0) {
            auto it = registry().find({st.st_dev, st.st_ino});
            if (it != registry().end()) handle = it->second.lock();
        }
        if (handle && writer && !handle->writable)
            return Error{Errc::internal, "timestamps " + path + " is open read-only elsewhere in this process"};
        if (!handle) {
            int flags = writer ? O_RDWR | O_CREAT : O_RDONLY;
            // A reader never creates: tdb_open with O_RDONLY fails on a missing file.
            tdb_context *tdb = tdb_open(path.c_str(), hash_chains, writer ? TDB_NOSYNC : TDB_DEFAULT, flags, 0600);
            if (tdb == nullptr) {
                int err = errno;
                if (!writer && err == ENOENT)
                    return Error{Errc::unavailable, "timestamps " + path + " do not exist yet; vigil_be creates them"};
                return sys_error("cannot open the timestamps " + path, err);
            }
            handle = std::make_shared<Handle>();
            handle->tdb = tdb;
            handle->writable = writer;
            if (fstat(tdb_fd(tdb), &st) != 0) return sys_error("fstat " + path, errno);
            handle->id = {st.st_dev, st.st_ino};
            registry()[handle->id] = handle;
        }
    }
    StampFile file(std::move(handle), path);
    file.read_header();
    return file;
}

StampFile::~StampFile()
{
    if (in_tx_ && handle_) tdb_transaction_cancel(tdb());
}

tdb_context *StampFile::tdb() const { return handle_->tdb; }

void StampFile::read_header()
{
    struct Parsed {
        bool found = false;
        std::size_t size = 0;
        std::uint8_t bytes[header_size] = {};
    } parsed;
    auto parser = [](TDB_DATA key, TDB_DATA data, void *priv) -> int {
        (void)key;
        auto *p = static_cast<Parsed *>(priv);
        p->found = true;
        p->size = data.dsize;
        if (data.dsize == header_size) std::memcpy(p->bytes, data.dptr, header_size);
        return 0;
    };
    int ret = tdb_parse_record(tdb(), data_of(header_key), parser, &parsed);
    if (ret != 0 || !parsed.found) {
        // No header: an empty file is new, anything else is not ours.
        auto count = [](tdb_context *, TDB_DATA, TDB_DATA, void *) -> int { return 1; }; // stop at the first record
        int records = tdb_traverse_read(tdb(), count, nullptr);
        if (records == 0) {
            state_ = State::empty;
        } else {
            state_ = State::other;
            why_ = records < 0 ? "unreadable: " + tdb_message(tdb()) : "no header record (not a vigil timestamps file)";
        }
        return;
    }
    if (parsed.size != header_size || get_at<std::uint32_t>(parsed.bytes, 0) != magic) {
        state_ = State::other;
        why_ = "no vigil timestamps header";
        return;
    }
    auto version = get_at<std::uint32_t>(parsed.bytes, 4);
    if (get_at<std::uint32_t>(parsed.bytes, 8) != byte_order) {
        state_ = State::other;
        why_ = "written on a machine of another byte order";
        return;
    }
    if (version != format_version || get_at<std::uint32_t>(parsed.bytes, 12) != record_size) {
        state_ = State::other;
        why_ = "format version " + std::to_string(version) + ", this vigil knows " + std::to_string(format_version);
        return;
    }
    state_ = State::current;
}

Status StampFile::initialise()
{
    if (state_ != State::empty) return Error{Errc::internal, "timestamps " + path_ + " are not empty"};
    std::uint8_t buf[header_size];
    put_at(buf, 0, magic);
    put_at(buf, 4, format_version);
    put_at(buf, 8, byte_order);
    put_at(buf, 12, static_cast<std::uint32_t>(record_size));
    auto tx = begin();
    if (!tx) return std::move(tx).error();
    if (Status st = store(header_key, buf, sizeof buf, TDB_REPLACE); !st) return st;
    if (Status st = tx->commit(); !st) return st;
    state_ = State::current;
    return {};
}

Result<std::optional<StampRecord>> StampFile::get(layout::Kind kind, std::string_view name) const
{
    return get_key(key_of(kind, name));
}

Result<std::optional<StampRecord>> StampFile::get_key(std::string_view key) const
{
    struct Parsed {
        bool found = false, damaged = false;
        StampRecord record;
    } parsed;
    auto parser = [](TDB_DATA, TDB_DATA data, void *priv) -> int {
        auto *p = static_cast<Parsed *>(priv);
        p->found = true;
        if (data.dsize != record_size) p->damaged = true;
        else p->record = decode(data.dptr);
        return 0;
    };
    const std::string_view name = key.substr(1);
    if (tdb_parse_record(tdb(), data_of(key), parser, &parsed) != 0) {
        if (no_such_record(tdb())) return std::optional<StampRecord>{};
        return Error{Errc::io, "cannot read the timestamps of '" + std::string(name) + "' in " + path_ + ": " + tdb_message(tdb())};
    }
    if (parsed.damaged) {
        VLOG(minor, "timestamps of '%.*s' in %s are damaged: reading them as expired", static_cast<int>(name.size()),
             name.data(), path_.c_str());
        return std::optional<StampRecord>{};
    }
    return std::optional<StampRecord>(parsed.record);
}

StampFile::Batch::Entry &StampFile::Batch::entry(layout::Kind kind, std::string_view name)
{
    return entries_[key_of(kind, name)];
}

Result<std::optional<StampRecord>> StampFile::Batch::get(const StampFile &file, layout::Kind kind, std::string_view name)
{
    std::string key = key_of(kind, name);
    if (auto it = entries_.find(key); it != entries_.end()) return it->second.record;
    // The writer's own batch: only readers share the file, and they take
    // read locks, so this waits for nobody.
    if (read_locked_ == nullptr && file.handle_->writable) {
        if (tdb_lockall_read(file.tdb()) != 0)
            return Error{Errc::io, "cannot lock the timestamps " + file.path_ + ": " + tdb_message(file.tdb())};
        read_locked_ = file.tdb();
    }
    auto found = file.get_key(key);
    if (!found) return found;
    Entry &e = entries_[std::move(key)];
    e.record = *found;
    e.sound = found->has_value();
    return found;
}

void StampFile::Batch::put(layout::Kind kind, std::string_view name, const StampRecord &record)
{
    Entry &e = entry(kind, name);
    writes_ += e.written ? 0 : 1;
    e.record = record;
    e.written = true;
}

void StampFile::Batch::put_listed(layout::Kind kind, std::string_view name, const StampRecord &record)
{
    Entry &e = entry(kind, name);
    writes_ += e.written ? 0 : 1;
    e.record = record;
    e.written = true;
    e.sound = true;
}

void StampFile::Batch::remove(layout::Kind kind, std::string_view name)
{
    Entry &e = entry(kind, name);
    writes_ += e.written ? 0 : 1;
    e.record.reset();
    e.written = true;
    e.sound = false; // a record written after this is a new one
}

void StampFile::Batch::release() noexcept
{
    if (read_locked_ == nullptr) return;
    if (tdb_unlockall_read(read_locked_) != 0)
        VLOG(error, "cannot unlock the timestamps: %s", tdb_message(read_locked_).c_str());
    read_locked_ = nullptr;
}

Status StampFile::for_each(layout::Kind kind, const std::function<void(std::string_view, const StampRecord &)> &fn) const
{
    struct Walk {
        char kind;
        const std::function<void(std::string_view, const StampRecord &)> *fn;
    } walk{kind_byte(kind), &fn};
    auto visit = [](tdb_context *, TDB_DATA key, TDB_DATA data, void *priv) -> int {
        auto *w = static_cast<Walk *>(priv);
        if (key.dsize >= 1 && key.dptr[0] == static_cast<unsigned char>(w->kind) && data.dsize == record_size)
            (*w->fn)(std::string_view(reinterpret_cast<const char *>(key.dptr) + 1, key.dsize - 1), decode(data.dptr));
        return 0;
    };
    if (tdb_traverse_read(tdb(), visit, &walk) < 0)
        return Error{Errc::io, "cannot list the timestamps in " + path_ + ": " + tdb_message(tdb())};
    return {};
}

Status StampFile::store(std::string_view key, const void *data, std::size_t size, int flag)
{
    TDB_DATA value{static_cast<unsigned char *>(const_cast<void *>(data)), size};
    if (tdb_store(tdb(), data_of(key), value, flag) != 0)
        return Error{Errc::io, "cannot write to the timestamps " + path_ + ": " + tdb_message(tdb())};
    return {};
}

Status StampFile::erase(std::string_view key)
{
    if (tdb_delete(tdb(), data_of(key)) != 0 && !no_such_record(tdb()))
        return Error{Errc::io, "cannot delete from the timestamps " + path_ + ": " + tdb_message(tdb())};
    return {};
}

Status StampFile::apply(Batch &batch)
{
    batch.release();
    if (batch.empty()) return {};
    if (!handle_->writable) return Error{Errc::permission, "timestamps " + path_ + " are open read-only"};
    std::uint8_t buf[record_size];
    bool others = false;
    bool locked = false;
    for (const auto &[key, e] : batch.entries_) {
        if (!e.written) continue;
        if (!e.sound || !e.record) {
            others = true;
            continue;
        }
        // tdb_store of a record the size of the one there overwrites its
        // bytes and changes nothing else (tdb_update_hash); under the
        // all-records lock each store takes no lock of its own.
        if (!locked) {
            if (tdb_lockall(tdb()) != 0)
                return Error{Errc::io, "cannot lock the timestamps " + path_ + ": " + tdb_message(tdb())};
            locked = true;
        }
        encode(*e.record, buf);
        if (Status st = store(key, buf, sizeof buf, TDB_MODIFY); !st) {
            tdb_unlockall(tdb());
            return st;
        }
    }
    if (locked && tdb_unlockall(tdb()) != 0)
        return Error{Errc::io, "cannot unlock the timestamps " + path_ + ": " + tdb_message(tdb())};
    if (!others) return {};
    auto tx = begin();
    if (!tx) return std::move(tx).error();
    for (const auto &[key, e] : batch.entries_) {
        if (!e.written || (e.sound && e.record)) continue;
        Status st;
        if (e.record) {
            encode(*e.record, buf);
            st = store(key, buf, sizeof buf, TDB_REPLACE);
        } else {
            st = erase(key);
        }
        if (!st) return st;
    }
    return tx->commit();
}

Result<StampFile::Tx> StampFile::begin()
{
    if (!handle_->writable) return Error{Errc::permission, "timestamps " + path_ + " are open read-only"};
    if (in_tx_) return Error{Errc::internal, "a transaction on " + path_ + " is already open"};
    if (tdb_transaction_start(tdb()) != 0)
        return Error{Errc::io, "cannot start a transaction on " + path_ + ": " + tdb_message(tdb())};
    in_tx_ = true;
    return Tx(this);
}

StampFile::Tx::~Tx()
{
    if (file_ == nullptr) return;
    file_->in_tx_ = false;
    if (tdb_transaction_cancel(file_->tdb()) != 0)
        VLOG(error, "cannot cancel a transaction on %s: %s", file_->path_.c_str(), tdb_message(file_->tdb()).c_str());
}

Status StampFile::Tx::commit()
{
    StampFile *file = file_;
    file_ = nullptr;
    if (file == nullptr) return Error{Errc::internal, "transaction already finished"};
    file->in_tx_ = false;
    if (tdb_transaction_commit(file->tdb()) != 0)
        return Error{Errc::io, "cannot commit to " + file->path_ + ": " + tdb_message(file->tdb())};
    return {};
}

} // namespace vigil::sysdb
