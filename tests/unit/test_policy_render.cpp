// The render child turns a merged policy into sudoers with the shipped
// template, and refuses any template that reads, writes or fetches.
#include "policy_common.hpp"
#include "policy/render.hpp"

using namespace vigil;
using namespace vigil::policy;
using test::contains;

namespace {

const char *one_rule =
    "<policy type=\"sudo\" version=\"1\"><rule name=\"web deploy\" source=\"web\" priority=\"50\">"
    "<user>%webdev</user><user>alice</user><host>ALL</host><runas-user>www-data</runas-user>"
    "<not-after>20991231235959Z</not-after><tag>NOPASSWD</tag>"
    "<option name=\"env_keep\" op=\"+=\" value=\"A B\"/><command>/usr/bin/deploy</command>"
    "<command>!/bin/sh</command></rule></policy>";

RenderRequest request_with(const std::string &template_path)
{
    return RenderRequest{test::render_program(), template_path, test::sudo_schema_path(), ChildLimits{}};
}

Result<std::string> render_with_template(const std::string &xsl, const std::string &input = one_rule)
{
    test::TempDir dir;
    test::write_file(dir / "t.xsl", xsl);
    return render_in_child(request_with(dir / "t.xsl"), input);
}

std::string stylesheet(const std::string &body, const std::string &namespaces = "")
{
    return "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\"" + namespaces +
           "><xsl:output method=\"text\"/><xsl:template match=\"/\">" + body + "</xsl:template></xsl:stylesheet>";
}

void assert_refused(const Result<std::string> &rendered, const std::string &expected)
{
    if (rendered) fail_msg("template was not refused; it rendered '%s'", rendered->c_str());
    if (!contains(rendered.error().message, expected)) {
        fail_msg("error '%s' lacks '%s'", rendered.error().message.c_str(), expected.c_str());
    }
}

void shipped_template_renders_one_rule_as_sudoers(void **)
{
    auto rendered = render_in_child(request_with(test::sudo_template_path()), one_rule);
    if (!rendered) fail_msg("%s", rendered.error().message.c_str());
    const std::string expected_tail =
        "\n# web deploy (policy web, priority 50)\n"
        "Defaults:%webdev, alice env_keep+=\"A B\"\n"
        "%webdev, alice ALL = (www-data) NOTAFTER=20991231235959Z NOPASSWD: /usr/bin/deploy, "
        "(www-data) NOTAFTER=20991231235959Z NOPASSWD: !/bin/sh\n";
    if (rendered->size() < expected_tail.size() ||
        rendered->compare(rendered->size() - expected_tail.size(), expected_tail.size(), expected_tail) != 0) {
        fail_msg("rendered:\n%s", rendered->c_str());
    }
    assert_true(rendered->starts_with("# Written by vigil_policy"));
}

void rules_are_rendered_in_document_order(void **)
{
    auto rendered = render_in_child(request_with(test::sudo_template_path()), test::sudo_policy({"zed", "amy", "kim"}));
    assert_true(rendered.ok());
    auto zed = rendered->find("zed ALL = /bin/zed"), amy = rendered->find("amy ALL = /bin/amy"),
         kim = rendered->find("kim ALL = /bin/kim");
    assert_true(zed != std::string::npos && amy != std::string::npos && kim != std::string::npos);
    assert_true(zed < amy && amy < kim);
}

void runas_group_only_is_written_with_a_colon(void **)
{
    auto rendered = render_in_child(request_with(test::sudo_template_path()),
                                    "<policy type=\"sudo\" version=\"1\"><rule name=\"r\"><user>u</user><host>ALL</host>"
                                    "<runas-group>adm</runas-group><command>/bin/x</command></rule></policy>");
    assert_true(rendered.ok());
    assert_true(contains(*rendered, "u ALL = ( : adm) /bin/x\n"));
}

void input_that_fails_the_schema_is_refused_by_the_child(void **)
{
    auto rendered = render_in_child(request_with(test::sudo_template_path()),
                                    "<policy type=\"sudo\" version=\"1\"><rule name=\"r\"/></policy>");
    assert_refused(rendered, "does not match the policy schema");
}

void document_reading_a_local_file_is_refused(void **)
{
    assert_refused(render_with_template(stylesheet("<xsl:value-of select=\"document('/etc/passwd')\"/>")),
                   "template tried to access '/etc/passwd': refused");
}

void document_reading_a_network_url_is_refused(void **)
{
    assert_refused(render_with_template(stylesheet("<xsl:value-of select=\"document('http://127.0.0.1:9/x.xml')\"/>")),
                   "template tried to access 'http://127.0.0.1:9/x.xml': refused");
}

void include_of_another_file_is_refused(void **)
{
    test::TempDir dir;
    test::write_file(dir / "other.xsl", stylesheet("other"));
    std::string xsl = "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">"
                      "<xsl:include href=\"" + (dir / "other.xsl") + "\"/></xsl:stylesheet>";
    assert_refused(render_with_template(xsl), "is not usable");
}

void writing_a_file_with_exsl_document_is_refused(void **)
{
    test::TempDir dir;
    std::string target = dir / "written";
    auto rendered = render_with_template(
        stylesheet("<exsl:document href=\"" + target + "\" method=\"text\">owned</exsl:document>",
                   " xmlns:exsl=\"http://exslt.org/common\" extension-element-prefixes=\"exsl\""));
    assert_refused(rendered, "failed");
    struct stat st;
    assert_int_not_equal(stat(target.c_str(), &st), 0);
}

void writing_a_file_with_xsl_document_is_refused(void **)
{
    test::TempDir dir;
    std::string target = dir / "made/written";
    std::string xsl = "<xsl:stylesheet version=\"1.1\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">"
                      "<xsl:output method=\"text\"/><xsl:template match=\"/\"><xsl:document href=\"" + target +
                      "\" method=\"text\">owned</xsl:document></xsl:template></xsl:stylesheet>";
    assert_refused(render_with_template(xsl), "template tried to access '" + target + "': refused");
    assert_false(std::ifstream(dir / "made").good());
}

void terminating_message_fails_the_render(void **)
{
    assert_refused(render_with_template(stylesheet("<xsl:message terminate=\"yes\">stop</xsl:message>")), "failed");
}

void any_message_from_the_template_fails_the_render(void **)
{
    assert_refused(render_with_template(stylesheet("<xsl:message>just saying</xsl:message>text")), "just saying");
}

void unknown_function_fails_the_render(void **)
{
    assert_refused(render_with_template(stylesheet("<xsl:value-of select=\"no-such-function()\"/>")), "failed");
}

void malformed_template_is_refused(void **)
{
    assert_refused(render_with_template("<xsl:stylesheet version=\"1.0\""), "malformed XML");
}

void template_with_a_doctype_is_refused(void **)
{
    assert_refused(render_with_template("<!DOCTYPE x [<!ENTITY e SYSTEM \"/etc/passwd\">]>" + stylesheet("&e;")),
                   "DOCTYPE is not allowed");
}

void missing_render_program_is_an_error(void **)
{
    RenderRequest request{"/nonexistent/vigil_policy_render", test::sudo_template_path(), test::sudo_schema_path(), {}};
    auto rendered = render_in_child(request, one_rule);
    assert_refused(rendered, "exit status 127");
}

void child_that_overruns_its_time_is_killed(void **)
{
    ChildLimits limits;
    limits.timeout = std::chrono::milliseconds(200);
    auto started = std::chrono::steady_clock::now();
    auto outcome = run_child({"/bin/sleep", "10"}, {}, limits);
    assert_false(outcome.ok());
    assert_int_equal(static_cast<int>(outcome.error().code), static_cast<int>(Errc::timeout));
    assert_true(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
}

void child_output_beyond_the_limit_is_refused(void **)
{
    ChildLimits limits;
    limits.max_output = 1000;
    auto outcome = run_child({"/bin/cat"}, std::string(5000, 'x'), limits);
    assert_false(outcome.ok());
    assert_true(contains(outcome.error().message, "wrote more than 1000 bytes"));
}

void child_input_larger_than_a_pipe_round_trips(void **)
{
    std::string big(1 << 20, 'y');
    auto outcome = run_child({"/bin/cat"}, big, ChildLimits{});
    assert_true(outcome.ok());
    assert_true(outcome->out == big);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_template_renders_one_rule_as_sudoers),
        cmocka_unit_test(rules_are_rendered_in_document_order),
        cmocka_unit_test(runas_group_only_is_written_with_a_colon),
        cmocka_unit_test(input_that_fails_the_schema_is_refused_by_the_child),
        cmocka_unit_test(document_reading_a_local_file_is_refused),
        cmocka_unit_test(document_reading_a_network_url_is_refused),
        cmocka_unit_test(include_of_another_file_is_refused),
        cmocka_unit_test(writing_a_file_with_exsl_document_is_refused),
        cmocka_unit_test(writing_a_file_with_xsl_document_is_refused),
        cmocka_unit_test(terminating_message_fails_the_render),
        cmocka_unit_test(any_message_from_the_template_fails_the_render),
        cmocka_unit_test(unknown_function_fails_the_render),
        cmocka_unit_test(malformed_template_is_refused),
        cmocka_unit_test(template_with_a_doctype_is_refused),
        cmocka_unit_test(missing_render_program_is_an_error),
        cmocka_unit_test(child_that_overruns_its_time_is_killed),
        cmocka_unit_test(child_output_beyond_the_limit_is_refused),
        cmocka_unit_test(child_input_larger_than_a_pipe_round_trips),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
