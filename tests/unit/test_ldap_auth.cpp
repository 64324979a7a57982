// auth_provider = ldap: what each server answer means, and the refusals that
// never reach a server (tests/intg/test_ldap_auth.py has the real binds).
#include "common.hpp"
#include "providers/ldap/ldap_auth.hpp"

using namespace vigil;
using namespace vigil::ldap;

namespace {

void a_good_bind_is_ok(void **)
{
    assert_int_equal(classify_bind(LDAP_SUCCESS, "", -1).outcome, AuthOutcome::ok);
}

void invalid_credentials_and_unknown_dns_are_a_wrong_password(void **)
{
    assert_int_equal(classify_bind(LDAP_INVALID_CREDENTIALS, "", -1).outcome, AuthOutcome::wrong_password);
    assert_int_equal(classify_bind(LDAP_NO_SUCH_OBJECT, "", -1).outcome, AuthOutcome::wrong_password);
}

void the_password_policy_control_says_locked_or_expired(void **)
{
    assert_int_equal(classify_bind(LDAP_INVALID_CREDENTIALS, "", PP_accountLocked).outcome,
                     AuthOutcome::account_locked);
    // A refused bind that says passwordExpired: right, but no grace left.
    assert_int_equal(classify_bind(LDAP_INVALID_CREDENTIALS, "", PP_passwordExpired).outcome,
                     AuthOutcome::expired_no_grace);
    // A bind that took but says so: the password must be changed now.
    assert_int_equal(classify_bind(LDAP_SUCCESS, "", PP_passwordExpired).outcome, AuthOutcome::password_expired);
    assert_int_equal(classify_bind(LDAP_SUCCESS, "", PP_changeAfterReset).outcome, AuthOutcome::password_expired);
}

void active_directory_subcodes_are_read(void **)
{
    const char *expired = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 532, v4563";
    assert_int_equal(classify_bind(LDAP_INVALID_CREDENTIALS, expired, -1).outcome, AuthOutcome::password_expired);
    const char *disabled = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563";
    assert_int_equal(classify_bind(LDAP_INVALID_CREDENTIALS, disabled, -1).outcome, AuthOutcome::account_locked);
    const char *wrong = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563";
    assert_int_equal(classify_bind(LDAP_INVALID_CREDENTIALS, wrong, -1).outcome, AuthOutcome::wrong_password);
}

void a_disabled_389ds_account_is_locked(void **)
{
    AuthAnswer a = classify_bind(LDAP_UNWILLING_TO_PERFORM, "Account inactivated. Contact system administrator.", -1);
    assert_int_equal(a.outcome, AuthOutcome::account_locked);
    assert_non_null(std::strstr(a.message.c_str(), "Account inactivated"));
    assert_int_equal(classify_bind(LDAP_CONSTRAINT_VIOLATION, "Exceed password retry limit. Please try later.", -1)
                         .outcome,
                     AuthOutcome::account_locked);
}

void a_server_that_is_gone_is_unavailable_not_a_wrong_password(void **)
{
    for (int code : {LDAP_SERVER_DOWN, LDAP_CONNECT_ERROR, LDAP_UNAVAILABLE, LDAP_BUSY, LDAP_TIMEOUT})
        assert_int_equal(classify_bind(code, "", -1).outcome, AuthOutcome::unavailable);
    assert_int_equal(classify_bind(LDAP_CONFIDENTIALITY_REQUIRED, "", -1).outcome, AuthOutcome::error);
    assert_int_equal(classify_bind(LDAP_OTHER, "", -1).outcome, AuthOutcome::error);
}

void a_refused_new_password_carries_the_servers_words(void **)
{
    ChangeAnswer c = classify_change(LDAP_CONSTRAINT_VIOLATION, "Password fails quality checking policy", -1);
    assert_int_equal(c.outcome, ChangeOutcome::rejected);
    assert_string_equal(c.message.c_str(), "Password fails quality checking policy");
    c = classify_change(LDAP_CONSTRAINT_VIOLATION, "", PP_passwordTooShort);
    assert_int_equal(c.outcome, ChangeOutcome::rejected);
    assert_false(c.message.empty());
    c = classify_change(LDAP_INSUFFICIENT_ACCESS, "", -1);
    assert_int_equal(c.outcome, ChangeOutcome::rejected);
    assert_int_equal(classify_change(LDAP_SUCCESS, "", -1).outcome, ChangeOutcome::ok);
    assert_int_equal(classify_change(LDAP_INVALID_CREDENTIALS, "", -1).outcome, ChangeOutcome::wrong_password);
    assert_int_equal(classify_change(LDAP_SERVER_DOWN, "", -1).outcome, ChangeOutcome::unavailable);
}

// ---- refusals before the network -------------------------------------------

AuthSettings settings_for(const std::string &uri)
{
    AuthSettings s;
    s.ldap.uris = {uri};
    s.ldap.network_timeout = std::chrono::seconds(1);
    s.ldap.opt_timeout = std::chrono::seconds(1);
    return s;
}

// Runs one authentication to its answer; `called_inside` tells whether the
// callback ran before authenticate() returned.
AuthAnswer run_auth(AuthSettings settings, const char *password, bool &called_inside)
{
    auto loop = EventLoop::create();
    assert_true(loop.ok());
    PasswordAuth auth(**loop, std::move(settings));
    AuthAnswer answer;
    bool returned = false;
    called_inside = false;
    auth.authenticate("uid=alice,ou=People,dc=example,dc=com", Secret(password), [&](AuthAnswer a) {
        called_inside = !returned;
        answer = std::move(a);
        (*loop)->quit(0);
    });
    returned = true;
    (*loop)->run();
    return answer;
}

// Port 9 on loopback: nothing listens, so reaching the network would answer
// "unavailable", never the refusals tested here.
void an_empty_password_is_refused_without_a_connection(void **)
{
    bool inside = true;
    AuthSettings s = settings_for("ldaps://127.0.0.1:9");
    AuthAnswer a = run_auth(s, "", inside);
    assert_false(inside);
    assert_int_equal(a.outcome, AuthOutcome::wrong_password);
    assert_non_null(std::strstr(a.message.c_str(), "empty password"));
}

void an_empty_dn_is_refused_without_a_connection(void **)
{
    auto loop = EventLoop::create();
    assert_true(loop.ok());
    PasswordAuth auth(**loop, settings_for("ldaps://127.0.0.1:9"));
    AuthAnswer answer;
    auth.authenticate("", Secret("secret"), [&](AuthAnswer a) {
        answer = std::move(a);
        (*loop)->quit(0);
    });
    (*loop)->run();
    assert_int_equal(answer.outcome, AuthOutcome::wrong_password);
    assert_non_null(std::strstr(answer.message.c_str(), "empty user DN"));
}

void plain_ldap_without_starttls_is_refused(void **)
{
    bool inside = true;
    AuthAnswer a = run_auth(settings_for("ldap://127.0.0.1:9"), "secret", inside);
    assert_false(inside);
    assert_int_equal(a.outcome, AuthOutcome::error);
    assert_non_null(std::strstr(a.message.c_str(), "without TLS"));
}

void plain_ldap_is_tried_with_starttls_or_the_switch(void **)
{
    bool inside = true;
    AuthSettings s = settings_for("ldap://127.0.0.1:9");
    s.ldap.start_tls = true;
    assert_int_equal(run_auth(s, "secret", inside).outcome, AuthOutcome::unavailable);
    s.ldap.start_tls = false;
    s.allow_without_tls = true;
    assert_int_equal(run_auth(s, "secret", inside).outcome, AuthOutcome::unavailable);
}

void one_plain_uri_in_the_list_refuses_the_request(void **)
{
    bool inside = true;
    AuthSettings s = settings_for("ldaps://127.0.0.1:9");
    s.ldap.uris.push_back("ldap://127.0.0.1:9");
    assert_int_equal(run_auth(s, "secret", inside).outcome, AuthOutcome::error);
}

void a_reset_without_a_bind_dn_is_an_error(void **)
{
    auto loop = EventLoop::create();
    assert_true(loop.ok());
    PasswordAuth auth(**loop, settings_for("ldaps://127.0.0.1:9"));
    ChangeAnswer answer;
    auth.reset_password("uid=alice,ou=People,dc=example,dc=com", Secret("N3w-pass"), [&](ChangeAnswer c) {
        answer = std::move(c);
        (*loop)->quit(0);
    });
    (*loop)->run();
    assert_int_equal(answer.outcome, ChangeOutcome::error);
    assert_non_null(std::strstr(answer.message.c_str(), "ldap_default_bind_dn"));
}

void an_empty_new_password_is_rejected(void **)
{
    auto loop = EventLoop::create();
    assert_true(loop.ok());
    PasswordAuth auth(**loop, settings_for("ldaps://127.0.0.1:9"));
    ChangeAnswer answer;
    auth.change_password("uid=alice,ou=People,dc=example,dc=com", Secret("old"), Secret(""), [&](ChangeAnswer c) {
        answer = std::move(c);
        (*loop)->quit(0);
    });
    (*loop)->run();
    assert_int_equal(answer.outcome, ChangeOutcome::rejected);
}

void destroying_the_authenticator_drops_the_callbacks(void **)
{
    auto loop = EventLoop::create();
    assert_true(loop.ok());
    bool called = false;
    {
        PasswordAuth auth(**loop, settings_for("ldaps://127.0.0.1:9"));
        auth.authenticate("uid=a,dc=example,dc=com", Secret(""), [&](AuthAnswer) { called = true; });
        assert_int_equal(auth.in_flight(), 1);
    }
    Timer stop = (*loop)->after(std::chrono::milliseconds(50), [&] { (*loop)->quit(0); });
    (*loop)->run();
    assert_false(called);
}

void the_policy_response_becomes_a_notice_for_the_user(void **)
{
    AuthAnswer a{AuthOutcome::ok, "bind succeeded"};
    assert_true(policy_notices(a).empty());
    // Rounded up: what is left is at most what it says.
    a.expires_in = 3 * 86400 - 1;
    assert_string_equal(policy_notices(a).at(0).c_str(), "Your password will expire in 3 day(s).");
    a.expires_in = 86400;
    assert_string_equal(policy_notices(a).at(0).c_str(), "Your password will expire in 24 hour(s).");
    a.expires_in = 7200;
    assert_string_equal(policy_notices(a).at(0).c_str(), "Your password will expire in 2 hour(s).");
    a.expires_in = 61;
    assert_string_equal(policy_notices(a).at(0).c_str(), "Your password will expire in 2 minute(s).");
    a.expires_in = 1;
    assert_string_equal(policy_notices(a).at(0).c_str(), "Your password will expire in 1 minute(s).");
    // Grace logins say more than the time (the password has expired).
    a.outcome = AuthOutcome::password_expired;
    a.grace_logins_left = 0;
    assert_string_equal(policy_notices(a).at(0).c_str(),
                        "Your password has expired: 0 grace login(s) left. Change it now.");
    // Nothing for a refused bind.
    a.outcome = AuthOutcome::wrong_password;
    assert_true(policy_notices(a).empty());
}

} // namespace

