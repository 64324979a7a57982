// What vigil_nss keeps in memory per domain: formatted answers for hot
// entries (the reply body as it goes on the wire, so a hot lookup neither
// reads the cache nor encodes anything), the negative cache, and the
// enumeration snapshot. All of it is dropped whole when the provider says the
// cache changed (DpClient::watch), and kept only while it can say so. When
// only timestamps changed (a refresh that found the entry unchanged, an
// expiry), the answers stay, marked expired: the next lookup reads the
// timestamps alone (unless the provider said they now say expired) and, once
// fresh, sends the answer it has.
#pragma once

#include "util/sbus/dp_iface.hpp"
#include "util/sysdb/records.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vigil::responder {

using WireBody = std::shared_ptr<const std::vector<std::uint8_t>>;

// An answer ready to be shipped.
struct Formatted {
    WireBody body;
    // As the cache holds them (the provider signals every change), or
    // nullopt: changed since, to be read again.
    std::optional<sysdb::Timestamps> timestamps;
    std::string name; // the object's: filter_users/filter_groups apply to it, a refresh asks by it
};

// Hashes std::string and string_view alike: a key is looked up as a view.
struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class T>
using KeyMap = std::unordered_map<std::string, T, KeyHash, std::equal_to<>>;

// A map per lookup kind, keyed by name or decimal id, searchable by
// string_view (no key is built to look one up).
template <class T>
class LookupTable {
public:
    T *find(dp_iface::Lookup lookup, std::string_view key)
    {
        auto &m = table(lookup);
        auto it = m.find(key);
        return it == m.end() ? nullptr : &it->second;
    }
    // Returns the stored value (replacing an older one).
    T &put(dp_iface::Lookup lookup, std::string_view key, T value)
    {
        auto &m = table(lookup);
        auto it = m.find(key);
        if (it != m.end()) return it->second = std::move(value);
        return m.emplace(std::string(key), std::move(value)).first->second;
    }
    void erase(dp_iface::Lookup lookup, std::string_view key)
    {
        auto &m = table(lookup);
        auto it = m.find(key);
        if (it != m.end()) m.erase(it);
    }
    void clear(dp_iface::Lookup lookup) { table(lookup).clear(); }
    void clear()
    {
        for (auto &m : tables_) m.clear();
    }
    std::size_t size() const
    {
        std::size_t n = 0;
        for (const auto &m : tables_) n += m.size();
        return n;
    }
    template <class F>
    void for_each(F f)
    {
        for (auto &m : tables_)
            for (auto &e : m) f(e.second);
    }
    template <class Pred>
    void erase_if(Pred pred)
    {
        for (auto &m : tables_) std::erase_if(m, [&](const auto &e) { return pred(e.second); });
    }

private:
    using Map = KeyMap<T>;
    static constexpr std::size_t kinds = static_cast<std::size_t>(dp_iface::Lookup::initgroups);
    Map &table(dp_iface::Lookup lookup) { return tables_[static_cast<std::size_t>(lookup) - 1]; }
    std::array<Map, kinds> tables_;
};

// Formatted answers, bounded in entries and bytes: past either bound the
// table starts over (hot entries come back at their next lookup; a scan of
// many names cannot grow the responder without end).
struct HotLimits {
    std::size_t entries = 100000;
    std::size_t bytes = 64u << 20;
};

class HotAnswers {
public:
    using Limits = HotLimits;
    explicit HotAnswers(Limits limits = {}) : limits_(limits) {}

    const Formatted *find(dp_iface::Lookup lookup, std::string_view key) { return table_.find(lookup, key); }
    void keep(dp_iface::Lookup lookup, std::string_view key, const Formatted &answer);
    void clear();
    void clear(dp_iface::Lookup lookup); // initgroups, whose answers depend on other domains' groups
    // The cache changed this user or group: its answers by name, by the ids
    // given (0: none) and by every id it was kept under go; for a user, its
    // initgroups answer too.
    void forget(bool user, std::string_view name, std::uint32_t id = 0, std::uint32_t old_id = 0);
    // Only the timestamps of this user or group changed (the same keys as
    // forget()): its answers still hold what the cache holds, and are kept
    // with `now_cached`, the timestamps the cache now holds if the provider
    // said (an expiry), else nullopt (read them again before use).
    void expire(bool user, std::string_view name, std::uint32_t id = 0,
                std::optional<sysdb::Timestamps> now_cached = std::nullopt);
    void expire_all(std::optional<sysdb::Timestamps> now_cached = std::nullopt);
    std::size_t size() const { return table_.size(); }
    std::size_t bytes() const;

private:
    static std::size_t cost(std::string_view key, const Formatted &f);
    std::size_t &bytes_of(dp_iface::Lookup lookup) { return bytes_[static_cast<std::size_t>(lookup) - 1]; }
    void drop(dp_iface::Lookup lookup, std::string_view key);
    Limits limits_;
    LookupTable<Formatted> table_;
    // Object name -> the id keys its answers are kept under (users, groups).
    std::array<KeyMap<std::vector<std::string>>, 2> ids_of_;
    std::array<std::size_t, static_cast<std::size_t>(dp_iface::Lookup::initgroups)> bytes_{};
};

} // namespace vigil::responder
