// HostTgt, the provider side of the GSSAPI bind's host TGT, against a
// stand-in for vigil_krb5_child (a script that reads the request, keeps it
// and answers what the test wrote): when the child runs, what its answers
// mean, and that a TGT still good is used without one.
// tests/intg/test_ldap_gssapi.py runs the real child against a real KDC.
#include "common.hpp"
#include "providers/krb5/host_tgt.hpp"
#include "providers/krb5/krb5_child_protocol.hpp"

#include <ctime>
#include <functional>
#include <fstream>
#include <iterator>
#include <optional>

using namespace std::chrono_literals;
using namespace vigil;
using namespace vigil::krb5;

namespace {

struct Fixture {
    test::TempDir dir;
    std::unique_ptr<EventLoop> loop;
    std::unique_ptr<HostTgt> tgt;

    explicit Fixture(std::chrono::seconds retry = 3600s)
    {
        auto l = EventLoop::create();
        if (!l) fail_msg("%s", l.error().message.c_str());
        loop = std::move(*l);
        // Each run appends a line to `runs` and keeps the last request.
        test::write_file(dir / "child", "#!/bin/sh\ncat > '" + (dir / "request") + "'\necho run >> '" +
                                            (dir / "runs") + "'\nexec cat '" + (dir / "answer") + "'\n",
                         0700);
        HostTgtSettings s;
        s.realm = "EXAMPLE.COM";
        s.principal = "host/web1.example.com";
        s.keytab = "FILE:/etc/krb5.keytab";
        s.ccname = "FILE:" + (dir / "host.ccache");
        s.krb5_config = "/gen.conf:/etc/krb5.conf";
        s.child_path = dir / "child";
        s.lifetime = 3600;
        s.retry = retry;
        tgt = std::make_unique<HostTgt>(*loop, std::move(s));
    }

    void answer(ChildResult result, std::int64_t life_seconds, const std::string &message = "said")
    {
        const std::uint64_t end = life_seconds > 0 ? static_cast<std::uint64_t>(std::time(nullptr) + life_seconds)
                                                   : result == ChildResult::ok ? 1 : 0;
        ChildAnswer a{result, result == ChildResult::ok ? tgt->settings().ccname : "", message, end};
        test::write_file(dir / "answer", encode_answer(a));
    }

    int runs()
    {
        std::ifstream in(dir / "runs");
        int n = 0;
        for (std::string line; std::getline(in, line);) ++n;
        return n;
    }

    // Runs the loop until `pred` holds (checked every 20 ms) or 10 s pass.
    bool run_until(const std::function<bool()> &pred)
    {
        Timer poll;
        std::function<void()> check = [&] {
            if (pred()) loop->quit(0);
            else poll = loop->after(20ms, check);
        };
        poll = loop->after(20ms, check);
        Timer net = loop->after(10s, [&] { loop->quit(99); });
        return loop->run() == 0;
    }

