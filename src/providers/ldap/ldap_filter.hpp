// Building LDAP filters from names that came from a caller (getpwnam's
// argument, a PAM user). Every such value goes through escape_filter_value:
// `getent passwd '*'` must find nothing, not everyone.
#pragma once

#include <string>
#include <string_view>

namespace vigil::ldap {

// RFC 4515 §3: '*', '(', ')', '\' and NUL become \2a \28 \29 \5c \00. Other
// bytes (UTF-8 included) are valid in an assertion value as they are.
std::string escape_filter_value(std::string_view value);

// "(&(objectClass=CLASS)(ATTR=VALUE))" with VALUE escaped; `extra`, a filter
// from the configuration (e.g. ldap_user_search filter), is ANDed when set.
std::string equality_filter(std::string_view object_class, std::string_view attr, std::string_view value,
                            std::string_view extra = {});
// (&(objectClass=CLASS)(ATTR=*)EXTRA): every entry of a class that has ATTR.
std::string presence_filter(std::string_view object_class, std::string_view attr, std::string_view extra = {});

} // namespace vigil::ldap
