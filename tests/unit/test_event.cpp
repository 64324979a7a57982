// The event loop: monotonic timers, signals in the loop, fd watches, handle
// lifetimes and what happens when a callback throws.
#include "common.hpp"
#include "util/event.hpp"

#include <chrono>
#include <functional>
#include <vector>
#include <csignal>
#include <memory>
#include <optional>
#include <stdexcept>

using namespace std::chrono_literals;
using vigil::EventLoop;
using vigil::Timer;
using vigil::Watch;

namespace {

constexpr int safety_status = 99;

std::unique_ptr<EventLoop> make_loop()
{
    auto loop = EventLoop::create();
    if (!loop) fail_msg("%s", loop.error().message.c_str());
    return std::move(*loop);
}

// Every test loop is bounded: a test that would hang fails instead.
Timer safety_net(EventLoop &loop)
{
    return loop.after(5s, [&loop] { loop.quit(safety_status); });
}

struct Pipe {
    int read_end = -1;
    int write_end = -1;
    Pipe()
    {
        int fds[2];
        assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe()
    {
        ::close(read_end);
        ::close(write_end);
    }
    Pipe(const Pipe &) = delete;
    Pipe &operator=(const Pipe &) = delete;
};

void timer_fires_after_delay(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    std::optional<EventLoop::Clock::time_point> fired_at;
    const auto start = EventLoop::now();
    Timer t = loop->after(50ms, [&] {
        fired_at = EventLoop::now();
        loop->quit(0);
    });
    assert_int_equal(loop->run(), 0);
    assert_true(fired_at.has_value());
    assert_true(*fired_at - start >= 50ms);
}

void timer_is_pending_until_it_fires(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    bool pending_inside = true;
    Timer t;
    t = loop->after(10ms, [&] {
        pending_inside = t.pending();
        loop->quit(0);
    });
    assert_true(t.pending());
    assert_int_equal(loop->run(), 0);
    assert_false(pending_inside);
    assert_false(t.pending());
}

void timers_fire_in_deadline_order(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    std::string order;
    auto record = [&](char c) {
        return [&order, &loop, c] {
            order += c;
            if (order.size() == 3) loop->quit(0);
        };
    };
    Timer c = loop->after(60ms, record('c'));
    Timer a = loop->after(20ms, record('a'));
    Timer b = loop->after(40ms, record('b'));
    assert_int_equal(loop->run(), 0);
    assert_string_equal(order.c_str(), "abc");
}

void equal_deadlines_fire_in_insertion_order(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    std::string order;
    const auto deadline = EventLoop::now() + 20ms;
    std::vector<Timer> timers;
    for (char c : std::string("vigil")) {
        timers.push_back(loop->at(deadline, [&order, &loop, c] {
            order += c;
            if (order.size() == 5) loop->quit(0);
        }));
    }
    assert_int_equal(loop->run(), 0);
    assert_string_equal(order.c_str(), "vigil");
}

void cancelled_timer_never_fires(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    bool fired = false;
    Timer t = loop->after(10ms, [&] { fired = true; });
    t.cancel();
    assert_false(t.pending());
    Timer end = loop->after(60ms, [&] { loop->quit(0); });
    assert_int_equal(loop->run(), 0);
    assert_false(fired);
}

void timer_handle_destroyed_cancels(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    bool fired = false;
    {
        Timer t = loop->after(10ms, [&] { fired = true; });
    }
    Timer end = loop->after(60ms, [&] { loop->quit(0); });
    assert_int_equal(loop->run(), 0);
    assert_false(fired);
}

void callback_can_cancel_other_timer(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    bool other_fired = false;
    // Same deadline: the other one is already due when the first one runs.
    const auto deadline = EventLoop::now() + 10ms;
    Timer other;
    Timer first = loop->at(deadline, [&] { other.cancel(); });
    other = loop->at(deadline, [&] { other_fired = true; });
    Timer end = loop->after(60ms, [&] { loop->quit(0); });
    assert_int_equal(loop->run(), 0);
    assert_false(other_fired);
}

void callback_can_add_timer(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    bool inner_fired = false;
    Timer inner;
    Timer outer = loop->after(10ms, [&] {
        inner = loop->after(0ms, [&] {
            inner_fired = true;
            loop->quit(0);
        });
    });
    assert_int_equal(loop->run(), 0);
    assert_true(inner_fired);
}

void callback_can_cancel_and_reschedule_itself(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    int runs = 0;
    Timer tick;
    std::function<void()> on_tick = [&] {
        tick.cancel(); // a no-op on a running timer, and harmless
        if (++runs == 3) loop->quit(0);
        else tick = loop->after(5ms, on_tick);
    };
    tick = loop->after(5ms, on_tick);
    assert_int_equal(loop->run(), 0);
    assert_int_equal(runs, 3);
    assert_false(tick.pending());
}

void signal_is_delivered_in_the_loop(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    int seen = 0;
    bool usr1_blocked_in_callback = true;
    auto watch = loop->on_signal(SIGUSR1, [&](int signum) {
        seen = signum;
        // In signal context SIGUSR1 would be blocked (no SA_NODEFER).
        sigset_t blocked;
        sigprocmask(SIG_BLOCK, nullptr, &blocked);
        usr1_blocked_in_callback = sigismember(&blocked, SIGUSR1) == 1;
        loop->quit(0);
    });
    assert_true(watch.ok());
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(seen, 0); // the handler only queued it
    assert_int_equal(loop->run(), 0);
    assert_int_equal(seen, SIGUSR1);
    assert_false(usr1_blocked_in_callback);
}

void fd_watch_sees_readable_pipe(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    Pipe p;
    char got = 0;
    // No cmocka assert inside a callback: its longjmp would cross tevent's frames.
    auto watch = loop->on_readable(p.read_end, [&] {
        if (::read(p.read_end, &got, 1) != 1) got = '?';
        loop->quit(0);
    });
    assert_true(watch.ok());
    assert_int_equal(::write(p.write_end, "x", 1), 1);
    assert_int_equal(loop->run(), 0);
    assert_int_equal(got, 'x');
}

void fd_watch_sees_writable_pipe(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    Pipe p;
    bool writable = false;
    auto watch = loop->on_writable(p.write_end, [&] {
        writable = true;
        loop->quit(0);
    });
    assert_true(watch.ok());
    assert_int_equal(loop->run(), 0);
    assert_true(writable);
}

void watch_destroyed_inside_own_callback_is_safe(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    Pipe p;
    int calls = 0;
    std::string seen;
    Timer end;
    std::optional<Watch> watch;
    // The capture lives on the heap: were the running function destroyed with
    // its Watch, reading it afterwards would be a use-after-free (ASan).
    std::string label(64, 'w');
    auto w = loop->on_readable(p.read_end, [&, label] {
        ++calls;
        watch.reset();
        seen = label;
        end = loop->after(30ms, [&] { loop->quit(0); });
    });
    assert_true(w.ok());
    watch.emplace(std::move(*w));
    // Left unread: a watch still in place would fire again and again.
    assert_int_equal(::write(p.write_end, "x", 1), 1);
    assert_int_equal(loop->run(), 0);
    assert_int_equal(calls, 1);
    assert_string_equal(seen.c_str(), label.c_str());
}

void exception_in_callback_quits_loop_with_failure(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    bool later_ran = false;
    Timer boom = loop->after(10ms, [] { throw std::runtime_error("boom (expected by the test)"); });
    Timer later = loop->after(2s, [&] { later_ran = true; });
    assert_int_equal(loop->run(), EXIT_FAILURE);
    assert_false(later_ran);
}

void exception_in_fd_callback_quits_loop_with_failure(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    Pipe p;
    auto watch = loop->on_writable(p.write_end, [] { throw 42; });
    assert_true(watch.ok());
    assert_int_equal(loop->run(), EXIT_FAILURE);
}

void run_returns_quit_status(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    Timer t = loop->after(10ms, [&] { loop->quit(42); });
    assert_int_equal(loop->run(), 42);
    // The loop can run again, and the first quit of a round wins.
    Timer u = loop->after(10ms, [&] {
        loop->quit(7);
        loop->quit(0);
    });
    assert_int_equal(loop->run(), 7);
}

void handles_outliving_the_loop_are_harmless(void **)
{
    Timer t;
    Pipe p;
    std::optional<Watch> watch;
    {
        auto loop = make_loop();
        t = loop->after(1h, [] {});
        auto w = loop->on_readable(p.read_end, [] {});
        assert_true(w.ok());
        watch.emplace(std::move(*w));
    }
    assert_false(t.pending());
    t.cancel();
    watch.reset();
}

// Work done in slices (a zero-delay timer that re-adds itself) must let fds
// be served between slices: tevent runs immediates before it polls.
void self_rescheduling_timer_does_not_starve_fds(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    Pipe p;
    int slices = 0;
    int slices_when_read = -1;
    Timer slice;
    std::function<void()> again = [&] {
        ++slices;
        slice = loop->after(0ms, again);
    };
    slice = loop->after(0ms, again);
    auto watch = loop->on_readable(p.read_end, [&] {
        char c;
        if (::read(p.read_end, &c, 1) == 1) slices_when_read = slices;
        loop->quit(0);
    });
    assert_true(watch.ok());
    assert_int_equal(::write(p.write_end, "x", 1), 1);
    assert_int_equal(loop->run(), 0);
    assert_true(slices_when_read >= 0);
    assert_true(slices_when_read < 10);
}

// A timer due at once, added from an fd callback (the way replies and
// dispatches are scheduled), runs on the next turn, before a later one.
void due_timer_from_fd_callback_runs_before_later_ones(void **)
{
    auto loop = make_loop();
    Timer net = safety_net(*loop);
    Pipe p;
    std::vector<int> order;
    Timer now_timer, later_timer;
    auto watch = loop->on_readable(p.read_end, [&] {
        char c;
        if (::read(p.read_end, &c, 1) != 1) return;
        later_timer = loop->after(30ms, [&] {
            order.push_back(2);
            loop->quit(0);
        });
        now_timer = loop->after(-1ms, [&] { order.push_back(1); });
        order.push_back(0);
    });
    assert_true(watch.ok());
    assert_int_equal(::write(p.write_end, "x", 1), 1);
    assert_int_equal(loop->run(), 0);
    assert_int_equal(order.size(), 3);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 2);
}

// A due timer cancelled before its turn never runs; the loop is destroyed
// with one scheduled and nothing is left behind (ASan would say).
void cancelled_due_timer_and_loop_gone_with_one_scheduled(void **)
{
    bool ran = false;
    {
        auto loop = make_loop();
        Timer net = safety_net(*loop);
        Timer t = loop->after(0ms, [&] { ran = true; });
        t.cancel();
        Timer quit = loop->after(20ms, [&] { loop->quit(0); });
        assert_int_equal(loop->run(), 0);
        Timer left = loop->after(0ms, [&] { ran = true; });
    }
    assert_false(ran);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timer_fires_after_delay),
        cmocka_unit_test(timer_is_pending_until_it_fires),
        cmocka_unit_test(timers_fire_in_deadline_order),
        cmocka_unit_test(equal_deadlines_fire_in_insertion_order),
        cmocka_unit_test(cancelled_timer_never_fires),
        cmocka_unit_test(timer_handle_destroyed_cancels),
        cmocka_unit_test(callback_can_cancel_other_timer),
        cmocka_unit_test(callback_can_add_timer),
        cmocka_unit_test(callback_can_cancel_and_reschedule_itself),
        cmocka_unit_test(signal_is_delivered_in_the_loop),
        cmocka_unit_test(fd_watch_sees_readable_pipe),
        cmocka_unit_test(fd_watch_sees_writable_pipe),
        cmocka_unit_test(watch_destroyed_inside_own_callback_is_safe),
        cmocka_unit_test(exception_in_callback_quits_loop_with_failure),
        cmocka_unit_test(exception_in_fd_callback_quits_loop_with_failure),
        cmocka_unit_test(run_returns_quit_status),
        cmocka_unit_test(handles_outliving_the_loop_are_harmless),
        cmocka_unit_test(self_rescheduling_timer_does_not_starve_fds),
        cmocka_unit_test(due_timer_from_fd_callback_runs_before_later_ones),
        cmocka_unit_test(cancelled_due_timer_and_loop_gone_with_one_scheduled),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
