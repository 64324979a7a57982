// The interface of a domain's data provider (vigil_be) to the responders and
// vigilctl. A lookup is a request to bring the cache up to date with the
// directory; the answer says how that went, and the caller then reads the
// cache. Directory data never travels over D-Bus (DESIGN.md).
//
//   org.vigil.DataProvider.getAccountInfo(u lookup, s key) → (u outcome, s message)
//   org.vigil.DataProvider.domainStatus() → as "key\tvalue" lines
//   org.vigil.DataProvider.expireCache(s "user"|"group"|"everything", s name)
//   org.vigil.DataProvider.watch() → ()
//       the reply says the caller's connection is registered: from then on it
//       receives every cacheChanged signal
//   org.vigil.DataProvider.pam(u command, s user, s service, s tty, s ruser,
//                              s rhost, u flags, u pid, u present,
//                              s authtok, s new_authtok) → (u result, as messages, as env)
//       a PAM request for one of this domain's users, from vigil_pam (the
//       user already found and allowed): command is VIGIL_CMD_PAM_*, flags
//       VIGIL_PAM_FLAG_*, present says which tokens were sent (1 authtok,
//       2 new_authtok) and 4 that root asked on the private socket (who may
//       set a password without the old one); result is a vigil_pam_result, each message
//       "1<TAB>text" (info) or "2<TAB>text" (error), each env item NAME=value.
//       The tokens travel in lowercase hex (a password need not be UTF-8),
//       across this root-only socket only; both ends wipe them.
//   signal org.vigil.DataProvider.cacheChanged(as changes)
//       sent to every connected peer after each committed cache write, before
//       the reply to the lookup that caused it (one connection keeps order),
//       so a responder can keep formatted answers in memory until it arrives.
//       Each string holds one or more lines, separated by newlines (the
//       provider sends one string); one line per user or group the write
//       touched:
//         "u" or "g", TAB, name, TAB, id, TAB, previous id (ids: 0 = unknown)
//       with TAB "t" after it when only its timestamps changed (an
//       unchanged refresh: what was formatted from the entry still holds,
//       only not how fresh it is), or TAB "x" when only its timestamps
//       changed and they now say expired (vigilctl cache-expire: a
//       responder need not read them to know);
//       or the single line "*": anything may have changed,
//       or the single line "*t": anything's timestamps may have changed,
//       nothing else (an unchanged refresh of many entries),
//       or the single line "*x": every entry's timestamps say expired,
//       nothing else changed (vigilctl cache-expire --everything).
//       A responder that does not understand a line takes it as "*".
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::dp_iface {

inline constexpr const char *interface = "org.vigil.DataProvider";
inline constexpr const char *cache_changed = "cacheChanged";
inline constexpr const char *pam = "pam";
inline constexpr const char *everything_changed = "*";
inline constexpr const char *every_timestamp_changed = "*t";
inline constexpr const char *everything_expired = "*x";

inline std::string socket_path(const std::string &run_dir, const std::string &domain)
{
    return run_dir + "/private/sbus-dp_" + domain;
}

enum class Lookup : std::uint32_t {
    user_by_name = 1,
    user_by_uid = 2,
    group_by_name = 3,
    group_by_gid = 4,
    initgroups = 5, // key: the user name
};

enum class Outcome : std::uint32_t {
    ok = 0,          // the cache holds the directory's current answer
    not_found = 1,   // the directory has no such entry; the cache entry is gone
    unavailable = 2, // offline or the directory did not answer: serve what is cached
    error = 3,       // anything else; the message says what
};

// One "u|g" line of a cacheChanged signal.
struct CacheChange {
    enum class Kind {
        entry,      // the entry changed (or went): what was formatted from it is stale
        timestamps, // only its timestamps changed ("t")
        expired,    // only its timestamps changed, and they say expired ("x")
    };
    bool user = true; // else a group
    std::string_view name;
    std::uint32_t id = 0, old_id = 0;
    Kind kind = Kind::entry;
};

// Appends `change` as one line to `lines`. False (nothing appended): its name
// holds a TAB or newline and cannot travel; say everything_changed instead.
// The caller checks UTF-8 (libdbus refuses anything else).
inline bool append_change(std::string &lines, const CacheChange &change)
{
    if (change.name.find_first_of("\t\n") != std::string_view::npos) return false;
    char id[16], old_id[16];
    const auto id_end = std::to_chars(id, id + sizeof id, change.id).ptr;
    const auto old_id_end = std::to_chars(old_id, old_id + sizeof old_id, change.old_id).ptr;
    if (!lines.empty()) lines += '\n';
    lines += change.user ? "u\t" : "g\t";
    lines += change.name;
    lines += '\t';
    lines.append(id, id_end);
    lines += '\t';
    lines.append(old_id, old_id_end);
    if (change.kind == CacheChange::Kind::timestamps) lines += "\tt";
    if (change.kind == CacheChange::Kind::expired) lines += "\tx";
    return true;
}

// One "u|g" line; nullopt for anything else (the "*" lines are compared by
// the caller; a line not understood means everything may have changed).
// The name is a view into `line`.
inline std::optional<CacheChange> parse_change(std::string_view line)
{
    constexpr auto npos = std::string_view::npos;
    const auto tab1 = line.find('\t');
    const auto tab2 = tab1 == npos ? tab1 : line.find('\t', tab1 + 1);
    const auto tab3 = tab2 == npos ? tab2 : line.find('\t', tab2 + 1);
    const auto tab4 = tab3 == npos ? tab3 : line.find('\t', tab3 + 1);
    if (tab3 == npos || tab1 != 1 || (line[0] != 'u' && line[0] != 'g')) return std::nullopt;
    const auto number = [&](std::size_t from, std::size_t to, std::uint32_t &out) {
        auto [end, ec] = std::from_chars(line.data() + from, line.data() + to, out);
        return ec == std::errc{} && end == line.data() + to;
    };
    CacheChange change;
    const std::size_t old_id_end = tab4 == npos ? line.size() : tab4;
    if (!number(tab2 + 1, tab3, change.id) || !number(tab3 + 1, old_id_end, change.old_id)) return std::nullopt;
    if (tab4 != npos) {
        const std::string_view kind = line.substr(tab4 + 1);
        if (kind == "t") change.kind = CacheChange::Kind::timestamps;
        else if (kind == "x") change.kind = CacheChange::Kind::expired;
        else return std::nullopt;
    }
    change.user = line[0] == 'u';
    change.name = line.substr(tab1 + 1, tab2 - tab1 - 1);
    return change;
}

// Calls `each(line)` for every line of a cacheChanged signal's strings (an
// empty string is one empty line), until it returns false; returns whether
// every line was taken.
template <class F>
bool for_each_change_line(const std::vector<std::string> &changes, F each)
{
    for (const std::string &text : changes) {
        std::string_view rest = text;
        do {
            const auto eol = rest.find('\n');
            if (!each(rest.substr(0, eol))) return false;
            rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
        } while (!rest.empty());
    }
    return true;
}

inline const char *outcome_name(Outcome o)
{
    switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::not_found: return "not-found";
    case Outcome::unavailable: return "unavailable";
    case Outcome::error: return "error";
    }
    return "?";
}

} // namespace vigil::dp_iface
