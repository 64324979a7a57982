// Installing keeps the original first, never leaves a half-written or
// unchecked file in place, and rollback restores the original byte for byte
// (or removes our file when there was none).
#include "policy_common.hpp"
#include "policy/install.hpp"

#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/xattr.h>

using namespace vigil;
using namespace vigil::policy;
using test::contains;

namespace {

const char *visudo = "/usr/sbin/visudo";

InstallTarget target_in(const test::TempDir &dir, std::vector<std::string> check = {})
{
    ::mkdir((dir / "sudoers.d").c_str(), 0755);
    InstallTarget target;
    target.path = dir / "sudoers.d/vigil";
    target.backup_dir = dir / "state/policy/backup";
    target.forbidden_name_chars = ".~";
    target.check_command = std::move(check);
    return target;
}

PolicyInstaller installer_for(InstallTarget target)
{
    auto installer = PolicyInstaller::create(std::move(target));
    if (!installer) fail_msg("%s", installer.error().message.c_str());
    return std::move(*installer);
}

bool exists(const std::string &path)
{
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

void install_writes_the_file_with_mode_0440(void **)
{
    test::TempDir dir;
    auto installer = installer_for(target_in(dir));
    auto installed = installer.install("alice ALL = /bin/true\n");
    assert_true(installed.ok());
    assert_int_equal(static_cast<int>(*installed), static_cast<int>(InstallOutcome::installed));
    assert_string_equal(test::read_file(dir / "sudoers.d/vigil").c_str(), "alice ALL = /bin/true\n");
    struct stat st;
    assert_int_equal(stat((dir / "sudoers.d/vigil").c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0440);
    if (geteuid() == 0) assert_true(st.st_uid == 0 && st.st_gid == 0);
}

void rollback_restores_the_original_byte_for_byte(void **)
{
    test::TempDir dir;
    auto target = target_in(dir);
    const std::string original("# local\0binary\xff tail without newline", 36);
    test::write_file(target.path, original, 0640);
    auto installer = installer_for(target);
    assert_true(installer.install("first\n").ok());
    assert_true(installer.install("second\n").ok());
    assert_true(installer.has_original());
    assert_true(installer.rollback().ok());
    assert_true(test::read_file(target.path) == original);
    struct stat st;
    assert_int_equal(stat(target.path.c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_false(installer.has_original());
}

void rollback_removes_our_file_when_there_was_none(void **)
{
    test::TempDir dir;
    auto installer = installer_for(target_in(dir));
    assert_true(installer.install("x ALL = /bin/x\n").ok());
    assert_true(installer.rollback().ok());
    assert_false(exists(dir / "sudoers.d/vigil"));
    assert_true(test::dir_entries(dir / "sudoers.d").empty());
}

void rollback_without_an_original_is_not_found(void **)
{
    test::TempDir dir;
    auto installer = installer_for(target_in(dir));
    auto rolled = installer.rollback();
    assert_false(rolled.ok());
    assert_int_equal(static_cast<int>(rolled.error().code), static_cast<int>(Errc::not_found));
}

void original_is_kept_only_before_the_first_change(void **)
{
    test::TempDir dir;
    auto target = target_in(dir);
    test::write_file(target.path, "original\n", 0440);
    auto installer = installer_for(target);
    assert_true(installer.install("ours 1\n").ok());
    assert_true(installer.install("ours 2\n").ok());
    assert_true(installer.rollback().ok());
    assert_string_equal(test::read_file(target.path).c_str(), "original\n");
}

void refused_check_leaves_the_installed_file_untouched(void **)
{
    test::TempDir dir;
    auto target = target_in(dir, {"/bin/false"});
    test::write_file(target.path, "installed\n", 0440);
    auto installer = installer_for(target);
    auto installed = installer.install("rejected\n");
    assert_false(installed.ok());
    assert_true(contains(installed.error().message, "refused the new content"));
    assert_true(contains(installed.error().message, "nothing was installed"));
    assert_string_equal(test::read_file(target.path).c_str(), "installed\n");
    assert_true(test::dir_entries(dir / "sudoers.d") == std::vector<std::string>{"vigil"});  // no temp file left
}

void visudo_rejects_broken_sudoers_and_nothing_changes(void **)
{
    if (!exists(visudo)) skip();
    test::TempDir dir;
    auto target = target_in(dir, {visudo, "-cf"});
    auto installer = installer_for(target);
    assert_true(installer.install("alice ALL = /bin/true\n").ok());
    auto installed = installer.install("alice ALL = (root /bin/true\n");
    assert_false(installed.ok());
    assert_true(contains(installed.error().message, "visudo refused the new content"));
    assert_string_equal(test::read_file(target.path).c_str(), "alice ALL = /bin/true\n");
    assert_true(test::dir_entries(dir / "sudoers.d") == std::vector<std::string>{"vigil"});
}

// A full disk, simulated: RLIMIT_FSIZE (with SIGXFSZ ignored) makes the
// write fail with EFBIG halfway through, in a child so the limit stays there.
void write_failing_halfway_leaves_the_installed_file_untouched(void **)
{
    test::TempDir dir;
    auto target = target_in(dir);
    test::write_file(target.path, "installed\n", 0440);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {4096, 4096};
        if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(3);
        auto installer = PolicyInstaller::create(target);
        if (!installer) _exit(4);
        auto installed = installer->install(std::string(100000, 'x'));
        _exit(installed.ok() ? 1 : contains(installed.error().message, "File too large") ? 0 : 2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(test::read_file(target.path).c_str(), "installed\n");
    assert_true(test::dir_entries(dir / "sudoers.d") == std::vector<std::string>{"vigil"});
}

void unchanged_content_is_not_rewritten(void **)
{
    test::TempDir dir;
    auto installer = installer_for(target_in(dir));
    assert_true(installer.install("same\n").ok());
    struct stat before, after;
    assert_int_equal(stat((dir / "sudoers.d/vigil").c_str(), &before), 0);
    auto again = installer.install("same\n");
    assert_true(again.ok());
    assert_int_equal(static_cast<int>(*again), static_cast<int>(InstallOutcome::unchanged));
    assert_int_equal(stat((dir / "sudoers.d/vigil").c_str(), &after), 0);
    assert_true(before.st_ino == after.st_ino);
}

void file_names_sudo_would_skip_are_refused(void **)
{
    test::TempDir dir;
    for (const char *name : {"vigil.conf", "vigil~", "/"}) {
        auto target = target_in(dir);
        target.path = (dir / "sudoers.d/") + name;
        auto installer = PolicyInstaller::create(target);
        assert_false(installer.ok());
        assert_int_equal(static_cast<int>(installer.error().code), static_cast<int>(Errc::invalid_config));
    }
}

void target_that_is_a_symlink_is_not_replaced(void **)
{
    test::TempDir dir;
    auto target = target_in(dir);
    test::write_file(dir / "elsewhere", "keep\n");
    assert_int_equal(symlink((dir / "elsewhere").c_str(), target.path.c_str()), 0);
    auto installer = installer_for(target);
    for (const char *content : {"ours\n", "keep\n"}) {  // also when the content is the same
        auto installed = installer.install(content);
        assert_false(installed.ok());
        assert_true(contains(installed.error().message, "not a regular file"));
    }
    assert_string_equal(test::read_file(dir / "elsewhere").c_str(), "keep\n");
    assert_false(installer.has_original());
}

void missing_target_directory_is_an_error_and_keeps_nothing_half_done(void **)
{
    test::TempDir dir;
    auto target = target_in(dir);
    target.path = dir / "absent/vigil";
    auto installer = installer_for(target);
    auto installed = installer.install("x\n");
    assert_false(installed.ok());
    assert_false(exists(dir / "absent"));
}

std::string label_of(const std::string &path, const char *xattr)
{
    char value[256];
    ssize_t n = ::lgetxattr(path.c_str(), xattr, value, sizeof value);
    return n < 0 ? std::string("(none)") : std::string(value, static_cast<std::size_t>(n));
}

// The SELinux label of the replaced file stays on its replacement (and on
// the restored original). A user.* attribute stands in for security.selinux,
// which only an SELinux host lets a test set.
void install_and_rollback_keep_the_replaced_files_label(void **)
{
    test::TempDir dir;
    auto target = target_in(dir);
    target.label_xattr = "user.vigil_test_label";
    test::write_file(target.path, "local\n", 0440);
    const std::string label = "system_u:object_r:etc_t:s0";
    if (::setxattr(target.path.c_str(), "user.vigil_test_label", label.data(), label.size(), 0) != 0) {
        skip(); // a file system without user attributes
    }
    auto installer = installer_for(target);
    auto installed = installer.install("ours\n");
    assert_true(installed.ok());
    assert_string_equal(test::read_file(target.path).c_str(), "ours\n");
    assert_string_equal(label_of(target.path, "user.vigil_test_label").c_str(), label.c_str());
    assert_true(installer.rollback().ok());
    assert_string_equal(test::read_file(target.path).c_str(), "local\n");
    assert_string_equal(label_of(target.path, "user.vigil_test_label").c_str(), label.c_str());
    // A new file (nothing replaced) gets no label of ours.
    auto other = target_in(dir);
    other.path = dir / "sudoers.d/fresh";
    other.label_xattr = "user.vigil_test_label";
    auto fresh = installer_for(other);
    assert_true(fresh.install("new\n").ok());
    assert_string_equal(label_of(other.path, "user.vigil_test_label").c_str(), "(none)");
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(install_writes_the_file_with_mode_0440),
        cmocka_unit_test(rollback_restores_the_original_byte_for_byte),
        cmocka_unit_test(rollback_removes_our_file_when_there_was_none),
        cmocka_unit_test(rollback_without_an_original_is_not_found),
        cmocka_unit_test(original_is_kept_only_before_the_first_change),
        cmocka_unit_test(refused_check_leaves_the_installed_file_untouched),
        cmocka_unit_test(visudo_rejects_broken_sudoers_and_nothing_changes),
        cmocka_unit_test(write_failing_halfway_leaves_the_installed_file_untouched),
        cmocka_unit_test(unchanged_content_is_not_rewritten),
        cmocka_unit_test(file_names_sudo_would_skip_are_refused),
        cmocka_unit_test(target_that_is_a_symlink_is_not_replaced),
        cmocka_unit_test(missing_target_directory_is_an_error_and_keeps_nothing_half_done),
        cmocka_unit_test(install_and_rollback_keep_the_replaced_files_label),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
