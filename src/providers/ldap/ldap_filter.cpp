#include "providers/ldap/ldap_filter.hpp"

namespace vigil::ldap {

std::string escape_filter_value(std::string_view value)
{
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        switch (c) {
        case '*': case '(': case ')': case '\\': case '\0':
            out += '\\';
            out += hex[static_cast<unsigned char>(c) >> 4];
            out += hex[static_cast<unsigned char>(c) & 0xf];
            break;
        default: out += c;
        }
    }
    return out;
}

namespace {

std::string and_filter(std::string_view object_class, std::string_view attr, std::string_view value,
                       std::string_view extra)
{
    std::string f = "(&(objectClass=";
    f += object_class;
    f += ")(";
    f += attr;
    f += '=';
    f += value;
    f += ')';
    if (!extra.empty()) {
        // A configured filter may come with or without its parentheses.
        if (extra.front() != '(') f += '(';
        f += extra;
        if (extra.front() != '(') f += ')';
    }
    f += ')';
    return f;
}

} // namespace

std::string equality_filter(std::string_view object_class, std::string_view attr, std::string_view value,
                            std::string_view extra)
{
    return and_filter(object_class, attr, escape_filter_value(value), extra);
}

std::string presence_filter(std::string_view object_class, std::string_view attr, std::string_view extra)
{
    return and_filter(object_class, attr, "*", extra);
}

} // namespace vigil::ldap