int main()
{
    const CMUnitTest tests[] = {
        cmocka_unit_test(a_good_bind_is_ok),
        cmocka_unit_test(invalid_credentials_and_unknown_dns_are_a_wrong_password),
        cmocka_unit_test(the_password_policy_control_says_locked_or_expired),
        cmocka_unit_test(active_directory_subcodes_are_read),
        cmocka_unit_test(a_disabled_389ds_account_is_locked),
        cmocka_unit_test(a_server_that_is_gone_is_unavailable_not_a_wrong_password),
        cmocka_unit_test(a_refused_new_password_carries_the_servers_words),
        cmocka_unit_test(an_empty_password_is_refused_without_a_connection),
        cmocka_unit_test(an_empty_dn_is_refused_without_a_connection),
        cmocka_unit_test(plain_ldap_without_starttls_is_refused),
        cmocka_unit_test(plain_ldap_is_tried_with_starttls_or_the_switch),
        cmocka_unit_test(one_plain_uri_in_the_list_refuses_the_request),
        cmocka_unit_test(a_reset_without_a_bind_dn_is_an_error),
        cmocka_unit_test(an_empty_new_password_is_rejected),
        cmocka_unit_test(destroying_the_authenticator_drops_the_callbacks),
        cmocka_unit_test(the_policy_response_becomes_a_notice_for_the_user),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
