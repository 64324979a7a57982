// The Kerberos options' syntax: krb5_lifetime-style durations, the ccache
// name template (check and expansion) and the principal text for %p.
#include "common.hpp"
#include "util/krb5_options.hpp"

using namespace vigil;
using namespace vigil::krb5opt;

namespace {

void durations_are_seconds_or_amounts_with_units(void **)
{
    auto is = [](const char *text, std::int64_t seconds) {
        auto r = parse_duration(text);
        if (!r.ok()) fail_msg("%s: %s", text, r.error().message.c_str());
        assert_int_equal(*r, seconds);
    };
    is("0", 0);
    is("90", 90);
    is("10h", 36000);
    is("1d12h", 129600);
    is("30m15s", 1815);
    is("1d2h3m4s", 93784);
    is("2147483647", 2147483647);
    for (const char *bad : {"", "h", "10x", "1h1d", "1h1h", "1d12", "-5", "1.5h", "2147483648", "99999999999",
                            "24856d", " 5", "5 "}) {
        auto r = parse_duration(bad);
        if (r.ok()) fail_msg("'%s' was accepted", bad);
        assert_int_equal(r.error().code, Errc::invalid_config);
    }
}

TemplateValues alice()
{
    return {"alice", 10001, principal_text("alice", "EXAMPLE.COM"), "EXAMPLE.COM", "/home/alice", "/tmp"};
}

void templates_expand_every_escape(void **)
{
    auto r = expand_ccname_template("FILE:%d/krb5cc_%U_%u_%r_%%", alice());
    assert_true(r.ok());
    assert_int_equal(r->type, CcacheType::file);
    assert_string_equal(r->path.c_str(), "/tmp/krb5cc_10001_alice_EXAMPLE.COM_%");
    assert_string_equal(r->full().c_str(), "FILE:/tmp/krb5cc_10001_alice_EXAMPLE.COM_%");
    r = expand_ccname_template("KEYRING:persistent:%U", alice());
    assert_true(r.ok());
    assert_int_equal(r->type, CcacheType::keyring);
    assert_string_equal(r->full().c_str(), "KEYRING:persistent:10001");
    r = expand_ccname_template("DIR:%h/.krb5/%p", alice());
    assert_true(r.ok());
    assert_int_equal(r->type, CcacheType::dir);
    assert_string_equal(r->full().c_str(), "DIR:/home/alice/.krb5/alice@EXAMPLE.COM");
}

void templates_are_checked_before_use(void **)
{
    assert_true(check_ccname_template("FILE:%d/krb5cc_%U").ok());
    assert_true(check_ccname_template("DIR:/run/user/%U/krb5cc").ok());
    assert_true(check_ccname_template("FILE:%h/.ccache").ok());
    assert_true(check_ccname_template("KEYRING:persistent:%U").ok());
    for (const char *bad : {"KEYRING:session:%U", "KEYRING:persistent:10001", "KEYRING:persistent:%U:x",
                            "KEYRING:%U", "MEMORY:x", "/tmp/krb5cc_%U", "FILE:", "FILE:tmp/x",
                            "FILE:%d/%x", "FILE:%d/krb5cc_%", "FILE:%U/x"}) {
        Status st = check_ccname_template(bad);
        if (st.ok()) fail_msg("'%s' was accepted", bad);
        assert_int_equal(st.error().code, Errc::invalid_config);
    }
}

void an_expansion_that_escapes_its_directory_is_refused(void **)
{
    TemplateValues v = alice();
    v.user = "..";
    assert_false(expand_ccname_template("FILE:/tmp/%u/cc", v).ok());
    v = alice();
    v.home = "";
    assert_false(expand_ccname_template("FILE:%h/cc", v).ok()); // no home for %h
    v = alice();
    v.user = "a\nb";
    assert_false(expand_ccname_template("FILE:/tmp/krb5cc_%u", v).ok());
    // A name that only contains dots is fine.
    v = alice();
    v.user = "a..b";
    assert_true(expand_ccname_template("FILE:/tmp/krb5cc_%u", v).ok());
}

void principal_text_escapes_what_would_change_the_principal(void **)
{
    assert_string_equal(principal_text("alice", "EXAMPLE.COM").c_str(), "alice@EXAMPLE.COM");
    assert_string_equal(principal_text("host/x", "R").c_str(), "host\\/x@R");
    assert_string_equal(principal_text("a@b", "R").c_str(), "a\\@b@R");
    assert_string_equal(principal_text("a\\b", "R").c_str(), "a\\\\b@R");
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_are_seconds_or_amounts_with_units),
        cmocka_unit_test(templates_expand_every_escape),
        cmocka_unit_test(templates_are_checked_before_use),
        cmocka_unit_test(an_expansion_that_escapes_its_directory_is_refused),
        cmocka_unit_test(principal_text_escapes_what_would_change_the_principal),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
