// Policy documents are read safely and checked against the schema before
// anything else looks at them: every refusal is an error naming the policy.
#include "policy_common.hpp"

using namespace vigil;
using namespace vigil::policy;
using test::contains;

namespace {

Error refusal(const std::string &xml)
{
    auto schema = test::sudo_schema();
    auto doc = read_valid_document(xml, schema, "policy 'probe'");
    if (doc) fail_msg("document was accepted: %s", xml.c_str());
    return doc.error();
}

void assert_refused_with(const std::string &xml, const std::string &expected)
{
    Error error = refusal(xml);
    assert_int_equal(static_cast<int>(error.code), static_cast<int>(Errc::invalid_argument));
    if (!contains(error.message, "policy 'probe'") || !contains(error.message, expected)) {
        fail_msg("error '%s' does not name the policy and '%s'", error.message.c_str(), expected.c_str());
    }
}

void contrib_examples_are_valid(void **)
{
    auto schema = test::sudo_schema();
    for (const char *name : {"base.xml", "web.xml", "lockdown.xml"}) {
        auto doc = read_valid_document(test::example(name), schema, name);
        if (!doc) fail_msg("%s", doc.error().message.c_str());
    }
}

void malformed_xml_is_refused_with_its_line(void **)
{
    assert_refused_with("<policy type=\"sudo\" version=\"1\">\n<rule name=\"x\">\n</policy>", "malformed XML at line 3");
}

void empty_input_is_refused(void **) { assert_refused_with("", "malformed XML"); }

void doctype_declaring_entities_is_refused(void **)
{
    assert_refused_with("<?xml version=\"1.0\"?>\n<!DOCTYPE policy [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>\n"
                        "<policy type=\"sudo\" version=\"1\"><defaults><option name=\"x&b;\"/></defaults></policy>",
                        "DOCTYPE is not allowed");
}

void doctype_without_entities_is_refused(void **)
{
    assert_refused_with("<!DOCTYPE policy><policy type=\"sudo\" version=\"1\"/>", "DOCTYPE is not allowed");
}

void doctype_naming_a_network_dtd_is_refused(void **)
{
    assert_refused_with("<!DOCTYPE policy SYSTEM \"http://127.0.0.1:9/policy.dtd\"><policy type=\"sudo\" version=\"1\"/>",
                        "DOCTYPE is not allowed");
}

void external_entity_reading_a_file_is_refused(void **)
{
    assert_refused_with("<!DOCTYPE policy [<!ENTITY pw SYSTEM \"file:///etc/passwd\">]>"
                        "<policy type=\"sudo\" version=\"1\"><rule name=\"&pw;\"/></policy>",
                        "DOCTYPE is not allowed");
}

void undeclared_entity_is_refused(void **)
{
    assert_refused_with("<policy type=\"sudo\" version=\"1\"><rule name=\"&pw;\"/></policy>", "malformed XML");
}

void xinclude_is_not_processed_and_fails_the_schema(void **)
{
    assert_refused_with("<policy type=\"sudo\" version=\"1\" xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
                        "<xi:include href=\"http://127.0.0.1:9/rules.xml\"/></policy>",
                        "does not match the policy schema");
}

void rule_without_command_fails_the_schema_naming_the_element(void **)
{
    assert_refused_with("<policy type=\"sudo\" version=\"1\">\n<rule name=\"r\"><user>a</user><host>ALL</host></rule>\n</policy>",
                        "(rule 'r')");
}

void wrong_type_fails_the_schema(void **)
{
    assert_refused_with("<policy type=\"selinux-usermap\" version=\"1\"/>", "does not match the policy schema");
}

void command_needing_sudoers_escapes_is_refused(void **)
{
    assert_refused_with("<policy type=\"sudo\" version=\"1\"><rule name=\"r\"><user>a</user><host>ALL</host>"
                        "<command>/bin/ls a,b</command></rule></policy>",
                        "(element command in rule 'r')");
}

void relative_command_is_refused(void **)
{
    assert_refused_with("<policy type=\"sudo\" version=\"1\"><rule name=\"r\"><user>a</user><host>ALL</host>"
                        "<command>ls</command></rule></policy>",
                        "(element command in rule 'r')");
}

void newline_in_a_rule_name_is_refused(void **)
{
    // A newline would end the sudoers comment the name is written in.
    assert_refused_with("<policy type=\"sudo\" version=\"1\"><rule name=\"x&#10;ALL ALL=(ALL) ALL\"><user>a</user>"
                        "<host>ALL</host><command>/bin/true</command></rule></policy>",
                        "does not match the policy schema");
}

void user_with_a_space_is_refused(void **)
{
    assert_refused_with("<policy type=\"sudo\" version=\"1\"><rule name=\"r\"><user>a ALL</user><host>ALL</host>"
                        "<command>/bin/true</command></rule></policy>",
                        "(element user in rule 'r')");
}

// Each of these is a value sudoers would reject or misread: refused by the
// schema, so a policy cannot fail late, at visudo, for its syntax.
void values_sudoers_would_reject_are_refused(void **)
{
    struct Case {
        const char *element;
        const char *value;
    } cases[] = {
        {"user", "#abc"},          // a uid must be digits
        {"user", "%#abc"},         // a gid too
        {"runas-group", "%adm"},   // a Runas group list holds groups, not %groups
        {"runas-group", "+ng"},    // nor netgroups
        {"command", "/"},          // not a path
        {"command", "/ x"},
        {"command", "sudoedit "},  // sudoedit needs a file
        {"command", "sudoedit x"}, // an absolute one
    };
    for (const auto &c : cases) {
        std::string rule = "<user>u</user><host>ALL</host>";
        if (std::string(c.element) == "runas-group") rule += std::string("<runas-group>") + c.value + "</runas-group>";
        if (std::string(c.element) == "user") rule = std::string("<user>") + c.value + "</user><host>ALL</host>";
        rule += std::string("<command>") + (std::string(c.element) == "command" ? c.value : "/bin/x") + "</command>";
        Error error = refusal("<policy type=\"sudo\" version=\"1\"><rule name=\"r\">" + rule + "</rule></policy>");
        if (!contains(error.message, std::string("(element ") + c.element + " in rule 'r')")) {
            fail_msg("%s '%s': %s", c.element, c.value, error.message.c_str());
        }
    }
}

void ids_and_special_principals_are_accepted(void **)
{
    auto schema = test::sudo_schema();
    auto doc = read_valid_document(
        "<policy type=\"sudo\" version=\"1\"><rule name=\"r\"><user>#1000</user><user>%#1000</user>"
        "<user>%:nonunix</user><user>+ng</user><user>!bob</user><host>!web*</host><host>10.0.0.0/8</host>"
        "<runas-user>+ng</runas-user><runas-group>#5</runas-group><runas-group>!adm</runas-group>"
        "<command>sudoedit /etc/a /etc/b</command><command>!ALL</command></rule></policy>",
        schema, "probe");
    if (!doc) fail_msg("%s", doc.error().message.c_str());
}

void oversized_document_is_refused_before_parsing(void **)
{
    std::string huge(max_document_bytes + 1, ' ');
    assert_refused_with(huge, "larger than the limit");
}

void schema_that_includes_a_network_resource_is_refused(void **)
{
    test::TempDir dir;
    test::write_file(dir / "bad.rng",
                     "<grammar xmlns=\"http://relaxng.org/ns/structure/1.0\">"
                     "<include href=\"http://127.0.0.1:9/other.rng\"/><start><element name=\"x\"><empty/></element></start></grammar>");
    auto schema = Schema::load(dir / "bad.rng");
    assert_false(schema.ok());
    assert_true(contains(schema.error().message, "not a usable Relax NG schema"));
}

void missing_schema_file_is_not_found(void **)
{
    auto schema = Schema::load("/nonexistent/sudo.rng");
    assert_false(schema.ok());
    assert_int_equal(static_cast<int>(schema.error().code), static_cast<int>(Errc::not_found));
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(contrib_examples_are_valid),
        cmocka_unit_test(malformed_xml_is_refused_with_its_line),
        cmocka_unit_test(empty_input_is_refused),
        cmocka_unit_test(doctype_declaring_entities_is_refused),
        cmocka_unit_test(doctype_without_entities_is_refused),
        cmocka_unit_test(doctype_naming_a_network_dtd_is_refused),
        cmocka_unit_test(external_entity_reading_a_file_is_refused),
        cmocka_unit_test(undeclared_entity_is_refused),
        cmocka_unit_test(xinclude_is_not_processed_and_fails_the_schema),
        cmocka_unit_test(rule_without_command_fails_the_schema_naming_the_element),
        cmocka_unit_test(wrong_type_fails_the_schema),
        cmocka_unit_test(command_needing_sudoers_escapes_is_refused),
        cmocka_unit_test(relative_command_is_refused),
        cmocka_unit_test(newline_in_a_rule_name_is_refused),
        cmocka_unit_test(user_with_a_space_is_refused),
        cmocka_unit_test(values_sudoers_would_reject_are_refused),
        cmocka_unit_test(ids_and_special_principals_are_accepted),
        cmocka_unit_test(oversized_document_is_refused_before_parsing),
        cmocka_unit_test(schema_that_includes_a_network_resource_is_refused),
        cmocka_unit_test(missing_schema_file_is_not_found),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
