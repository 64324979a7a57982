// The INI reader: what it accepts and, for every refusal, the exact message.
#include "common.hpp"
#include "util/ini.hpp"

#include <vector>

using vigil::IniFile;
using vigil::Problem;

namespace {

struct Parsed {
    IniFile file;
    std::vector<Problem> problems;
};

Parsed parse(const std::string &text)
{
    Parsed p;
    p.file = vigil::parse_ini(text, "t.conf", p.problems);
    return p;
}

// Asserts exactly one problem, at `line`, saying `message`.
void expect_problem(const std::string &text, int line, const char *message)
{
    Parsed p = parse(text);
    if (p.problems.size() != 1) {
        for (const Problem &pr : p.problems) print_error("problem: %s\n", pr.to_string().c_str());
    }
    assert_int_equal(p.problems.size(), 1);
    assert_int_equal(p.problems[0].line, line);
    assert_string_equal(p.problems[0].message.c_str(), message);
}

void sections_options_and_comments_are_read(void **)
{
    Parsed p = parse("# comment\n; another\n\n[vigil]\n  domains = a, b  \n"
                     "[domain/a]\r\nldap_uri=ldap://x\r\nldap_default_authtok = pa#ss;word\n");
    assert_int_equal(p.problems.size(), 0);
    assert_int_equal(p.file.sections.size(), 2);
    assert_string_equal(p.file.sections[0].name.c_str(), "vigil");
    assert_int_equal(p.file.sections[0].line, 4);
    assert_string_equal(p.file.sections[0].entries[0].key.c_str(), "domains");
    assert_string_equal(p.file.sections[0].entries[0].value.c_str(), "a, b");
    assert_int_equal(p.file.sections[0].entries[0].line, 5);
    assert_string_equal(p.file.sections[1].name.c_str(), "domain/a");
    assert_string_equal(p.file.sections[1].entries[0].value.c_str(), "ldap://x");
    // '#' and ';' inside a value are part of it: passwords contain them.
    assert_string_equal(p.file.sections[1].entries[1].value.c_str(), "pa#ss;word");
}

void empty_value_is_kept(void **)
{
    Parsed p = parse("[nss]\nfilter_users =\n");
    assert_int_equal(p.problems.size(), 0);
    assert_string_equal(p.file.sections[0].entries[0].value.c_str(), "");
}

void comment_after_section_header_is_allowed(void **)
{
    Parsed p = parse("[nss] # the responder\n");
    assert_int_equal(p.problems.size(), 0);
    assert_string_equal(p.file.sections[0].name.c_str(), "nss");
}

void long_line_is_refused(void **)
{
    expect_problem("[nss]\nfilter_users = " + std::string(4100, 'a') + "\n", 2, "line is longer than 4096 bytes");
}

void nul_byte_is_refused(void **)
{
    expect_problem(std::string("[nss]\nfilter_users = a\0b\n", 24), 2, "line contains a NUL byte");
}

void invalid_utf8_is_refused(void **)
{
    expect_problem("[nss]\nfilter_users = caf\xe9\n", 2, "line is not valid UTF-8");
}

void utf8_validator_rejects_overlong_and_surrogates(void **)
{
    assert_true(vigil::is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    assert_false(vigil::is_valid_utf8("\xc0\xaf"));         // overlong '/'
    assert_false(vigil::is_valid_utf8("\xed\xa0\x80"));     // UTF-16 surrogate
    assert_false(vigil::is_valid_utf8("\xf4\x90\x80\x80")); // past U+10FFFF
    assert_false(vigil::is_valid_utf8("\xe2\x82"));         // truncated
}

void header_without_closing_bracket_is_refused(void **)
{
    expect_problem("[nss\nfilter_users = a\n", 1, "section header is missing the closing ']'");
}

void text_after_header_is_refused(void **)
{
    expect_problem("[nss] x\n", 1, "unexpected text after section header: 'x'");
}

void empty_section_name_is_refused(void **)
{
    expect_problem("[ ]\n", 1, "empty section name");
}

void bad_section_name_is_refused(void **)
{
    expect_problem("[a b]\n", 1, "section name 'a b' may only hold letters, digits and . _ - /");
}

void repeated_section_is_refused(void **)
{
    expect_problem("[nss]\n[pam]\n[nss]\n", 3, "section [nss] appears twice in this file (first at line 1)");
}

void line_without_equals_is_refused(void **)
{
    expect_problem("[nss]\nfilter_users\n", 2, "expected 'key = value', a [section] header or a comment");
}

void empty_option_name_is_refused(void **)
{
    expect_problem("[nss]\n = x\n", 2, "option name is empty");
}

void bad_option_name_is_refused(void **)
{
    expect_problem("[nss]\nfilter-users = x\n", 2, "option name 'filter-users' may only hold letters, digits and _");
}

void option_before_any_section_is_refused(void **)
{
    expect_problem("domains = a\n[vigil]\n", 1, "option 'domains' is outside of any section");
}

void repeated_option_is_refused(void **)
{
    expect_problem("[nss]\nfilter_users = a\nfilter_users = b\n", 3,
                   "option 'filter_users' is set twice in [nss] (first at line 2)");
}

void options_under_a_broken_header_are_not_reported_again(void **)
{
    expect_problem("[a b]\nx = 1\ny = 2\n", 1, "section name 'a b' may only hold letters, digits and . _ - /");
}

void every_problem_in_a_file_is_reported(void **)
{
    Parsed p = parse("junk\n[nss\n[pam]\nx = 1\nx = 2\n");
    assert_int_equal(p.problems.size(), 3);
    assert_int_equal(p.problems[0].line, 1);
    assert_int_equal(p.problems[1].line, 2);
    assert_int_equal(p.problems[2].line, 5);
    assert_string_equal(p.problems[2].to_string().c_str(),
                        "t.conf:5: option 'x' is set twice in [pam] (first at line 4)");
}

std::vector<Problem> read_file(const std::string &path)
{
    std::vector<Problem> problems;
    vigil::read_ini_file(path, problems);
    return problems;
}

void missing_file_is_reported(void **)
{
    test::TempDir dir;
    auto problems = read_file(dir / "none.conf");
    assert_int_equal(problems.size(), 1);
    assert_string_equal(problems[0].to_string().c_str(),
                        (dir / "none.conf: cannot open: No such file or directory").c_str());
}

void directory_is_not_a_config_file(void **)
{
    test::TempDir dir;
    auto problems = read_file(dir.path());
    assert_int_equal(problems.size(), 1);
    assert_string_equal(problems[0].message.c_str(), "not a regular file");
}

void file_readable_by_others_is_refused(void **)
{
    test::TempDir dir;
    for (mode_t mode : {0644, 0640, 0602, 0620}) {
        test::write_file(dir / "v.conf", "[nss]\n", mode);
        auto problems = read_file(dir / "v.conf");
        assert_int_equal(problems.size(), 1);
        char expected[160];
        std::snprintf(expected, sizeof expected,
                      "group or others can read or write it (mode %04o): it may hold secrets; run chmod 0600 on it",
                      static_cast<unsigned>(mode));
        assert_string_equal(problems[0].message.c_str(), expected);
    }
    test::write_file(dir / "v.conf", "[nss]\n", 0400);
    assert_int_equal(read_file(dir / "v.conf").size(), 0);
}

void file_owned_by_another_user_is_refused(void **)
{
    if (geteuid() != 0) skip(); // only root can give a file away
    test::TempDir dir;
    test::write_file(dir / "v.conf", "[nss]\n");
    assert_int_equal(chown((dir / "v.conf").c_str(), 12345, 12345), 0);
    auto problems = read_file(dir / "v.conf");
    assert_int_equal(problems.size(), 1);
    assert_string_equal(problems[0].message.c_str(), "owned by uid 12345: it must be owned by root");
}

void huge_file_is_refused(void **)
{
    test::TempDir dir;
    test::write_file(dir / "v.conf", std::string(1024 * 1024 + 1, '#'));
    auto problems = read_file(dir / "v.conf");
    assert_int_equal(problems.size(), 1);
    assert_string_equal(problems[0].message.c_str(), "larger than 1 MiB: not a configuration file");
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sections_options_and_comments_are_read),
        cmocka_unit_test(empty_value_is_kept),
        cmocka_unit_test(comment_after_section_header_is_allowed),
        cmocka_unit_test(long_line_is_refused),
        cmocka_unit_test(nul_byte_is_refused),
        cmocka_unit_test(invalid_utf8_is_refused),
        cmocka_unit_test(utf8_validator_rejects_overlong_and_surrogates),
        cmocka_unit_test(header_without_closing_bracket_is_refused),
        cmocka_unit_test(text_after_header_is_refused),
        cmocka_unit_test(empty_section_name_is_refused),
        cmocka_unit_test(bad_section_name_is_refused),
        cmocka_unit_test(repeated_section_is_refused),
        cmocka_unit_test(line_without_equals_is_refused),
        cmocka_unit_test(empty_option_name_is_refused),
        cmocka_unit_test(bad_option_name_is_refused),
        cmocka_unit_test(option_before_any_section_is_refused),
        cmocka_unit_test(repeated_option_is_refused),
        cmocka_unit_test(options_under_a_broken_header_are_not_reported_again),
        cmocka_unit_test(every_problem_in_a_file_is_reported),
        cmocka_unit_test(missing_file_is_reported),
        cmocka_unit_test(directory_is_not_a_config_file),
        cmocka_unit_test(file_readable_by_others_is_refused),
        cmocka_unit_test(file_owned_by_another_user_is_refused),
        cmocka_unit_test(huge_file_is_refused),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
