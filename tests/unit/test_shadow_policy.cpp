// ldap_pwd_policy = shadow: every boundary of shadow(5) as check_shadow reads it.
#include "common.hpp"
#include "providers/ldap/shadow_policy.hpp"

#include <map>

using vigil::ldap::ShadowAttributes;
using vigil::ldap::ShadowStatus;
using vigil::ldap::ShadowVerdict;
using vigil::ldap::check_shadow;
using vigil::ldap::days_since_epoch;
using vigil::ldap::too_early_to_change;

namespace {

constexpr std::int64_t changed = 19000; // shadowLastChange of the test user

ShadowAttributes with_max(const char *max, const char *warn = nullptr, const char *inactive = nullptr)
{
    ShadowAttributes a;
    a.last_change = std::to_string(changed);
    a.max_days = max;
    if (warn) a.warn_days = warn;
    if (inactive) a.inactive_days = inactive;
    return a;
}

ShadowStatus status(const ShadowAttributes &a, std::int64_t today) { return check_shadow(a, today).status; }

void no_attributes_mean_no_expiry(void **)
{
    assert_int_equal(status(ShadowAttributes{}, 0), ShadowStatus::ok);
    assert_int_equal(status(ShadowAttributes{}, 50000), ShadowStatus::ok);
}

void the_account_expires_on_the_day_of_shadow_expire(void **)
{
    ShadowAttributes a;
    a.expire = "20000";
    assert_int_equal(status(a, 19999), ShadowStatus::ok);
    assert_int_equal(status(a, 20000), ShadowStatus::account_expired);
    assert_int_equal(status(a, 20001), ShadowStatus::account_expired);
}

void shadow_expire_minus_one_is_never_and_zero_is_1970(void **)
{
    ShadowAttributes a;
    a.expire = "-1";
    assert_int_equal(status(a, 30000), ShadowStatus::ok);
    a.expire = "0";
    assert_int_equal(status(a, 30000), ShadowStatus::account_expired);
    a.expire = "1"; // the test directory's "expired" user
    assert_int_equal(status(a, 20000), ShadowStatus::account_expired);
}

void last_change_zero_means_change_now(void **)
{
    ShadowAttributes a;
    a.last_change = "0";
    assert_int_equal(status(a, 20000), ShadowStatus::password_expired);
    a.max_days = "99999";
    assert_int_equal(status(a, 20000), ShadowStatus::password_expired);
}

void the_password_expires_on_last_change_plus_max(void **)
{
    ShadowAttributes a = with_max("90");
    assert_int_equal(status(a, changed + 89), ShadowStatus::ok);
    assert_int_equal(status(a, changed + 90), ShadowStatus::password_expired);
    assert_int_equal(status(a, changed + 1000), ShadowStatus::password_expired);
}

void max_minus_one_or_missing_never_expires(void **)
{
    assert_int_equal(status(with_max("-1"), changed + 100000), ShadowStatus::ok);
    ShadowAttributes a;
    a.last_change = std::to_string(changed);
    assert_int_equal(status(a, changed + 100000), ShadowStatus::ok);
}

void max_99999_is_centuries_away(void **)
{
    assert_int_equal(status(with_max("99999", "7", "30"), changed + 50000), ShadowStatus::ok);
}

void the_warning_starts_warn_days_before_expiry_with_the_days_left(void **)
{
    ShadowAttributes a = with_max("90", "7");
    assert_int_equal(status(a, changed + 82), ShadowStatus::ok);
    ShadowVerdict v = check_shadow(a, changed + 83);
    assert_int_equal(v.status, ShadowStatus::warn_expiring);
    assert_int_equal(v.days_left, 7);
    v = check_shadow(a, changed + 89);
    assert_int_equal(v.status, ShadowStatus::warn_expiring);
    assert_int_equal(v.days_left, 1);
    assert_int_equal(status(a, changed + 90), ShadowStatus::password_expired);
}

void within_the_inactive_window_the_password_may_still_be_changed(void **)
{
    ShadowAttributes a = with_max("90", "7", "10");
    assert_int_equal(status(a, changed + 90), ShadowStatus::password_expired);
    assert_int_equal(status(a, changed + 99), ShadowStatus::password_expired);
    assert_int_equal(status(a, changed + 100), ShadowStatus::account_expired);
    assert_int_equal(status(with_max("90", nullptr, "0"), changed + 90), ShadowStatus::account_expired);
}

void inactive_without_max_does_nothing(void **)
{
    ShadowAttributes a;
    a.last_change = std::to_string(changed);
    a.inactive_days = "1";
    assert_int_equal(status(a, changed + 1000), ShadowStatus::ok);
}

void account_expiry_wins_over_a_valid_password(void **)
{
    ShadowAttributes a = with_max("90", "7");
    a.expire = std::to_string(changed + 10);
    assert_int_equal(status(a, changed + 10), ShadowStatus::account_expired);
}

void a_last_change_in_the_future_does_not_expire_the_password(void **)
{
    assert_int_equal(status(with_max("0", "7", "0"), changed - 5), ShadowStatus::ok);
}

void malformed_values_are_named_not_guessed(void **)
{
    const char *bad[] = {"", "abc", "12x", " 12", "-2", "99999999999", "1.5"};
    for (const char *text : bad) {
        ShadowAttributes a = with_max("90");
        a.expire = text;
        ShadowVerdict v = check_shadow(a, changed);
        assert_int_equal(v.status, ShadowStatus::malformed);
        assert_non_null(std::strstr(v.reason.c_str(), "shadowExpire"));
    }
    ShadowAttributes a = with_max("ninety");
    ShadowVerdict v = check_shadow(a, changed);
    assert_int_equal(v.status, ShadowStatus::malformed);
    assert_non_null(std::strstr(v.reason.c_str(), "shadowMax"));
}

void shadow_min_forbids_a_change_too_soon(void **)
{
    ShadowAttributes a = with_max("90");
    a.min_days = "3";
    assert_true(too_early_to_change(a, changed + 2));
    assert_false(too_early_to_change(a, changed + 3));
    a.min_days = "0";
    assert_false(too_early_to_change(a, changed));
    a.min_days = "x";
    assert_false(too_early_to_change(a, changed));
    a.min_days = "3";
    a.last_change = "0"; // must change now: min does not stand in the way
    assert_false(too_early_to_change(a, 1));
}

void days_since_epoch_floors(void **)
{
    assert_int_equal(days_since_epoch(0), 0);
    assert_int_equal(days_since_epoch(86399), 0);
    assert_int_equal(days_since_epoch(86400), 1);
    assert_int_equal(days_since_epoch(-1), -1);
    assert_int_equal(days_since_epoch(1641600000), 19000); // 2022-01-08
}

void attributes_are_read_from_the_cache_map_by_any_case(void **)
{
    std::map<std::string, std::vector<std::string>> attrs = {
        {"shadowlastchange", {"19000"}}, {"SHADOWMAX", {"90"}}, {"shadowExpire", {"1", "2"}}, {"mail", {"x"}}};
    ShadowAttributes a = ShadowAttributes::from_attributes(attrs);
    assert_string_equal(a.last_change->c_str(), "19000");
    assert_string_equal(a.max_days->c_str(), "90");
    assert_false(a.min_days.has_value());
    assert_int_equal(check_shadow(a, changed).status, ShadowStatus::malformed); // two shadowExpire values
    attrs.erase("shadowExpire");
    a = ShadowAttributes::from_attributes(attrs);
    assert_int_equal(check_shadow(a, changed + 90).status, ShadowStatus::password_expired);
}

} // namespace

