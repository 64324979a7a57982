// AsyncChild: a helper program run from the event loop, bounded in time and
// output, killed by its pidfd past a bound, never left as a zombie.
#include "common.hpp"
#include "util/async_child.hpp"

#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <sys/wait.h>

using namespace std::chrono_literals;
using namespace vigil;

namespace {

std::unique_ptr<EventLoop> make_loop()
{
    auto loop = EventLoop::create();
    if (!loop) fail_msg("%s", loop.error().message.c_str());
    return std::move(*loop);
}

// True when `pid` is neither running nor a zombie of ours.
bool gone(pid_t pid)
{
    int status = 0;
    return kill(pid, 0) != 0 && errno == ESRCH && waitpid(pid, &status, WNOHANG) < 0;
}

// Runs the loop until `pid` is gone (a killed child is reaped from the
// loop), failing the test after 5 s.
void run_until_gone(EventLoop &loop, pid_t pid)
{
    Timer net = loop.after(5s, [&] { loop.quit(99); });
    Timer poll;
    std::function<void()> check = [&] {
        if (gone(pid)) loop.quit(0);
        else poll = loop.after(10ms, check);
    };
    poll = loop.after(0ms, check);
    assert_int_equal(loop.run(), 0);
}

struct Run {
    std::optional<Result<AsyncChildOutcome>> result;
    pid_t pid = -1;
};

// Runs argv to its end (or the 10 s safety net, which fails the test), and
// the loop on until the child is reaped.
Run run(const std::vector<std::string> &argv, std::string input, AsyncChildLimits limits)
{
    auto loop = make_loop();
    Run r;
    {
        Timer net = loop->after(10s, [&] { loop->quit(99); });
        auto child = AsyncChild::start(*loop, argv, Secret(input), limits, [&](Result<AsyncChildOutcome> out) {
            r.result.emplace(std::move(out));
            loop->quit(0);
        });
        if (!child) fail_msg("%s", child.error().message.c_str());
        r.pid = (*child)->pid();
        assert_int_equal(loop->run(), 0);
    }
    run_until_gone(*loop, r.pid);
    return r;
}

void the_input_goes_in_and_the_output_and_exit_status_come_back(void **)
{
    Run r = run({"/bin/sh", "-c", "cat; exit 3"}, "the request", {});
    assert_true(r.result->ok());
    assert_string_equal((*r.result)->out.c_str(), "the request");
    assert_int_equal((*r.result)->exit_code, 3);
    assert_int_equal((*r.result)->signal, 0);
    assert_true(gone(r.pid));
}

void the_environment_is_only_the_loop_guard(void **)
{
    setenv("VIGIL_TEST_LEAK", "visible", 1);
    Run r = run({"/usr/bin/env"}, "", {});
    unsetenv("VIGIL_TEST_LEAK");
    assert_true(r.result->ok());
    assert_string_equal((*r.result)->out.c_str(), "_VIGIL_LOOPS=NO\n");
}

void a_child_past_its_time_is_killed_and_reaped(void **)
{
    AsyncChildLimits limits;
    limits.timeout = 200ms;
    limits.timeout_option = "krb5_auth_timeout";
    const auto start = EventLoop::now();
    Run r = run({"/bin/sleep", "30"}, "", limits);
    assert_false(r.result->ok());
    assert_int_equal(r.result->error().code, Errc::timeout);
    assert_non_null(strstr(r.result->error().message.c_str(), "krb5_auth_timeout"));
    assert_true(EventLoop::now() - start < 5s);
    assert_true(gone(r.pid));
}

void a_child_that_never_reads_its_input_does_not_hang_us(void **)
{
    // More input than a socket buffer holds, to a child that exits at once.
    Run r = run({"/bin/true"}, std::string(4u << 20, 'x'), {});
    assert_true(r.result->ok());
    assert_int_equal((*r.result)->exit_code, 0);
}

void too_much_output_is_killed(void **)
{
    AsyncChildLimits limits;
    limits.max_output = 1000;
    Run r = run({"/usr/bin/yes"}, "", limits);
    assert_false(r.result->ok());
    assert_int_equal(r.result->error().code, Errc::protocol);
    assert_true(gone(r.pid));
}

void a_program_that_cannot_run_says_so(void **)
{
    auto loop = make_loop();
    auto child = AsyncChild::start(*loop, {"/nonexistent/vigil_krb5_child"}, Secret(""), {},
                                   [](Result<AsyncChildOutcome>) { fail_msg("called"); });
    assert_false(child.ok());
    assert_non_null(strstr(child.error().message.c_str(), "/nonexistent/vigil_krb5_child"));
}

void destroying_it_kills_the_child_without_a_callback(void **)
{
    auto loop = make_loop();
    bool called = false;
    auto child = AsyncChild::start(*loop, {"/bin/sleep", "30"}, Secret(""), {},
                                   [&](Result<AsyncChildOutcome>) { called = true; });
    assert_true(child.ok());
    const pid_t pid = (*child)->pid();
    child->reset();
    run_until_gone(*loop, pid);
    assert_false(called);
}

void a_prepared_child_waits_for_its_input_and_then_runs_as_started(void **)
{
    auto loop = make_loop();
    // The program runs before begin(): it leaves a mark, then reads.
    test::TempDir dir;
    const std::string mark = dir / "running";
    auto spare = AsyncChild::prepare(*loop, {"/bin/sh", "-c", "touch " + mark + "; cat; exit 4"});
    if (!spare) fail_msg("%s", spare.error().message.c_str());
    const pid_t pid = (*spare)->pid();
    Timer net = loop->after(10s, [&] { loop->quit(99); });
    Timer poll;
    std::function<void()> check = [&] {
        if (access(mark.c_str(), F_OK) == 0) loop->quit(0);
        else poll = loop->after(5ms, check);
    };
    poll = loop->after(0ms, check);
    assert_int_equal(loop->run(), 0);
    assert_true((*spare)->idle());

    std::optional<Result<AsyncChildOutcome>> result;
    Status st = (*spare)->begin(Secret(std::string("late input")), {}, [&](Result<AsyncChildOutcome> out) {
        result.emplace(std::move(out));
        loop->quit(0);
    });
    assert_true(st.ok());
    assert_false((*spare)->idle());
    assert_int_equal(loop->run(), 0);
    assert_true(result->ok());
    assert_string_equal((*result)->out.c_str(), "late input");
    assert_int_equal((*result)->exit_code, 4);
    spare->reset();
    run_until_gone(*loop, pid);
}

void a_prepared_child_that_exited_is_not_idle_and_is_reaped(void **)
{
    auto loop = make_loop();
    auto spare = AsyncChild::prepare(*loop, {"/bin/true"});
    if (!spare) fail_msg("%s", spare.error().message.c_str());
    const pid_t pid = (*spare)->pid();
    Timer net = loop->after(10s, [&] { loop->quit(99); });
    Timer poll;
    std::function<void()> check = [&] {
        if (!(*spare)->idle()) loop->quit(0);
        else poll = loop->after(5ms, check);
    };
    poll = loop->after(0ms, check);
    assert_int_equal(loop->run(), 0);
    // A zombie until its handle goes (idle() never reaps).
    assert_false(gone(pid));
    spare->reset();
    run_until_gone(*loop, pid);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_input_goes_in_and_the_output_and_exit_status_come_back),
        cmocka_unit_test(the_environment_is_only_the_loop_guard),
        cmocka_unit_test(a_child_past_its_time_is_killed_and_reaped),
        cmocka_unit_test(a_child_that_never_reads_its_input_does_not_hang_us),
        cmocka_unit_test(too_much_output_is_killed),
        cmocka_unit_test(a_program_that_cannot_run_says_so),
        cmocka_unit_test(destroying_it_kills_the_child_without_a_callback),
        cmocka_unit_test(a_prepared_child_waits_for_its_input_and_then_runs_as_started),
        cmocka_unit_test(a_prepared_child_that_exited_is_not_idle_and_is_reaped),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
