// Logging: line format, runtime level, reopen after rotation, and secrets.
#include "common.hpp"
#include "util/log.hpp"
#include "util/secret.hpp"

#include <fstream>
#include <sstream>
#include <type_traits>

namespace {

std::string slurp(const std::string &path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A Secret cannot be passed through printf-style '...': g++ refuses a class
// that is not trivially copyable there, so a password cannot reach VLOG.
static_assert(!std::is_trivially_copyable_v<vigil::Secret>);

void line_names_process_pid_domain_level_and_function(void **)
{
    test::TempDir dir;
    vigil::log::set_identity("vigil_be", "LDAP");
    assert_true(vigil::log::to_file(dir / "be.log").ok());
    vigil::log::set_level(2);
    VLOG(error, "lost %d servers", 2);
    vigil::log::to_stderr();
    std::string text = slurp(dir / "be.log");
    std::string expected = " vigil_be[" + std::to_string(getpid()) + "] [LDAP] (error) line_names_process_pid_domain_level_and_function: lost 2 servers\n";
    assert_non_null(strstr(text.c_str(), expected.c_str()));
    assert_int_equal(text[4], '-'); // starts with the date: 2026-...
}

void level_changes_at_run_time(void **)
{
    test::TempDir dir;
    assert_true(vigil::log::to_file(dir / "l.log").ok());
    vigil::log::set_level(2);
    VLOG(trace, "hidden");
    vigil::log::set_level(6);
    VLOG(trace, "shown");
    vigil::log::set_level(42);
    assert_int_equal(vigil::log::level(), 9);
    vigil::log::set_level(-1);
    assert_int_equal(vigil::log::level(), 0);
    vigil::log::to_stderr();
    std::string text = slurp(dir / "l.log");
    assert_null(strstr(text.c_str(), "hidden"));
    assert_non_null(strstr(text.c_str(), "shown"));
}

void control_characters_cannot_forge_lines(void **)
{
    assert_string_equal(vigil::log::escape_controls("a\nb\tc\x7f").c_str(), "a\\x0ab\\x09c\\x7f");
    test::TempDir dir;
    assert_true(vigil::log::to_file(dir / "c.log").ok());
    vigil::log::set_level(2);
    VLOG(error, "user %s", "alice\n2026-01-01 fake line");
    vigil::log::to_stderr();
    std::string text = slurp(dir / "c.log");
    assert_int_equal(std::count(text.begin(), text.end(), '\n'), 1);
}

void reopen_follows_log_rotation(void **)
{
    test::TempDir dir;
    assert_true(vigil::log::to_file(dir / "r.log").ok());
    vigil::log::set_level(2);
    VLOG(error, "before");
    assert_int_equal(rename((dir / "r.log").c_str(), (dir / "r.log.1").c_str()), 0);
    assert_true(vigil::log::reopen().ok());
    VLOG(error, "after");
    vigil::log::to_stderr();
    assert_null(strstr(slurp(dir / "r.log").c_str(), "before"));
    assert_non_null(strstr(slurp(dir / "r.log").c_str(), "after"));
    assert_non_null(strstr(slurp(dir / "r.log.1").c_str(), "before"));
}

void unwritable_log_file_is_an_error(void **)
{
    auto st = vigil::log::to_file("/nonexistent-dir/x.log");
    assert_false(st.ok());
    assert_string_equal(st.error().message.c_str(), "open log file /nonexistent-dir/x.log: No such file or directory");
}

void secret_prints_redacted_and_wipes(void **)
{
    vigil::Secret s("hunter2");
    std::ostringstream os;
    os << s;
    assert_string_equal(os.str().c_str(), "***");
    assert_string_equal(s.reveal().c_str(), "hunter2");
    vigil::Secret moved(std::move(s));
    assert_true(s.empty());
    assert_string_equal(moved.reveal().c_str(), "hunter2");
    moved.wipe();
    assert_true(moved.empty());
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_names_process_pid_domain_level_and_function),
        cmocka_unit_test(level_changes_at_run_time),
        cmocka_unit_test(control_characters_cannot_forge_lines),
        cmocka_unit_test(reopen_follows_log_rotation),
        cmocka_unit_test(unwritable_log_file_is_an_error),
        cmocka_unit_test(secret_prints_redacted_and_wipes),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
