#include "responder/nss/nss_memory.hpp"

#include <algorithm>
#include <charconv>
#include <numeric>

namespace vigil::responder {

std::size_t HotAnswers::cost(std::string_view key, const Formatted &f)
{
    // What the entry holds, roughly (the map node included): enough for a bound.
    return key.size() + f.name.size() + (f.body ? f.body->size() : 0) + 128;
}

std::size_t HotAnswers::bytes() const { return std::accumulate(bytes_.begin(), bytes_.end(), std::size_t{0}); }

void HotAnswers::keep(dp_iface::Lookup lookup, std::string_view key, const Formatted &answer)
{
    const std::size_t c = cost(key, answer);
    if (c > limits_.bytes) return; // never worth more than the whole table
    if (const Formatted *old = table_.find(lookup, key)) bytes_of(lookup) -= cost(key, *old);
    if (table_.size() >= limits_.entries || bytes() + c > limits_.bytes) clear();
    table_.put(lookup, key, answer);
    bytes_of(lookup) += c;
    if (lookup == dp_iface::Lookup::user_by_uid || lookup == dp_iface::Lookup::group_by_gid) {
        auto &keys = ids_of_[lookup == dp_iface::Lookup::user_by_uid ? 0 : 1][answer.name];
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.emplace_back(key);
    }
}

void HotAnswers::clear()
{
    table_.clear();
    bytes_.fill(0);
    for (auto &m : ids_of_) m.clear();
}

void HotAnswers::drop(dp_iface::Lookup lookup, std::string_view key)
{
    if (const Formatted *old = table_.find(lookup, key)) {
        bytes_of(lookup) -= cost(key, *old);
        table_.erase(lookup, key);
    }
}

namespace {

// An id as the key of a by-id answer, in `buf`: no allocation.
std::string_view id_key(std::uint32_t id, char (&buf)[16])
{
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, id);
    return std::string_view(buf, static_cast<std::size_t>(end - buf));
}

} // namespace

void HotAnswers::forget(bool user, std::string_view name, std::uint32_t id, std::uint32_t old_id)
{
    using dp_iface::Lookup;
    const Lookup by_name = user ? Lookup::user_by_name : Lookup::group_by_name;
    const Lookup by_id = user ? Lookup::user_by_uid : Lookup::group_by_gid;
    drop(by_name, name);
    if (user) drop(Lookup::initgroups, name);
    char text[16];
    for (std::uint32_t i : {id, old_id}) {
        if (i != 0) drop(by_id, id_key(i, text));
    }
    auto &index = ids_of_[user ? 0 : 1];
    auto it = index.find(name);
    if (it == index.end()) return;
    for (const std::string &key : it->second) drop(by_id, key);
    index.erase(it);
}

void HotAnswers::expire(bool user, std::string_view name, std::uint32_t id,
                        std::optional<sysdb::Timestamps> now_cached)
{
    using dp_iface::Lookup;
    auto mark = [&](Lookup lookup, std::string_view key) {
        if (Formatted *f = table_.find(lookup, key)) f->timestamps = now_cached;
    };
    const Lookup by_id = user ? Lookup::user_by_uid : Lookup::group_by_gid;
    mark(user ? Lookup::user_by_name : Lookup::group_by_name, name);
    if (user) mark(Lookup::initgroups, name);
    char text[16];
    if (id != 0) mark(by_id, id_key(id, text));
    auto &index = ids_of_[user ? 0 : 1];
    auto it = index.find(name);
    if (it == index.end()) return;
    for (const std::string &key : it->second) mark(by_id, key);
}

void HotAnswers::expire_all(std::optional<sysdb::Timestamps> now_cached)
{
    table_.for_each([&](Formatted &f) { f.timestamps = now_cached; });
}

void HotAnswers::clear(dp_iface::Lookup lookup)
{
    table_.clear(lookup);
    bytes_of(lookup) = 0;
}

} // namespace vigil::responder