int main()
{
    const CMUnitTest tests[] = {
        cmocka_unit_test(no_attributes_mean_no_expiry),
        cmocka_unit_test(the_account_expires_on_the_day_of_shadow_expire),
        cmocka_unit_test(shadow_expire_minus_one_is_never_and_zero_is_1970),
        cmocka_unit_test(last_change_zero_means_change_now),
        cmocka_unit_test(the_password_expires_on_last_change_plus_max),
        cmocka_unit_test(max_minus_one_or_missing_never_expires),
        cmocka_unit_test(max_99999_is_centuries_away),
        cmocka_unit_test(the_warning_starts_warn_days_before_expiry_with_the_days_left),
        cmocka_unit_test(within_the_inactive_window_the_password_may_still_be_changed),
        cmocka_unit_test(inactive_without_max_does_nothing),
        cmocka_unit_test(account_expiry_wins_over_a_valid_password),
        cmocka_unit_test(a_last_change_in_the_future_does_not_expire_the_password),
        cmocka_unit_test(malformed_values_are_named_not_guessed),
        cmocka_unit_test(shadow_min_forbids_a_change_too_soon),
        cmocka_unit_test(days_since_epoch_floors),
        cmocka_unit_test(attributes_are_read_from_the_cache_map_by_any_case),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
