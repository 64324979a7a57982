// The service skeleton: options, start-up, signals, reload, pid file.
#include "common.hpp"
#include "util/confdb.hpp"
#include "util/log.hpp"
#include "util/pidfile.hpp"
#include "util/service.hpp"

#include <csignal>
#include <vector>

using vigil::Service;
using vigil::ServiceInfo;
using vigil::ServiceOptions;

namespace {

const ServiceInfo monitor_info{.name = "vigild", .section = "vigil", .summary = "test", .is_monitor = true};
const ServiceInfo nss_info{.name = "vigil_nss", .section = "nss", .summary = "test"};
const ServiceInfo be_info{.name = "vigil_be", .section = "domain", .summary = "test", .needs_domain = true};

int parse(const ServiceInfo &info, std::vector<const char *> args, ServiceOptions &out)
{
    args.insert(args.begin(), info.name);
    args.push_back(nullptr);
    return vigil::parse_service_options(info, static_cast<int>(args.size() - 1), const_cast<char **>(args.data()), out);
}

void options_are_parsed(void **)
{
    ServiceOptions o;
    assert_int_equal(parse(be_info, {"-c", "/x.conf", "-d", "7", "-i", "--logger=files", "--domain", "LDAP"}, o), -1);
    assert_string_equal(o.config_path.c_str(), "/x.conf");
    assert_int_equal(o.debug_level, 7);
    assert_true(o.interactive);
    assert_int_equal(static_cast<int>(o.logger), static_cast<int>(vigil::LoggerKind::files));
    assert_string_equal(o.domain.c_str(), "LDAP");
}

void bad_options_are_usage_errors(void **)
{
    ServiceOptions o;
    assert_int_equal(parse(nss_info, {"-d", "10"}, o), 2);
    assert_int_equal(parse(nss_info, {"--debug-level=x"}, o), 2);
    assert_int_equal(parse(nss_info, {"--logger=syslog"}, o), 2);
    assert_int_equal(parse(nss_info, {"--bogus"}, o), 2);
    assert_int_equal(parse(nss_info, {"-c"}, o), 2);
    assert_int_equal(parse(nss_info, {"extra"}, o), 2);
    assert_int_equal(parse(nss_info, {"--domain", "x"}, o), 2);
    assert_int_equal(parse(be_info, {}, o), 2); // --domain is required
}

void help_and_version_exit_zero(void **)
{
    ServiceOptions o;
    assert_int_equal(parse(nss_info, {"--help"}, o), 0);
    assert_int_equal(parse(nss_info, {"-V"}, o), 0);
}

struct Setup {
    test::TempDir dir;
    std::string conf = dir / "vigil.conf";
    Setup(const std::string &extra = "")
    {
        test::write_file(conf, config_text(extra));
    }
    std::string config_text(const std::string &extra) const
    {
        return "[vigil]\ndomains = LDAP\nstate_dir = " + (dir / "state") + "\nrun_dir = " + (dir / "run") +
               "\nlog_dir = " + (dir / "log") + "\n" + extra +
               "[domain/LDAP]\nid_provider = ldap\nldap_uri = ldap://127.0.0.1\n";
    }
    ServiceOptions options(const std::string &domain = "") const
    {
        ServiceOptions o;
        o.config_path = conf;
        o.interactive = true;
        o.logger = vigil::LoggerKind::stderr_only;
        o.domain = domain;
        return o;
    }
};

bool exists(const std::string &path)
{
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

// A safety net: no test loop runs for ever.
vigil::Timer guard(Service &svc)
{
    return svc.loop().after(std::chrono::seconds(10), [&svc] { svc.stop(99); });
}

void monitor_starts_stores_config_and_stops_on_sigterm(void **)
{
    Setup s;
    unsetenv("_VIGIL_LOOPS");
    {
        Service svc(monitor_info, s.options());
        auto st = svc.start();
        if (!st) print_error("%s\n", st.error().message.c_str());
        assert_true(st.ok());
        assert_non_null(getenv("_VIGIL_LOOPS"));
        assert_string_equal(getenv("_VIGIL_LOOPS"), "NO");
        assert_true(exists(s.dir / "state/db/config.ldb"));
        assert_true(exists(s.dir / "run/vigild.pid"));
        assert_int_equal(vigil::PidFile::read_pid(s.dir / "run/vigild.pid"), getpid());
        bool stop_hook_ran = false;
        svc.on_stop([&] { stop_hook_ran = true; });
        vigil::Timer g = guard(svc);
        raise(SIGTERM);
        assert_int_equal(svc.run(), 0);
        assert_true(stop_hook_ran);
    }
    assert_false(exists(s.dir / "run/vigild.pid"));
}

void second_monitor_is_refused(void **)
{
    Setup s;
    Service first(monitor_info, s.options());
    assert_true(first.start().ok());
    Service second(monitor_info, s.options());
    auto st = second.start();
    assert_false(st.ok());
    assert_int_equal(static_cast<int>(st.error().code), static_cast<int>(vigil::Errc::exists));
    assert_non_null(strstr(st.error().message.c_str(), "another instance is running"));
}

void sighup_with_bad_config_keeps_the_old_one(void **)
{
    Setup s("debug_level = 3\n");
    Service svc(monitor_info, s.options());
    assert_true(svc.start().ok());
    int reloads = 0;
    svc.on_reload([&]() -> vigil::Status { ++reloads; return {}; });
    vigil::Timer g = guard(svc);

    // A bad file: refused, the running config and confdb unchanged. (No
    // cmocka assert inside a loop callback: its longjmp would cross tevent.)
    test::write_file(s.conf, s.config_text("debug_level = 3\nbogus = 1\n"));
    raise(SIGHUP);
    int reloads_after_bad = -1;
    std::int64_t level_after_bad = -1;
    vigil::Timer after_bad = svc.loop().after(std::chrono::milliseconds(50), [&] {
        reloads_after_bad = reloads;
        level_after_bad = svc.config().get_int("vigil", "debug_level");
        // A good file: taken, stored, and the reload hook runs.
        test::write_file(s.conf, s.config_text("debug_level = 5\n"));
        raise(SIGHUP);
    });
    vigil::Timer after_good = svc.loop().after(std::chrono::milliseconds(150), [&] { raise(SIGTERM); });
    assert_int_equal(svc.run(), 0);
    assert_int_equal(reloads_after_bad, 0);
    assert_int_equal(level_after_bad, 3);
    assert_int_equal(reloads, 1);
    assert_int_equal(svc.config().get_int("vigil", "debug_level"), 5);
    auto stored = vigil::Confdb::open(s.dir / "state/db/config.ldb", vigil::Ldb::Mode::read_only);
    assert_true(stored.ok());
    assert_int_equal(stored->read()->get_int("vigil", "debug_level"), 5);
}

void service_reads_confdb_written_by_monitor(void **)
{
    Setup s("[nss]\nentry_negative_timeout = 42\n");
    Service monitor(monitor_info, s.options());
    assert_true(monitor.start().ok());
    // Even a file changed afterwards is not seen: services read confdb only.
    test::write_file(s.conf, s.config_text("[nss]\nentry_negative_timeout = 7\n"));
    ServiceOptions o = s.options();
    o.confdb_path = s.dir / "state/db/config.ldb";
    Service nss(nss_info, o);
    assert_true(nss.start().ok());
    assert_int_equal(nss.config().get_int("nss", "entry_negative_timeout"), 42);
}

void provider_for_unknown_domain_is_refused(void **)
{
    Setup s;
    Service monitor(monitor_info, s.options());
    assert_true(monitor.start().ok());
    Service be(be_info, s.options("OTHER"));
    auto st = be.start();
    assert_false(st.ok());
    assert_string_equal(st.error().message.c_str(), "domain 'OTHER' is not in [vigil] domains");
    Service good(be_info, s.options("LDAP"));
    assert_true(good.start().ok());
    assert_string_equal(good.section().c_str(), "domain/LDAP");
}

void service_without_confdb_says_so(void **)
{
    Setup s;
    Service nss(nss_info, s.options());
    auto st = nss.start();
    assert_false(st.ok());
    assert_non_null(strstr(st.error().message.c_str(), "(is vigild running?)"));
}

void log_file_goes_to_log_dir(void **)
{
    Setup s;
    ServiceOptions o = s.options();
    o.logger = vigil::LoggerKind::files;
    o.debug_level = 4;
    {
        Service svc(monitor_info, o);
        assert_true(svc.start().ok());
        vigil::Timer g = guard(svc);
        raise(SIGTERM);
        assert_int_equal(svc.run(), 0);
    }
    vigil::log::to_stderr();
    std::ifstream in(s.dir / "log/vigild.log");
    std::stringstream text;
    text << in.rdbuf();
    assert_non_null(strstr(text.str().c_str(), "vigild started"));
    assert_non_null(strstr(text.str().c_str(), "received SIGTERM, stopping"));
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_are_parsed),
        cmocka_unit_test(bad_options_are_usage_errors),
        cmocka_unit_test(help_and_version_exit_zero),
        cmocka_unit_test(monitor_starts_stores_config_and_stops_on_sigterm),
        cmocka_unit_test(second_monitor_is_refused),
        cmocka_unit_test(sighup_with_bad_config_keeps_the_old_one),
        cmocka_unit_test(service_reads_confdb_written_by_monitor),
        cmocka_unit_test(provider_for_unknown_domain_is_refused),
        cmocka_unit_test(service_without_confdb_says_so),
        cmocka_unit_test(log_file_goes_to_log_dir),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
