// sudoRole entries become the same policy XML as any other source; sudoOrder
// decides their order (highest last, so it wins, as in sudo-ldap).
#include "policy_common.hpp"
#include "policy/sudo_role.hpp"

#include <libxml/tree.h>
#include <optional>

using namespace vigil;
using namespace vigil::policy;
using test::contains;

namespace {

SudoRole role(const std::string &name, AttributeMap attributes)
{
    return SudoRole{name, std::move(attributes)};
}

AttributeMap rule_attributes(const std::string &user, std::optional<std::string> order = std::nullopt)
{
    AttributeMap attributes{{"sudoUser", {user}}, {"sudoHost", {"ALL"}}, {"sudoCommand", {"/bin/" + user}}};
    if (order) attributes["sudoOrder"] = {*order};
    return attributes;
}

ConvertedRoles convert(std::vector<SudoRole> roles)
{
    auto converted = convert_sudo_roles(std::move(roles));
    if (!converted) fail_msg("%s", converted.error().message.c_str());
    auto valid = test::sudo_schema().validate(converted->doc.get(), "converted");
    if (!valid) fail_msg("%s", valid.error().message.c_str());
    return std::move(*converted);
}

std::string rule_names(xmlDoc *doc)
{
    std::string names;
    for (xmlNodePtr node = xmlDocGetRootElement(doc)->children; node; node = node->next) {
        if (node->type != XML_ELEMENT_NODE) continue;
        xmlChar *name = xmlGetProp(node, reinterpret_cast<const xmlChar *>("name"));
        names += (names.empty() ? "" : " ") + std::string(name ? reinterpret_cast<const char *>(name) : "<defaults>");
        xmlFree(name);
    }
    return names;
}

void rules_are_written_in_ascending_sudo_order(void **)
{
    auto converted = convert({role("high", rule_attributes("high", "20")), role("none", rule_attributes("none")),
                              role("low", rule_attributes("low", "10")), role("neg", rule_attributes("neg", "-1.5"))});
    assert_string_equal(rule_names(converted.doc.get()).c_str(), "neg none low high");
    assert_true(contains(serialize(converted.doc.get()), "<rule name=\"high\" order=\"20\">"));
}

void equal_sudo_order_is_ordered_by_name(void **)
{
    auto converted = convert({role("b", rule_attributes("b", "5")), role("a", rule_attributes("a", "5.0"))});
    assert_string_equal(rule_names(converted.doc.get()).c_str(), "a b");
}

void attributes_become_elements_in_schema_order(void **)
{
    AttributeMap attributes{{"sudoUser", {"%dba", "carol"}},
                            {"sudoHost", {"db1.example.com"}},
                            {"sudoRunAsUser", {"postgres"}},
                            {"sudoRunAsGroup", {"postgres"}},
                            {"sudoCommand", {"/usr/bin/psql", "/usr/bin/pg_dump"}},
                            {"sudoOption", {"!authenticate", "env_keep+=PGDATA"}}};
    auto converted = convert({role("dba", attributes)});
    std::string xml = serialize(converted.doc.get());
    const char *expected =
        "<rule name=\"dba\"><user>%dba</user><user>carol</user><host>db1.example.com</host>"
        "<runas-user>postgres</runas-user><runas-group>postgres</runas-group><tag>NOPASSWD</tag>"
        "<option name=\"env_keep\" op=\"+=\" value=\"PGDATA\"/><command>/usr/bin/psql</command>"
        "<command>/usr/bin/pg_dump</command></rule>";
    if (!contains(xml, expected)) fail_msg("got %s", xml.c_str());
}

void attribute_names_ignore_case(void **)
{
    auto converted = convert({role("r", {{"SUDOUSER", {"u"}}, {"sudohost", {"ALL"}}, {"SudoCommand", {"/bin/u"}}})});
    assert_string_equal(rule_names(converted.doc.get()).c_str(), "r");
}

void old_sudo_run_as_counts_as_run_as_user(void **)
{
    auto attributes = rule_attributes("u");
    attributes["sudoRunAs"] = {"oracle"};
    auto converted = convert({role("r", attributes)});
    assert_true(contains(serialize(converted.doc.get()), "<runas-user>oracle</runas-user>"));
}

void earliest_not_before_and_latest_not_after_are_used(void **)
{
    auto attributes = rule_attributes("u");
    attributes["sudoNotBefore"] = {"20250101000000Z", "20240101000000.5Z"};
    attributes["sudoNotAfter"] = {"20300101000000Z", "20990101000000Z"};
    auto converted = convert({role("r", attributes)});
    std::string xml = serialize(converted.doc.get());
    assert_true(contains(xml, "<not-before>20240101000000Z</not-before><not-after>20990101000000Z</not-after>"));
}

void time_with_an_offset_is_refused(void **)
{
    auto attributes = rule_attributes("u");
    attributes["sudoNotAfter"] = {"20300101000000+0200"};
    auto converted = convert_sudo_roles({role("timed", attributes)});
    assert_false(converted.ok());
    assert_true(contains(converted.error().message, "sudoRole 'timed': sudoNotAfter"));
}

void role_without_command_is_refused_by_name(void **)
{
    auto attributes = rule_attributes("u");
    attributes.erase("sudoCommand");
    auto converted = convert_sudo_roles({role("empty", attributes)});
    assert_false(converted.ok());
    assert_string_equal(converted.error().message.c_str(), "sudoRole 'empty' has no sudoCommand");
}

void sudo_order_that_is_not_a_number_is_refused(void **)
{
    auto converted = convert_sudo_roles({role("odd", rule_attributes("u", "first"))});
    assert_false(converted.ok());
    assert_true(contains(converted.error().message, "sudoRole 'odd': sudoOrder 'first' is not a number"));
    auto infinite = convert_sudo_roles({role("inf", rule_attributes("u", "inf"))});
    assert_false(infinite.ok());
}

void defaults_role_is_written_first_as_defaults(void **)
{
    auto converted = convert({role("z", rule_attributes("z", "-100")),
                              role("defaults", {{"sudoOption", {"!visiblepw", "passwd_tries=2"}}})});
    assert_string_equal(rule_names(converted.doc.get()).c_str(), "<defaults> z");
    std::string xml = serialize(converted.doc.get());
    assert_true(contains(xml, "<option name=\"visiblepw\" negate=\"true\"/><option name=\"passwd_tries\" value=\"2\"/>"));
}

void roles_that_apply_nowhere_are_skipped_with_a_note(void **)
{
    auto attributes = rule_attributes("u");
    attributes.erase("sudoHost");
    auto converted = convert({role("hostless", attributes), role("kept", rule_attributes("k"))});
    assert_string_equal(rule_names(converted.doc.get()).c_str(), "kept");
    assert_int_equal(converted.skipped.size(), 1);
    assert_true(contains(converted.skipped[0], "sudoRole 'hostless': no sudoHost"));
}

void contrib_sudo_roles_match_their_documented_order(void **)
{
    // contrib/policy/sudoroles.ldif: dba has sudoOrder 10, backup 20.
    auto converted = convert({role("backup", {{"sudoUser", {"bob"}}, {"sudoHost", {"ALL"}}, {"sudoCommand", {"/usr/bin/rsync"}},
                                              {"sudoOrder", {"20"}}}),
                              role("dba", {{"sudoUser", {"%dba"}}, {"sudoHost", {"ALL"}}, {"sudoCommand", {"/usr/bin/psql"}},
                                           {"sudoOrder", {"10"}}})});
    assert_string_equal(rule_names(converted.doc.get()).c_str(), "dba backup");
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rules_are_written_in_ascending_sudo_order),
        cmocka_unit_test(equal_sudo_order_is_ordered_by_name),
        cmocka_unit_test(attributes_become_elements_in_schema_order),
        cmocka_unit_test(attribute_names_ignore_case),
        cmocka_unit_test(old_sudo_run_as_counts_as_run_as_user),
        cmocka_unit_test(earliest_not_before_and_latest_not_after_are_used),
        cmocka_unit_test(time_with_an_offset_is_refused),
        cmocka_unit_test(role_without_command_is_refused_by_name),
        cmocka_unit_test(sudo_order_that_is_not_a_number_is_refused),
        cmocka_unit_test(defaults_role_is_written_first_as_defaults),
        cmocka_unit_test(roles_that_apply_nowhere_are_skipped_with_a_note),
        cmocka_unit_test(contrib_sudo_roles_match_their_documented_order),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
