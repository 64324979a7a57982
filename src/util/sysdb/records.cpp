#include "util/sysdb/records.hpp"

#include "util/sysdb/layout.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <string_view>

namespace vigil::sysdb {
namespace {

// passwd and group lines are ':'-separated and one per line; a NUL would cut
// the C string the client module hands to the caller.
constexpr std::string_view nss_forbidden{":\n\0", 3};
// Fields that never reach an NSS line (DNs, stamps, extra attributes) may
// hold ':', but a newline or NUL in them is still a sign of bad data.
constexpr std::string_view text_forbidden{"\n\0", 2};

std::string describe(std::string_view c)
{
    if (c == "\n") return "a newline";
    if (c.size() == 1 && c[0] == '\0') return "a NUL byte";
    return "'" + std::string(c) + "'";
}

// The record a refusal is about, as the provider's log line names it:
// "user 'alice' (uid=alice,ou=people,dc=example,dc=com): gecos contains a newline".
struct Subject {
    std::string_view kind; // "user" or "group"
    std::string_view name;
    std::string_view dn;   // may be empty

    Error refuse(const std::string &why) const
    {
        std::string text = std::string(kind) + " '" + std::string(name) + "'";
        if (!dn.empty()) text += " (" + std::string(dn) + ")";
        return Error{Errc::invalid_argument, text + ": " + why};
    }
};

// A set of bytes as a table: a 10,000-member group is checked at each
// refresh, and find_first_of looks each byte up in the set with a call.
struct ByteSet {
    std::array<bool, 256> in{};
    constexpr explicit ByteSet(std::string_view bytes)
    {
        for (char c : bytes) in[static_cast<unsigned char>(c)] = true;
    }
};
constexpr ByteSet nss_forbidden_bytes{nss_forbidden};
constexpr ByteSet text_forbidden_bytes{text_forbidden};

Status check_text(const Subject &subject, std::string_view field, const std::string &value, const ByteSet &forbidden)
{
    auto at = std::find_if(value.begin(), value.end(), [&](char c) { return forbidden.in[static_cast<unsigned char>(c)]; });
    if (at == value.end()) return {};
    return subject.refuse(std::string(field) + " contains " + describe(std::string_view(&*at, 1)));
}

Status check_name(const Subject &subject, std::string_view field, const std::string &value)
{
    if (value.empty()) return subject.refuse(std::string(field) + " is empty");
    return check_text(subject, field, value, nss_forbidden_bytes);
}

Status check_id(const Subject &subject, std::string_view field, std::uint32_t id)
{
    if (id != 0 && id != invalid_id) return {};
    return subject.refuse(std::string(field) + " " + std::to_string(id) +
                          (id == 0 ? " is root's, never served" : " means \"no id\" to NSS"));
}

bool valid_attr_name(const std::string &name)
{
    if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == ';';
    });
}

Status check_extra(const Subject &subject, const ExtraAttrs &extra)
{
    for (const auto &[attr, values] : extra) {
        bool reserved = layout::is_reserved_attr(attr);
        if (!valid_attr_name(attr) || reserved) {
            return subject.refuse("extra attribute '" + attr + "' is " +
                                  (reserved ? "reserved by the cache" : "not a valid attribute name"));
        }
        for (const std::string &v : values) {
            if (Status st = check_text(subject, attr, v, text_forbidden_bytes); !st) return st;
        }
    }
    return {};
}

void sort_unique(std::vector<std::string> &names)
{
    // Directories mostly return members in the order they were added, often
    // sorted already: a check in one pass spares sorting 10,000 names.
    if (!std::is_sorted(names.begin(), names.end())) std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
}

} // namespace

const char *freshness_name(Freshness f) noexcept
{
    switch (f) {
    case Freshness::fresh: return "fresh";
    case Freshness::expiring: return "expiring";
    case Freshness::expired: return "expired";
    }
    return "unknown";
}

Freshness classify(const Timestamps &ts, std::int64_t now, std::int64_t entry_timeout,
                   int nowait_percentage) noexcept
{
    if (ts.last_update > now) return Freshness::expired;
    if (now >= ts.expires_at) return Freshness::expired;
    int percentage = std::clamp(nowait_percentage, 0, 100);
    if (percentage > 0 && entry_timeout > 0) {
        std::int64_t refresh_from = ts.last_update + entry_timeout * percentage / 100;
        if (now >= refresh_from) return Freshness::expiring;
    }
    return Freshness::fresh;
}

User normalised(User user)
{
    for (auto it = user.extra.begin(); it != user.extra.end();) {
        auto &values = it->second;
        values.erase(std::remove(values.begin(), values.end(), std::string()), values.end());
        // ldb keeps the values of an attribute as a set.
        sort_unique(values);
        it = values.empty() ? user.extra.erase(it) : std::next(it);
    }
    return user;
}

Group normalised(Group group)
{
    sort_unique(group.members);
    sort_unique(group.member_groups);
    return group;
}

bool is_normalised(const Group &group)
{
    // Sorted, and each name once: every name before the next.
    auto normal = [](const std::vector<std::string> &names) {
        return std::adjacent_find(names.begin(), names.end(), std::greater_equal<>()) == names.end();
    };
    return normal(group.members) && normal(group.member_groups);
}

Status validate(const User &user)
{
    const Subject subject{"user", user.name, user.original_dn};
    if (Status st = check_name(subject, "name", user.name); !st) return st;
    if (Status st = check_id(subject, "uid", user.uid); !st) return st;
    if (Status st = check_id(subject, "primary gid", user.gid); !st) return st;
    if (Status st = check_text(subject, "gecos", user.gecos, nss_forbidden_bytes); !st) return st;
    if (Status st = check_text(subject, "home", user.home, nss_forbidden_bytes); !st) return st;
    if (Status st = check_text(subject, "shell", user.shell, nss_forbidden_bytes); !st) return st;
    if (Status st = check_text(subject, "original DN", user.original_dn, text_forbidden_bytes); !st) return st;
    if (Status st = check_text(subject, "modify stamp", user.modify_stamp, text_forbidden_bytes); !st) return st;
    return check_extra(subject, user.extra);
}

Status validate(const Group &group)
{
    const Subject subject{"group", group.name, group.original_dn};
    if (Status st = check_name(subject, "name", group.name); !st) return st;
    if (Status st = check_id(subject, "gid", group.gid); !st) return st;
    for (const std::string &m : group.members) {
        if (Status st = check_name(subject, "member", m); !st) return st;
    }
    for (const std::string &m : group.member_groups) {
        if (Status st = check_name(subject, "member group", m); !st) return st;
    }
    if (Status st = check_text(subject, "original DN", group.original_dn, text_forbidden_bytes); !st) return st;
    if (Status st = check_text(subject, "modify stamp", group.modify_stamp, text_forbidden_bytes); !st) return st;
    if (group.source_digest.find_first_not_of("0123456789abcdef") != std::string::npos)
        return subject.refuse("source digest is not lowercase hex");
    return {};
}

} // namespace vigil::sysdb
