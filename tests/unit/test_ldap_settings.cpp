// The bind of the identity connection as the ldap_* options say it:
// simple or anonymous, or SASL GSSAPI with the host's Kerberos credentials
// (tests/intg/test_ldap_gssapi.py has the real binds).
#include "common.hpp"
#include "providers/ldap/ldap_settings.hpp"
#include "config_helpers.hpp"

using namespace vigil;
using namespace vigil::ldap;

namespace {

constexpr const char *vigil_lines = "state_dir = /var/lib/vigil-test\n";
constexpr const char *uri = "ldap://ldap.example.com";

ConfigLoad load(const std::string &domain_lines) { return test::load_domain_config(domain_lines, vigil_lines, uri); }

Config config(const std::string &domain_lines) { return test::domain_config(domain_lines, vigil_lines, uri); }

void without_ldap_sasl_mech_the_bind_is_simple(void **)
{
    auto s = LdapSettings::from_config(config(""), "d");
    assert_true(s.ok());
    assert_int_equal(static_cast<int>(s->bind_method), static_cast<int>(BindMethod::simple));
    assert_true(set_sasl_environment(*s).ok()); // nothing to set
}

void gssapi_defaults_are_sssds(void **)
{
    auto s = LdapSettings::from_config(config("ldap_sasl_mech = GSSAPI\nkrb5_realm = EXAMPLE.COM\n"), "d");
    assert_true(s.ok());
    assert_int_equal(static_cast<int>(s->bind_method), static_cast<int>(BindMethod::gssapi));
    const SaslSettings &sasl = s->sasl;
    assert_string_equal(sasl.authid.c_str(), ""); // host/<FQDN>@REALM, found by the child
    assert_string_equal(sasl.realm.c_str(), "EXAMPLE.COM");
    assert_int_equal(sasl.min_ssf, -1);
    assert_int_equal(sasl.max_ssf, -1);
    assert_false(sasl.canonicalize);
    assert_string_equal(sasl.keytab.c_str(), "");
    assert_true(sasl.init_creds);
    assert_int_equal(sasl.ticket_lifetime, 86400);
    // The host ccache is private to the domain, under the state dir.
    assert_string_equal(sasl.ccache.c_str(), "FILE:/var/lib/vigil-test/krb5/host/d.ccache");
    assert_string_equal(sasl.ccache_dir.c_str(), "/var/lib/vigil-test/krb5/host");
    // The generated profile first, then the base.
    assert_true(sasl.krb5_config.starts_with("/var/lib/vigil-test/krb5/d.conf:"));
}

void every_sasl_option_is_read(void **)
{
    auto s = LdapSettings::from_config(
        config("ldap_sasl_mech = GSSAPI\nkrb5_realm = EXAMPLE.COM\nldap_sasl_realm = IPA.EXAMPLE\n"
               "ldap_sasl_authid = host/web1.ipa.example\nldap_sasl_minssf = 56\nldap_sasl_maxssf = 256\n"
               "ldap_sasl_canonicalize = true\nldap_krb5_keytab = /etc/vigil/host.keytab\n"
               "ldap_krb5_ticket_lifetime = 2h30m\n"),
        "d");
    assert_true(s.ok());
    const SaslSettings &sasl = s->sasl;
    assert_string_equal(sasl.authid.c_str(), "host/web1.ipa.example");
    assert_string_equal(sasl.realm.c_str(), "IPA.EXAMPLE");
    assert_int_equal(sasl.min_ssf, 56);
    assert_int_equal(sasl.max_ssf, 256);
    assert_true(sasl.canonicalize);
    assert_string_equal(sasl.keytab.c_str(), "/etc/vigil/host.keytab");
    assert_int_equal(sasl.ticket_lifetime, 9000);
}

void credentials_kept_elsewhere_leave_the_ccache_to_the_process(void **)
{
    auto s = LdapSettings::from_config(
        config("ldap_sasl_mech = GSSAPI\nkrb5_realm = EXAMPLE.COM\nldap_krb5_init_creds = false\n"), "d");
    assert_true(s.ok());
    assert_false(s->sasl.init_creds);
    assert_string_equal(s->sasl.ccache.c_str(), "");
}

void contradictions_are_refused_with_the_reason(void **)
{
    // Both a bind DN and GSSAPI: refused by the config check, and by the
    // settings too (vigilctl reads a config leniently).
    ConfigLoad loaded = load("ldap_sasl_mech = GSSAPI\nkrb5_realm = EXAMPLE.COM\nldap_default_bind_dn = cn=x\n"
                             "ldap_default_authtok = pw\n");
    assert_false(loaded.ok());
    assert_non_null(strstr(loaded.problems.at(0).to_string().c_str(), "sets both 'ldap_sasl_mech'"));
    auto both = LdapSettings::from_config(loaded.config, "d");
    assert_false(both.ok());
    assert_int_equal(static_cast<int>(both.error().code), static_cast<int>(Errc::invalid_config));
    assert_non_null(strstr(both.error().message.c_str(), "ldap_default_bind_dn and ldap_sasl_mech"));
    auto ssf = LdapSettings::from_config(
        config("ldap_sasl_mech = GSSAPI\nkrb5_realm = EXAMPLE.COM\nldap_sasl_minssf = 128\nldap_sasl_maxssf = 56\n"),
        "d");
    assert_false(ssf.ok());
    assert_non_null(strstr(ssf.error().message.c_str(), "ldap_sasl_minssf (128) is above ldap_sasl_maxssf (56)"));
    auto realm = LdapSettings::from_config(
        config("ldap_sasl_mech = GSSAPI\nldap_sasl_realm = A/B\n"), "d");
    assert_false(realm.ok());
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_ldap_sasl_mech_the_bind_is_simple),
        cmocka_unit_test(gssapi_defaults_are_sssds),
        cmocka_unit_test(every_sasl_option_is_read),
        cmocka_unit_test(credentials_kept_elsewhere_leave_the_ccache_to_the_process),
        cmocka_unit_test(contradictions_are_refused_with_the_reason),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