    // ensure(), with the loop run until `done` has been called.
    Status ensure(bool renew)
    {
        std::optional<Status> got;
        tgt->ensure(renew, [&](Status s) {
            got.emplace(std::move(s));
            loop->quit(0);
        });
        if (!got) {
            Timer net = loop->after(10s, [&] { loop->quit(99); });
            assert_int_equal(loop->run(), 0);
        }
        assert_true(got.has_value());
        return *got;
    }
};

void the_first_bind_waits_for_a_tgt_then_it_is_reused(void **)
{
    Fixture f;
    f.answer(ChildResult::ok, 3600);
    assert_true(f.ensure(false).ok());
    assert_int_equal(f.runs(), 1);
    assert_int_equal(f.tgt->obtained(), 1);
    // The request the child got: the host's, no user, no password.
    std::ifstream in(f.dir / "request");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto request = decode_request(bytes);
    assert_true(request.ok());
    assert_int_equal(static_cast<int>(request->command), static_cast<int>(ChildCommand::host_tgt));
    assert_string_equal(request->principal.c_str(), "host/web1.example.com");
    assert_string_equal(request->ccname.c_str(), ("FILE:" + (f.dir / "host.ccache")).c_str());
    assert_int_equal(request->lifetime, 3600);
    // Still good: answered at once, no child.
    assert_true(f.ensure(false).ok());
    assert_int_equal(f.runs(), 1);
}

void a_failed_bind_gets_a_new_tgt_whatever_the_old_ones_age(void **)
{
    Fixture f;
    f.answer(ChildResult::ok, 3600);
    assert_true(f.ensure(false).ok());
    assert_true(f.ensure(true).ok());
    assert_int_equal(f.runs(), 2);
    assert_int_equal(f.tgt->obtained(), 2);
}

void the_childs_refusals_keep_their_meaning(void **)
{
    struct Case {
        ChildResult result;
        Errc code;
    };
    for (Case c : {Case{ChildResult::kdc_unreachable, Errc::unavailable},
                   Case{ChildResult::keytab_failed, Errc::invalid_config},
                   Case{ChildResult::clock_skew, Errc::permission}, Case{ChildResult::error, Errc::internal}}) {
        Fixture f;
        f.answer(c.result, 0, "the child's words");
        Status st = f.ensure(false);
        assert_false(st.ok());
        assert_int_equal(static_cast<int>(st.error().code), static_cast<int>(c.code));
        assert_non_null(strstr(st.error().message.c_str(), child_result_name(c.result)));
        assert_non_null(strstr(st.error().message.c_str(), "the child's words"));
        assert_int_equal(f.tgt->obtained(), 0);
    }
}

void a_child_that_says_nothing_is_an_error(void **)
{
    Fixture f;
    test::write_file(f.dir / "answer", "");
    Status st = f.ensure(false);
    assert_false(st.ok());
    assert_int_equal(static_cast<int>(st.error().code), static_cast<int>(Errc::internal));
}

void a_failed_refresh_leaves_the_old_tgt_in_use(void **)
{
    Fixture f;
    f.answer(ChildResult::ok, 3600);
    assert_true(f.ensure(false).ok());
    f.answer(ChildResult::kdc_unreachable, 0);
    assert_false(f.ensure(true).ok()); // the refresh: the KDC is down
    // The old TGT has most of its life left: binds go on with it.
    assert_true(f.ensure(false).ok());
    assert_int_equal(f.runs(), 2);
}

void a_failed_renewal_a_bind_waited_for_is_tried_again(void **)
{
    // The bind failed, its renewal too (the KDC is down): the ccache is
    // refreshed again after offline_timeout without another bind asking
    // (vigil_policy only reads it).
    Fixture f(1s);
    f.answer(ChildResult::ok, 3600);
    assert_true(f.ensure(false).ok());
    f.answer(ChildResult::kdc_unreachable, 0);
    assert_false(f.ensure(true).ok());
    assert_int_equal(f.runs(), 2);
    f.answer(ChildResult::ok, 3600);
    assert_true(f.run_until([&] { return f.tgt->obtained() == 2; }));
    assert_int_equal(f.runs(), 3);
}

void a_tgt_with_almost_no_life_is_a_failure(void **)
{
    // A TGT whose end has passed (a clock ahead of the KDC's), or one with
    // seconds of life (a tiny maximum ticket life): not a TGT to refresh
    // every second, a failure that says why.
    for (std::int64_t life : {std::int64_t{0}, std::int64_t{5}}) {
        Fixture f;
        f.answer(ChildResult::ok, life);
        Status st = f.ensure(false);
        assert_false(st.ok());
        assert_int_equal(static_cast<int>(st.error().code), static_cast<int>(Errc::permission));
        assert_non_null(strstr(st.error().message.c_str(), "life left"));
        assert_int_equal(f.tgt->obtained(), 0);
        // Nothing good is held: the next bind asks the child again.
        f.answer(ChildResult::ok, 3600);
        assert_true(f.ensure(false).ok());
        assert_int_equal(f.runs(), 2);
        assert_true(f.ensure(false).ok());
        assert_int_equal(f.runs(), 2);
    }
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_first_bind_waits_for_a_tgt_then_it_is_reused),
        cmocka_unit_test(a_failed_bind_gets_a_new_tgt_whatever_the_old_ones_age),
        cmocka_unit_test(the_childs_refusals_keep_their_meaning),
        cmocka_unit_test(a_child_that_says_nothing_is_an_error),
        cmocka_unit_test(a_failed_refresh_leaves_the_old_tgt_in_use),
        cmocka_unit_test(a_failed_renewal_a_bind_waited_for_is_tried_again),
        cmocka_unit_test(a_tgt_with_almost_no_life_is_a_failure),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
