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
//       One string per user or group the write touched:
//         "u" or "g", TAB, name, TAB, id, TAB, previous id (ids: 0 = unknown)
//       with TAB "t" after it when only its timestamps changed (an
//       unchanged refresh: what was formatted from the entry still holds,
//       only not how fresh it is), or TAB "x" when only its timestamps
//       changed and they now say expired (vigilctl cache-expire: a
//       responder need not read them to know);
//       or the single string "*": anything may have changed,
//       or the single string "*t": anything's timestamps may have changed,
//       nothing else (an unchanged refresh of many entries),
//       or the single string "*x": every entry's timestamps say expired,
//       nothing else changed (vigilctl cache-expire --everything).
//       A responder that does not know a form takes it as "*".
#pragma once

#include <cstdint>
#include <string>

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
