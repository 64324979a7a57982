// Validation against the option table: defaults, conf.d merging, and the
// exact message of every refusal.
#include "common.hpp"
#include "util/config.hpp"

#include <vector>

using vigil::ConfigLoad;
using vigil::Problem;

namespace {

const std::string base = "[vigil]\ndomains = a\n[domain/a]\nid_provider = ldap\nldap_uri = ldap://127.0.0.1\n";

ConfigLoad validate(const std::string &text)
{
    std::vector<Problem> parse_problems;
    std::vector<vigil::IniFile> files{vigil::parse_ini(text, "v.conf", parse_problems)};
    assert_int_equal(parse_problems.size(), 0);
    return vigil::validate_config(files, "v.conf");
}

void expect_problem(const std::string &text, const char *expected)
{
    ConfigLoad load = validate(text);
    if (load.problems.size() != 1) {
        for (const Problem &p : load.problems) print_error("problem: %s\n", p.to_string().c_str());
    }
    assert_int_equal(load.problems.size(), 1);
    assert_string_equal(load.problems[0].to_string().c_str(), expected);
}

void minimal_config_is_valid_and_defaults_apply(void **)
{
    ConfigLoad load = validate(base);
    assert_true(load.ok());
    const vigil::Config &c = load.config;
    assert_int_equal(c.get_int("nss", "entry_negative_timeout"), 15);
    assert_int_equal(c.get_int("domain/a", "entry_cache_timeout"), 5400);
    assert_int_equal(c.get_int("domain/a", "min_id"), 1);
    assert_false(c.get_bool("domain/a", "cache_credentials"));
    assert_string_equal(c.get_string("domain/a", "ldap_schema").c_str(), "rfc2307");
    auto services = c.get_list("vigil", "services");
    assert_int_equal(services.size(), 2);
    assert_string_equal(services[1].c_str(), "pam");
    assert_false(c.is_set("nss", "entry_negative_timeout"));
}

void auth_and_chpass_providers_follow_id_provider(void **)
{
    ConfigLoad load = validate(base);
    assert_string_equal(load.config.get_string("domain/a", "auth_provider").c_str(), "ldap");
    assert_string_equal(load.config.get_string("domain/a", "chpass_provider").c_str(), "ldap");
    load = validate(base + "auth_provider = krb5\nkrb5_realm = EXAMPLE.COM\n");
    assert_true(load.ok());
    assert_string_equal(load.config.get_string("domain/a", "chpass_provider").c_str(), "krb5");
}

void set_values_are_typed(void **)
{
    ConfigLoad load = validate(base + "enumerate = YES\nmin_id = 1000\nmax_id = 0\n"
                                      "[nss]\nfilter_users = root, , daemon\n");
    assert_true(load.ok());
    assert_true(load.config.get_bool("domain/a", "enumerate"));
    assert_int_equal(load.config.get_int("domain/a", "min_id"), 1000);
    auto filtered = load.config.get_list("nss", "filter_users");
    assert_int_equal(filtered.size(), 2);
    assert_string_equal(filtered[1].c_str(), "daemon");
}

void unknown_section_is_refused(void **)
{
    expect_problem(base + "[foo]\n", "v.conf:6: unknown section [foo] (known: vigil, nss, pam, policy, ifp, domain/NAME)");
}

void unknown_option_is_refused(void **)
{
    expect_problem(base + "[nss]\nfoo = 1\n", "v.conf:7: unknown option 'foo' in [nss]");
}

void option_of_another_section_is_refused(void **)
{
    expect_problem(base + "[nss]\nldap_uri = ldap://x\n", "v.conf:7: unknown option 'ldap_uri' in [nss]");
}

void non_integer_is_refused(void **)
{
    expect_problem(base + "min_id = 10k\n", "v.conf:6: min_id: '10k' is not an integer");
}

void integer_out_of_range_is_refused(void **)
{
    expect_problem(base + "min_id = 0\n", "v.conf:6: min_id: 0 is out of range (1 to 4294967295)");
    expect_problem(base + "[nss]\nentry_cache_nowait_percentage = 100\n",
                   "v.conf:7: entry_cache_nowait_percentage: 100 is out of range (0 to 99)");
}

void bad_boolean_is_refused(void **)
{
    expect_problem(base + "enumerate = maybe\n", "v.conf:6: enumerate: 'maybe' is not a boolean (true or false)");
}

void bad_choice_is_refused(void **)
{
    expect_problem(base + "ldap_schema = ad\n", "v.conf:6: ldap_schema: 'ad' is not one of: rfc2307, rfc2307bis");
}

void unknown_service_is_refused(void **)
{
    expect_problem("[vigil]\nservices = nss, sudo\ndomains = a\n[domain/a]\nid_provider = ldap\nldap_uri = ldap://x\n",
                   "v.conf:2: services: 'sudo' is not one of: nss, pam, policy, ifp");
}

void service_listed_twice_is_refused(void **)
{
    expect_problem("[vigil]\nservices = nss, pam, nss\ndomains = a\n[domain/a]\nid_provider = ldap\nldap_uri = ldap://x\n",
                   "v.conf:2: services: 'nss' is listed twice");
}

void relative_path_is_refused(void **)
{
    expect_problem("[vigil]\nstate_dir = var/lib/vigil\n" + base.substr(8),
                   "v.conf:2: state_dir: 'var/lib/vigil' is not an absolute path");
}

void non_ldap_uri_is_refused(void **)
{
    expect_problem("[vigil]\ndomains = a\n[domain/a]\nid_provider = ldap\nldap_uri = ldaps://a, http://b\n",
                   "v.conf:5: ldap_uri: 'http://b' is not an ldap:// or ldaps:// URI");
    expect_problem("[vigil]\ndomains = a\n[domain/a]\nid_provider = ldap\nldap_uri = ,\n",
                   "v.conf:5: ldap_uri: no URI given");
}

void missing_vigil_section_is_refused(void **)
{
    expect_problem("[nss]\n", "v.conf: no [vigil] section");
}

void missing_domains_is_refused(void **)
{
    expect_problem("[vigil]\nservices = nss\n", "v.conf:1: [vigil] needs 'domains'");
}

void empty_domains_is_refused(void **)
{
    expect_problem("[vigil]\ndomains = ,\n", "v.conf:2: domains: name at least one domain");
}

void domain_listed_twice_is_refused(void **)
{
    expect_problem("[vigil]\ndomains = a, a\n" + base.substr(base.find("[domain")),
                   "v.conf:2: domains: 'a' is listed twice");
}

void listed_domain_without_section_is_refused(void **)
{
    expect_problem("[vigil]\ndomains = a, b\n" + base.substr(base.find("[domain")),
                   "v.conf:2: domains: no [domain/b] section for domain 'b'");
}

void domain_without_id_provider_is_refused(void **)
{
    expect_problem("[vigil]\ndomains = a\n[domain/a]\nldap_uri = ldap://x\n", "v.conf:3: [domain/a] needs 'id_provider'");
}

void ldap_domain_without_uri_is_refused(void **)
{
    expect_problem("[vigil]\ndomains = a\n[domain/a]\nid_provider = ldap\n",
                   "v.conf:3: [domain/a] needs 'ldap_uri' (id_provider = ldap)");
}

void krb5_without_realm_is_refused(void **)
{
    expect_problem(base + "auth_provider = krb5\n", "v.conf:3: [domain/a] needs 'krb5_realm' (auth_provider = krb5)");
}

void max_id_below_min_id_is_refused(void **)
{
    expect_problem(base + "min_id = 10\nmax_id = 5\n", "v.conf:7: max_id (5) is lower than min_id (10)");
}

void secret_is_redacted_in_dump(void **)
{
    ConfigLoad load = validate(base + "ldap_default_authtok = hunter2#x\n");
    assert_true(load.ok());
    std::string dump = load.config.dump();
    assert_null(strstr(dump.c_str(), "hunter2"));
    assert_non_null(strstr(dump.c_str(), "ldap_default_authtok = ***"));
    assert_string_equal(load.config.get_string("domain/a", "ldap_default_authtok").c_str(), "hunter2#x");
}

void every_problem_is_listed_in_file_order(void **)
{
    ConfigLoad load = validate("[vigil]\ndomains = a\nfoo = 1\n[domain/a]\nid_provider = ldap\n"
                               "ldap_uri = ldap://x\nmin_id = x\nenumerate = 2\n");
    assert_int_equal(load.problems.size(), 3);
    assert_int_equal(load.problems[0].line, 3);
    assert_int_equal(load.problems[1].line, 7);
    assert_int_equal(load.problems[2].line, 8);
}

// ---- files on disk: conf.d merging and modes

struct Tree {
    test::TempDir dir;
    std::string main = dir / "vigil.conf";
    std::string confd = dir / "conf.d";
    Tree(const std::string &text)
    {
        test::write_file(main, text);
        mkdir(confd.c_str(), 0700);
    }
};

void confd_snippets_override_in_name_order(void **)
{
    Tree t(base + "entry_cache_timeout = 100\n");
    test::write_file(t.confd + "/20-late.conf", "[domain/a]\nentry_cache_timeout = 300\n");
    test::write_file(t.confd + "/10-early.conf", "[domain/a]\nentry_cache_timeout = 200\n[nss]\nentry_negative_timeout = 7\n");
    test::write_file(t.confd + "/.hidden.conf", "[bogus]\n");
    test::write_file(t.confd + "/notes.txt", "[bogus]\n");
    ConfigLoad load = vigil::load_config(t.main);
    for (const Problem &p : load.problems) print_error("problem: %s\n", p.to_string().c_str());
    assert_true(load.ok());
    assert_int_equal(load.config.get_int("domain/a", "entry_cache_timeout"), 300);
    assert_int_equal(load.config.get_int("nss", "entry_negative_timeout"), 7);
    const vigil::Setting &s = load.config.sections.at("domain/a").options.at("entry_cache_timeout");
    assert_string_equal(s.file.c_str(), (t.confd + "/20-late.conf").c_str());
}

void confd_snippet_problems_name_the_snippet(void **)
{
    Tree t(base);
    test::write_file(t.confd + "/50-x.conf", "[nss]\nbogus = 1\n");
    ConfigLoad load = vigil::load_config(t.main);
    assert_int_equal(load.problems.size(), 1);
    assert_string_equal(load.problems[0].to_string().c_str(),
                        (t.confd + "/50-x.conf:2: unknown option 'bogus' in [nss]").c_str());
}

void confd_snippet_readable_by_others_is_refused(void **)
{
    Tree t(base);
    test::write_file(t.confd + "/50-x.conf", "[nss]\n", 0644);
    ConfigLoad load = vigil::load_config(t.main);
    assert_int_equal(load.problems.size(), 1);
    assert_string_equal(load.problems[0].message.c_str(),
                        "group or others can read or write it (mode 0644): it may hold secrets; run chmod 0600 on it");
}

void confd_writable_by_others_is_refused(void **)
{
    Tree t(base);
    assert_int_equal(chmod(t.confd.c_str(), 0777), 0);
    ConfigLoad load = vigil::load_config(t.main);
    assert_int_equal(load.problems.size(), 1);
    assert_string_equal(load.problems[0].to_string().c_str(),
                        (t.confd + ": group or others can write this directory: run chmod go-w on it").c_str());
}

void unreadable_main_file_gives_one_problem(void **)
{
    test::TempDir dir;
    ConfigLoad load = vigil::load_config(dir / "vigil.conf");
    assert_int_equal(load.problems.size(), 1);
    assert_string_equal(load.problems[0].message.c_str(), "cannot open: No such file or directory");
}

void read_config_error_lists_every_problem(void **)
{
    Tree t("[vigil]\ndomains = a\nx = 1\n");
    auto result = vigil::read_config(t.main);
    assert_false(result.ok());
    assert_int_equal(static_cast<int>(result.error().code), static_cast<int>(vigil::Errc::invalid_config));
    std::string expected = t.main + ":3: unknown option 'x' in [vigil]\n" + t.main +
                           ":2: domains: no [domain/a] section for domain 'a'";
    assert_string_equal(result.error().message.c_str(), expected.c_str());
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimal_config_is_valid_and_defaults_apply),
        cmocka_unit_test(auth_and_chpass_providers_follow_id_provider),
        cmocka_unit_test(set_values_are_typed),
        cmocka_unit_test(unknown_section_is_refused),
        cmocka_unit_test(unknown_option_is_refused),
        cmocka_unit_test(option_of_another_section_is_refused),
        cmocka_unit_test(non_integer_is_refused),
        cmocka_unit_test(integer_out_of_range_is_refused),
        cmocka_unit_test(bad_boolean_is_refused),
        cmocka_unit_test(bad_choice_is_refused),
        cmocka_unit_test(unknown_service_is_refused),
        cmocka_unit_test(service_listed_twice_is_refused),
        cmocka_unit_test(relative_path_is_refused),
        cmocka_unit_test(non_ldap_uri_is_refused),
        cmocka_unit_test(missing_vigil_section_is_refused),
        cmocka_unit_test(missing_domains_is_refused),
        cmocka_unit_test(empty_domains_is_refused),
        cmocka_unit_test(domain_listed_twice_is_refused),
        cmocka_unit_test(listed_domain_without_section_is_refused),
        cmocka_unit_test(domain_without_id_provider_is_refused),
        cmocka_unit_test(ldap_domain_without_uri_is_refused),
        cmocka_unit_test(krb5_without_realm_is_refused),
        cmocka_unit_test(max_id_below_min_id_is_refused),
        cmocka_unit_test(secret_is_redacted_in_dump),
        cmocka_unit_test(every_problem_is_listed_in_file_order),
        cmocka_unit_test(confd_snippets_override_in_name_order),
        cmocka_unit_test(confd_snippet_problems_name_the_snippet),
        cmocka_unit_test(confd_snippet_readable_by_others_is_refused),
        cmocka_unit_test(confd_writable_by_others_is_refused),
        cmocka_unit_test(unreadable_main_file_gives_one_problem),
        cmocka_unit_test(read_config_error_lists_every_problem),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
