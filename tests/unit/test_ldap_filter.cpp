// Names from callers become LDAP filter values only escaped (RFC 4515).
#include "common.hpp"
#include "providers/ldap/ldap_filter.hpp"

using vigil::ldap::equality_filter;
using vigil::ldap::presence_filter;
using vigil::ldap::escape_filter_value;

namespace {

void plain_names_pass_unchanged(void **)
{
    assert_string_equal(escape_filter_value("alice").c_str(), "alice");
    assert_string_equal(escape_filter_value("jörg.müller-2").c_str(), "jörg.müller-2");
}

void the_five_special_characters_are_escaped(void **)
{
    assert_string_equal(escape_filter_value("*").c_str(), "\\2a");
    assert_string_equal(escape_filter_value("a(b)c").c_str(), "a\\28b\\29c");
    assert_string_equal(escape_filter_value("back\\slash").c_str(), "back\\5cslash");
    const std::string with_nul("x\0y", 3);
    assert_string_equal(escape_filter_value(with_nul).c_str(), "x\\00y");
}

void an_injection_stays_one_value(void **)
{
    std::string f = equality_filter("posixAccount", "uid", "*)(uid=*))(|(uid=*");
    assert_string_equal(f.c_str(), "(&(objectClass=posixAccount)(uid=\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a))");
}

void a_configured_filter_is_anded_with_or_without_parentheses(void **)
{
    assert_string_equal(equality_filter("posixAccount", "uid", "bob", "(loginShell=/bin/bash)").c_str(),
                        "(&(objectClass=posixAccount)(uid=bob)(loginShell=/bin/bash))");
    assert_string_equal(equality_filter("posixAccount", "uid", "bob", "host=web1").c_str(),
                        "(&(objectClass=posixAccount)(uid=bob)(host=web1))");
}

void a_presence_filter_asks_for_every_entry_with_the_attribute(void **)
{
    assert_string_equal(presence_filter("posixAccount", "uidNumber").c_str(),
                        "(&(objectClass=posixAccount)(uidNumber=*))");
    assert_string_equal(presence_filter("posixGroup", "gidNumber", "host=web1").c_str(),
                        "(&(objectClass=posixGroup)(gidNumber=*)(host=web1))");
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_names_pass_unchanged),
        cmocka_unit_test(the_five_special_characters_are_escaped),
        cmocka_unit_test(an_injection_stays_one_value),
        cmocka_unit_test(a_configured_filter_is_anded_with_or_without_parentheses),
        cmocka_unit_test(a_presence_filter_asks_for_every_entry_with_the_attribute),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
