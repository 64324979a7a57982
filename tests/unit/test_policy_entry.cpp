// Policy entries from the directory: checked before use, and applied only
// to the hosts (and host groups) they name.
#include "common.hpp"
#include "policy/policy_entry.hpp"

using namespace vigil;
using namespace vigil::policy;

namespace {

const std::string dn = "cn=web,ou=policies,dc=example,dc=com";

AttributeMap full_entry()
{
    return AttributeMap{{"objectClass", {"vigilPolicy"}},
                        {"cn", {"web"}},
                        {"vigilPolicyType", {"sudo"}},
                        {"vigilPolicyPriority", {"-20"}},
                        {"vigilPolicyMode", {"ultimate"}},
                        {"vigilPolicyEnabled", {"TRUE"}},
                        {"vigilPolicyHost", {"Web1.Example.COM", "web2.example.com"}},
                        {"vigilPolicyHostGroup", {"cn=webservers,ou=hostgroups,dc=example,dc=com"}},
                        {"vigilPolicyDocument", {"<policy type=\"sudo\" version=\"1\"/>"}}};
}

void assert_refused(const AttributeMap &attributes, const char *expected, Errc code = Errc::invalid_argument)
{
    auto entry = policy_entry_from(dn, attributes);
    if (entry) fail_msg("entry was accepted");
    if (entry.error().message.find(dn) == std::string::npos || entry.error().message.find(expected) == std::string::npos) {
        fail_msg("error '%s' lacks the DN or '%s'", entry.error().message.c_str(), expected);
    }
    assert_int_equal(static_cast<int>(entry.error().code), static_cast<int>(code));
}

void full_entry_is_read(void **)
{
    auto entry = policy_entry_from(dn, full_entry());
    if (!entry) fail_msg("%s", entry.error().message.c_str());
    assert_string_equal(entry->name.c_str(), "web");
    assert_string_equal(std::string(entry->type->name).c_str(), "sudo");
    assert_int_equal(entry->priority, -20);
    assert_true(entry->mode == InstallMode::ultimate);
    assert_true(entry->enabled);
    assert_int_equal(entry->hosts.size(), 2);
    assert_int_equal(entry->host_groups.size(), 1);
}

void absent_mode_and_enabled_take_their_defaults(void **)
{
    auto attributes = full_entry();
    attributes.erase("vigilPolicyMode");
    attributes.erase("VIGILPOLICYENABLED");  // names compare without case
    auto entry = policy_entry_from(dn, attributes);
    assert_true(entry.ok());
    assert_true(entry->mode == InstallMode::ultimate);
    assert_true(entry->enabled);
}

void missing_document_is_refused(void **)
{
    auto attributes = full_entry();
    attributes.erase("vigilPolicyDocument");
    assert_refused(attributes, "no vigilPolicyDocument");
}

void priority_that_is_not_an_integer_is_refused(void **)
{
    for (const char *bad : {"high", "10.5", "99999999999", "", " 5"}) {
        auto attributes = full_entry();
        attributes["vigilPolicyPriority"] = {bad};
        assert_refused(attributes, "vigilPolicyPriority");
    }
}

void two_priorities_are_refused(void **)
{
    auto attributes = full_entry();
    attributes["vigilPolicyPriority"] = {"1", "2"};
    assert_refused(attributes, "vigilPolicyPriority has 2 values");
}

void unknown_mode_is_refused(void **)
{
    auto attributes = full_entry();
    attributes["vigilPolicyMode"] = {"merge"};
    assert_refused(attributes, "neither ultimate nor default");
}

void sudo_policy_in_default_mode_is_refused(void **)
{
    auto attributes = full_entry();
    attributes["vigilPolicyMode"] = {"default"};
    assert_refused(attributes, "sudo policies are always ultimate");
}

void unknown_type_is_not_found(void **)
{
    auto attributes = full_entry();
    attributes["vigilPolicyType"] = {"flux-capacitor"};
    assert_refused(attributes, "type 'flux-capacitor' is not known", Errc::not_found);
}

void enabled_other_than_true_or_false_is_refused(void **)
{
    auto attributes = full_entry();
    attributes["vigilPolicyEnabled"] = {"yes"};
    assert_refused(attributes, "neither TRUE nor FALSE");
}

void host_named_in_any_case_applies(void **)
{
    auto entry = policy_entry_from(dn, full_entry());
    assert_true(applies_to(*entry, HostIdentity{"web1.example.com", {}}));
    assert_true(applies_to(*entry, HostIdentity{"WEB2.example.com", {}}));
    assert_false(applies_to(*entry, HostIdentity{"web3.example.com", {}}));
    assert_false(applies_to(*entry, HostIdentity{"web1", {}}));
}

void member_of_a_named_host_group_applies(void **)
{
    auto entry = policy_entry_from(dn, full_entry());
    assert_true(applies_to(*entry, HostIdentity{"db9.example.com", {"CN=WebServers, OU=hostgroups, DC=example, DC=com"}}));
    assert_false(applies_to(*entry, HostIdentity{"db9.example.com", {"cn=dbservers,ou=hostgroups,dc=example,dc=com"}}));
}

void disabled_policy_applies_nowhere(void **)
{
    auto attributes = full_entry();
    attributes["vigilPolicyEnabled"] = {"FALSE"};
    auto entry = policy_entry_from(dn, attributes);
    assert_true(entry.ok());
    assert_false(applies_to(*entry, HostIdentity{"web1.example.com", {"cn=webservers,ou=hostgroups,dc=example,dc=com"}}));
}

void policy_without_hosts_or_groups_applies_nowhere(void **)
{
    auto attributes = full_entry();
    attributes.erase("vigilPolicyHost");
    attributes.erase("vigilPolicyHostGroup");
    auto entry = policy_entry_from(dn, attributes);
    assert_true(entry.ok());
    assert_false(applies_to(*entry, HostIdentity{"web1.example.com", {}}));
}

void dn_comparison_keeps_escaped_spaces(void **)
{
    assert_true(same_dn("cn=a b,dc=x", "CN=a b , dc=X"));
    assert_false(same_dn("cn=ab,dc=x", "cn=a b,dc=x"));
    assert_false(same_dn("cn=a\\ ,dc=x", "cn=a,dc=x"));
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_entry_is_read),
        cmocka_unit_test(absent_mode_and_enabled_take_their_defaults),
        cmocka_unit_test(missing_document_is_refused),
        cmocka_unit_test(priority_that_is_not_an_integer_is_refused),
        cmocka_unit_test(two_priorities_are_refused),
        cmocka_unit_test(unknown_mode_is_refused),
        cmocka_unit_test(sudo_policy_in_default_mode_is_refused),
        cmocka_unit_test(unknown_type_is_not_found),
        cmocka_unit_test(enabled_other_than_true_or_false_is_refused),
        cmocka_unit_test(host_named_in_any_case_applies),
        cmocka_unit_test(member_of_a_named_host_group_applies),
        cmocka_unit_test(disabled_policy_applies_nowhere),
        cmocka_unit_test(policy_without_hosts_or_groups_applies_nowhere),
        cmocka_unit_test(dn_comparison_keeps_escaped_spaces),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
