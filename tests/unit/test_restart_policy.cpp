// When vigild restarts a service, and when it gives up: backoff, jitter, the
// limit within the window, and the monotonic clock as the only time source.
#include "common.hpp"
#include "monitor/restart_policy.hpp"

#include <chrono>

using vigil::RestartPolicy;
using namespace std::chrono_literals;

namespace {

const RestartPolicy::Clock::time_point t0{1000s};

// No spread: every delay is exactly 0.75 + 0.5 * 0.5 = 1.0 times its base.
double middle() { return 0.5; }

void first_restart_is_quick_and_later_ones_back_off(void **)
{
    RestartPolicy p({.limit = 10, .window = 300s}, middle);
    auto d1 = p.on_exit(t0);
    auto d2 = p.on_exit(t0 + 1s);
    auto d3 = p.on_exit(t0 + 2s);
    assert_false(d1.give_up);
    assert_int_equal(d1.delay.count(), RestartPolicy::first_delay.count());
    assert_int_equal(d2.delay.count(), 2 * RestartPolicy::first_delay.count());
    assert_int_equal(d3.delay.count(), 4 * RestartPolicy::first_delay.count());
    assert_int_equal(d3.recent, 3);
}

void backoff_is_capped(void **)
{
    RestartPolicy p({.limit = 1000, .window = 86400s}, middle);
    RestartPolicy::Decision d;
    for (int i = 0; i < 40; ++i) d = p.on_exit(t0 + std::chrono::seconds(i));
    assert_false(d.give_up);
    assert_int_equal(d.delay.count(), RestartPolicy::max_delay.count());
}

void jitter_spreads_each_delay_by_a_quarter_either_way(void **)
{
    RestartPolicy low({.limit = 5, .window = 300s}, [] { return 0.0; });
    RestartPolicy high({.limit = 5, .window = 300s}, [] { return 0.999999; });
    assert_int_equal(low.on_exit(t0).delay.count(), RestartPolicy::first_delay.count() * 3 / 4);
    auto top = high.on_exit(t0).delay.count();
    assert_true(top > RestartPolicy::first_delay.count() * 5 / 4 - 2 && top <= RestartPolicy::first_delay.count() * 5 / 4);
    // The real source of randomness stays within the same bounds.
    RestartPolicy real({.limit = 1000, .window = 300s});
    for (int i = 0; i < 200; ++i) {
        RestartPolicy one({.limit = 5, .window = 300s});
        auto ms = one.on_exit(t0).delay.count();
        assert_in_range(ms, RestartPolicy::first_delay.count() * 3 / 4, RestartPolicy::first_delay.count() * 5 / 4);
    }
}

void gives_up_after_the_limit_within_the_window(void **)
{
    RestartPolicy p({.limit = 3, .window = 60s}, middle);
    assert_false(p.on_exit(t0).give_up);
    assert_false(p.on_exit(t0 + 10s).give_up);
    assert_false(p.on_exit(t0 + 20s).give_up);
    auto d = p.on_exit(t0 + 30s);
    assert_true(d.give_up);
    assert_int_equal(d.recent, 3);
    // Once given up, it stays given up until reset.
    assert_true(p.on_exit(t0 + 31s).give_up);
}

void restarts_older_than_the_window_are_forgotten(void **)
{
    RestartPolicy p({.limit = 2, .window = 60s}, middle);
    assert_false(p.on_exit(t0).give_up);
    assert_false(p.on_exit(t0 + 30s).give_up);
    // The first restart is 61 s old: one left in the window, so one more is allowed...
    auto d = p.on_exit(t0 + 61s);
    assert_false(d.give_up);
    assert_int_equal(d.recent, 2);
    // ...and the backoff follows the restarts in the window, not all of them.
    assert_int_equal(d.delay.count(), 2 * RestartPolicy::first_delay.count());
    assert_true(p.on_exit(t0 + 62s).give_up);
}

void limit_zero_never_restarts(void **)
{
    RestartPolicy p({.limit = 0, .window = 60s}, middle);
    assert_true(p.on_exit(t0).give_up);
}

void reset_gives_another_chance_with_new_limits(void **)
{
    RestartPolicy p({.limit = 1, .window = 60s}, middle);
    assert_false(p.on_exit(t0).give_up);
    assert_true(p.on_exit(t0 + 1s).give_up);
    p.reset({.limit = 2, .window = 60s});
    assert_false(p.on_exit(t0 + 2s).give_up);
    assert_false(p.on_exit(t0 + 3s).give_up);
    assert_true(p.on_exit(t0 + 4s).give_up);
}

void set_limits_keeps_the_history(void **)
{
    RestartPolicy p({.limit = 5, .window = 60s}, middle);
    p.on_exit(t0);
    p.on_exit(t0 + 1s);
    p.set_limits({.limit = 2, .window = 60s});
    assert_true(p.on_exit(t0 + 2s).give_up);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_restart_is_quick_and_later_ones_back_off),
        cmocka_unit_test(backoff_is_capped),
        cmocka_unit_test(jitter_spreads_each_delay_by_a_quarter_either_way),
        cmocka_unit_test(gives_up_after_the_limit_within_the_window),
        cmocka_unit_test(restarts_older_than_the_window_are_forgotten),
        cmocka_unit_test(limit_zero_never_restarts),
        cmocka_unit_test(reset_gives_another_chance_with_new_limits),
        cmocka_unit_test(set_limits_keeps_the_history),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
