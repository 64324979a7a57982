#include "util/creds/canonical_name.hpp"

namespace vigil::creds {
namespace {

// ASCII only: names are compared byte-wise elsewhere (LDAP filters, the
// cache), and a locale-dependent lowering would make two hosts disagree.
char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

} // namespace

Result<std::string> canonical_user_name(std::string_view name, const DomainNaming &naming)
{
    for (char c : name) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return Error{Errc::invalid_argument, "user name contains a control character"};
    }
    std::string_view user = name;
    // The last '@' separates the domain: user names may contain '@' themselves.
    if (auto at = name.rfind('@'); at != std::string_view::npos) {
        std::string_view suffix = name.substr(at + 1);
        // Domain names are case-insensitive whatever the user names are.
        if (!iequals(suffix, naming.domain))
            return Error{Errc::invalid_argument,
                         "user name '" + std::string(name) + "' does not belong to domain " + naming.domain};
        user = name.substr(0, at);
    }
    if (user.empty()) return Error{Errc::invalid_argument, "empty user name"};
    std::string canonical(user);
    if (!naming.case_sensitive)
        for (char &c : canonical) c = ascii_lower(c);
    return canonical;
}

} // namespace vigil::creds
