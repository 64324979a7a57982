// sbus: calls, replies, errors, timeouts, peers going away, refused uids,
// UTF-8 checks, signals. Server and client share one loop in this process.
// (No cmocka assert inside a loop callback: its longjmp would cross tevent.)
#include "util/sbus/dp_iface.hpp"
#include "util/sbus/server.hpp"

#include "common.hpp"
// cmocka's fail() macro would rewrite sbus::Request::fail() below.
#undef fail

#include <optional>

using namespace std::chrono_literals;
using vigil::Errc;
using vigil::EventLoop;
using vigil::Result;
namespace sbus = vigil::sbus;

namespace {

constexpr const char *iface = "org.vigil.Test";

struct Fixture {
    test::TempDir dir;
    std::string path;
    std::unique_ptr<EventLoop> loop;
    std::unique_ptr<sbus::Server> server;
    std::shared_ptr<sbus::Connection> client;
    std::vector<sbus::Request> held; // requests a test answers later (or never)
    int handled = 0;
    std::optional<uid_t> seen_uid;
    std::shared_ptr<sbus::Connection> server_side;

    explicit Fixture(std::vector<uid_t> allowed = {getuid()})
    {
        mkdir((dir / "private").c_str(), 0700);
        path = dir / "private/sbus";
        auto l = EventLoop::create();
        assert_true(l.ok());
        loop = std::move(*l);
        auto s = sbus::Server::listen(*loop, path, std::move(allowed), methods(),
                                      [this](const std::shared_ptr<sbus::Connection> &c) { server_side = c; });
        if (!s) print_error("%s\n", s.error().message.c_str());
        assert_true(s.ok());
        server = std::move(*s);
        auto c = sbus::Connection::connect(*loop, path, {});
        assert_true(c.ok());
        client = std::move(*c);
    }

    std::vector<sbus::Method> methods()
    {
        return {
            {iface, "echo", "s", "s", [this](sbus::Request r) { ++handled; seen_uid = r.peer_uid(); r.reply({r.args()[0]}); }},
            {iface, "types", "biuxtsas", "biuxtsas", [this](sbus::Request r) { ++handled; r.reply(r.args()); }},
            {iface, "missing", "s", "", [this](sbus::Request r) {
                 ++handled;
                 r.fail({Errc::not_found, "no user " + sbus::get<std::string>(r.args(), 0)});
             }},
            {iface, "hang", "", "", [this](sbus::Request r) { ++handled; held.push_back(std::move(r)); }},
            {iface, "drop", "", "", [this](sbus::Request) { ++handled; }},
            {iface, "bad_reply", "", "s", [this](sbus::Request r) { ++handled; r.reply({std::string("\xff")}); }},
            {iface, "wrong_type", "", "s", [this](sbus::Request r) { ++handled; r.reply({std::uint32_t{1}}); }},
        };
    }

    // Calls and runs the loop until the reply (or a 5 s safety bound).
    Result<sbus::Args> call(const char *method, const sbus::Args &in, std::chrono::milliseconds timeout = 2s)
    {
        std::optional<Result<sbus::Args>> out;
        vigil::Status st = client->call(iface, method, in, timeout, [&](Result<sbus::Args> r) {
            out.emplace(std::move(r));
            loop->quit(0);
        });
        if (!st) return std::move(st).error();
        vigil::Timer guard = loop->after(5s, [&] { loop->quit(1); });
        loop->run();
        if (!out) return vigil::Error{Errc::internal, "test: no reply within 5 s"};
        return std::move(*out);
    }

    void spin(std::chrono::milliseconds how_long)
    {
        vigil::Timer t = loop->after(how_long, [&] { loop->quit(0); });
        loop->run();
    }
};

void call_gets_reply(void **)
{
    Fixture f;
    auto r = f.call("echo", {std::string("hello")});
    assert_true(r.ok());
    assert_string_equal(sbus::get<std::string>(*r, 0).c_str(), "hello");
    assert_int_equal(f.handled, 1);
}

void every_type_round_trips(void **)
{
    Fixture f;
    sbus::Args in{true, std::int32_t{-5}, std::uint32_t{4000000000u}, std::int64_t{-1} << 40,
                  std::uint64_t{1} << 63, std::string("caf\xc3\xa9"), sbus::StringList{"a", "", "c"}};
    auto r = f.call("types", in);
    assert_true(r.ok());
    assert_true(*r == in);
}

void handler_error_keeps_its_code_and_message(void **)
{
    Fixture f;
    auto r = f.call("missing", {std::string("alice")});
    assert_false(r.ok());
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::not_found));
    assert_string_equal(r.error().message.c_str(), "no user alice");
}

void unknown_method_is_refused(void **)
{
    Fixture f;
    auto r = f.call("nope", {});
    assert_false(r.ok());
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::protocol));
    assert_non_null(strstr(r.error().message.c_str(), "no method org.vigil.Test.nope"));
}

void wrong_argument_types_are_refused_before_the_handler(void **)
{
    Fixture f;
    auto r = f.call("echo", {std::uint32_t{7}});
    assert_false(r.ok());
    assert_non_null(strstr(r.error().message.c_str(), "org.vigil.Test.echo takes (s), not (u)"));
    assert_int_equal(f.handled, 0);
}

void unanswered_call_times_out_with_its_name_and_bound(void **)
{
    Fixture f;
    auto start = EventLoop::now();
    auto r = f.call("hang", {}, 100ms);
    assert_false(r.ok());
    assert_true(EventLoop::now() - start >= 100ms);
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::timeout));
    assert_string_equal(r.error().message.c_str(),
                        "no reply to org.vigil.Test.hang within 100 ms (the peer is busy or hung)");
}

void deferred_reply_arrives(void **)
{
    Fixture f;
    vigil::Timer later;
    std::optional<Result<sbus::Args>> out;
    assert_true(f.client->call(iface, "hang", {}, 2s, [&](Result<sbus::Args> r) { out.emplace(std::move(r)); f.loop->quit(0); }).ok());
    later = f.loop->after(20ms, [&] { if (!f.held.empty()) f.held.front().reply({}); });
    vigil::Timer guard = f.loop->after(5s, [&] { f.loop->quit(1); });
    f.loop->run();
    assert_true(out.has_value());
    assert_true(out->ok());
}

void dropped_request_answers_internal_error(void **)
{
    Fixture f;
    auto r = f.call("drop", {});
    assert_false(r.ok());
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::internal));
    assert_string_equal(r.error().message.c_str(), "the handler gave no answer");
}

void reply_of_the_wrong_type_is_an_internal_error(void **)
{
    Fixture f;
    auto r = f.call("wrong_type", {});
    assert_false(r.ok());
    assert_string_equal(r.error().message.c_str(), "the handler replied with the wrong types");
}

void invalid_utf8_is_refused_before_sending(void **)
{
    Fixture f;
    bool called = false;
    vigil::Status st = f.client->call(iface, "echo", {std::string("bad \xc3\x28")}, 1s, [&](auto) { called = true; });
    assert_false(st.ok());
    assert_int_equal(static_cast<int>(st.error().code), static_cast<int>(Errc::invalid_argument));
    assert_string_equal(st.error().message.c_str(),
                        "org.vigil.Test.echo: argument 1 holds a string that is not valid UTF-8 or holds NUL");
    st = f.client->call(iface, "echo", {std::string("nul\0inside", 10)}, 1s, [&](auto) { called = true; });
    assert_false(st.ok());
    f.spin(50ms);
    assert_false(called);
    assert_int_equal(f.handled, 0);
    // A handler's bad string becomes an error, not an abort.
    auto r = f.call("bad_reply", {});
    assert_false(r.ok());
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::invalid_argument));
}

void peer_credentials_are_known_to_the_server(void **)
{
    Fixture f;
    assert_true(f.call("echo", {std::string("x")}).ok());
    assert_true(f.seen_uid.has_value());
    assert_int_equal(*f.seen_uid, getuid());
    assert_non_null(f.server_side.get());
    assert_int_equal(*f.server_side->peer_pid(), getpid());
}

void server_going_away_fails_pending_calls_and_tells_the_client(void **)
{
    Fixture f;
    assert_true(f.call("echo", {std::string("x")}).ok());
    bool told = false;
    f.client->on_disconnect([&] { told = true; });
    std::optional<Result<sbus::Args>> out;
    assert_true(f.client->call(iface, "hang", {}, 5s, [&](Result<sbus::Args> r) { out.emplace(std::move(r)); }).ok());
    // The held request is never answered: the server goes away first.
    vigil::Timer kill = f.loop->after(50ms, [&] { f.server.reset(); f.server_side.reset(); });
    vigil::Timer stop = f.loop->after(300ms, [&] { f.loop->quit(0); });
    f.loop->run();
    assert_true(told);
    assert_true(out.has_value());
    assert_false(out->ok());
    assert_int_equal(static_cast<int>(out->error().code), static_cast<int>(Errc::unavailable));
    assert_false(f.client->connected());
    auto again = f.client->call(iface, "echo", {std::string("x")}, 1s, [](auto) {});
    assert_false(again.ok());
    assert_int_equal(static_cast<int>(again.error().code), static_cast<int>(Errc::unavailable));
}

void client_going_away_is_noticed_by_the_server(void **)
{
    Fixture f;
    assert_true(f.call("echo", {std::string("x")}).ok());
    assert_int_equal(f.server->connection_count(), 1);
    bool told = false;
    f.server_side->on_disconnect([&] { told = true; });
    f.server_side.reset();
    f.client.reset();
    f.spin(100ms);
    assert_true(told);
    assert_int_equal(f.server->connection_count(), 0);
}

void refused_uid_never_reaches_a_handler(void **)
{
    Fixture f({getuid() + 1});
    bool told = false;
    f.client->on_disconnect([&] { told = true; });
    auto r = f.call("echo", {std::string("x")}, 1s);
    assert_false(r.ok());
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::unavailable));
    assert_int_equal(f.handled, 0);
    f.spin(50ms);
    assert_true(told);
}

void signals_reach_subscribers(void **)
{
    Fixture f;
    assert_true(f.call("echo", {std::string("x")}).ok()); // server_side is known now
    std::optional<sbus::Args> got;
    f.client->on_signal(iface, "reloaded", [&](const sbus::Args &a) { got = a; f.loop->quit(0); });
    assert_true(f.server_side->emit(iface, "reloaded", {std::uint32_t{3}}).ok());
    vigil::Timer guard = f.loop->after(5s, [&] { f.loop->quit(1); });
    f.loop->run();
    assert_true(got.has_value());
    assert_int_equal(sbus::get<std::uint32_t>(*got, 0), 3);
}

void socket_is_private(void **)
{
    Fixture f;
    struct stat st;
    assert_int_equal(stat(f.path.c_str(), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    f.server.reset();
    assert_int_not_equal(stat(f.path.c_str(), &st), 0); // removed on shutdown
}

void open_socket_directory_is_refused(void **)
{
    test::TempDir dir;
    chmod(dir.path().c_str(), 0755);
    auto loop = EventLoop::create();
    auto s = sbus::Server::listen(**loop, dir / "sbus", {getuid()}, {}, nullptr);
    assert_false(s.ok());
    assert_int_equal(static_cast<int>(s.error().code), static_cast<int>(Errc::permission));
    std::string expected = "sbus socket directory " + dir.path() + " is open to group or others: it must be 0700";
    assert_string_equal(s.error().message.c_str(), expected.c_str());
}

void connect_to_missing_socket_fails_clearly(void **)
{
    test::TempDir dir;
    auto loop = EventLoop::create();
    auto c = sbus::Connection::connect(**loop, dir / "none", {});
    assert_false(c.ok());
    assert_int_equal(static_cast<int>(c.error().code), static_cast<int>(Errc::unavailable));
    assert_non_null(strstr(c.error().message.c_str(), ("cannot connect to " + (dir / "none")).c_str()));
}

// ---- the provider's cacheChanged lines (dp_iface.hpp)

using vigil::dp_iface::CacheChange;

std::vector<std::string> lines_of(const std::vector<std::string> &changes)
{
    std::vector<std::string> lines;
    vigil::dp_iface::for_each_change_line(changes, [&](std::string_view l) {
        lines.emplace_back(l);
        return true;
    });
    return lines;
}

void cache_changes_travel_as_lines_of_one_string(void **)
{
    std::string text;
    assert_true(vigil::dp_iface::append_change(text, {true, "alice", 10001, 10077, CacheChange::Kind::entry}));
    assert_true(vigil::dp_iface::append_change(text, {false, "devs", 20001, 0, CacheChange::Kind::timestamps}));
    assert_true(vigil::dp_iface::append_change(text, {false, "ops", 0, 0, CacheChange::Kind::expired}));
    assert_string_equal(text.c_str(), "u\talice\t10001\t10077\ng\tdevs\t20001\t0\tt\ng\tops\t0\t0\tx");
    const auto lines = lines_of({text});
    assert_int_equal(lines.size(), 3);
    auto alice = vigil::dp_iface::parse_change(lines[0]);
    assert_true(alice && alice->user && alice->name == "alice" && alice->id == 10001 && alice->old_id == 10077 &&
                alice->kind == CacheChange::Kind::entry);
    auto devs = vigil::dp_iface::parse_change(lines[1]);
    assert_true(devs && !devs->user && devs->name == "devs" && devs->id == 20001 && devs->old_id == 0 &&
                devs->kind == CacheChange::Kind::timestamps);
    auto ops = vigil::dp_iface::parse_change(lines[2]);
    assert_true(ops && ops->name == "ops" && ops->kind == CacheChange::Kind::expired);
    // One line a string, as before, reads the same.
    assert_int_equal(lines_of({"u\talice\t1\t0", "*t"}).size(), 2);
}

void a_name_that_would_break_its_line_is_not_appended(void **)
{
    std::string text = "u\ta\t1\t0";
    assert_false(vigil::dp_iface::append_change(text, {true, "tab\there", 1, 0, CacheChange::Kind::entry}));
    assert_false(vigil::dp_iface::append_change(text, {true, "new\nline", 1, 0, CacheChange::Kind::entry}));
    assert_string_equal(text.c_str(), "u\ta\t1\t0");
}

void a_cache_change_line_not_understood_is_refused(void **)
{
    for (const char *line : {"", "*", "*t", "*x", "u", "u\talice", "u\talice\t1", "x\talice\t1\t0",
                             "uu\talice\t1\t0", "u\talice\t1a\t0", "u\talice\t1\t-2", "u\talice\t1\t0\ty",
                             "u\talice\t1\t0\tt\tt", "u\talice\t99999999999\t0"}) {
        assert_false(vigil::dp_iface::parse_change(line).has_value());
    }
    // An empty string is one empty line: not understood, so "everything".
    assert_int_equal(lines_of({""}).size(), 1);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(call_gets_reply),
        cmocka_unit_test(every_type_round_trips),
        cmocka_unit_test(handler_error_keeps_its_code_and_message),
        cmocka_unit_test(unknown_method_is_refused),
        cmocka_unit_test(wrong_argument_types_are_refused_before_the_handler),
        cmocka_unit_test(unanswered_call_times_out_with_its_name_and_bound),
        cmocka_unit_test(deferred_reply_arrives),
        cmocka_unit_test(dropped_request_answers_internal_error),
        cmocka_unit_test(reply_of_the_wrong_type_is_an_internal_error),
        cmocka_unit_test(invalid_utf8_is_refused_before_sending),
        cmocka_unit_test(peer_credentials_are_known_to_the_server),
        cmocka_unit_test(server_going_away_fails_pending_calls_and_tells_the_client),
        cmocka_unit_test(client_going_away_is_noticed_by_the_server),
        cmocka_unit_test(refused_uid_never_reaches_a_handler),
        cmocka_unit_test(signals_reach_subscribers),
        cmocka_unit_test(socket_is_private),
        cmocka_unit_test(open_socket_directory_is_refused),
        cmocka_unit_test(connect_to_missing_socket_fails_clearly),
        cmocka_unit_test(cache_changes_travel_as_lines_of_one_string),
        cmocka_unit_test(a_name_that_would_break_its_line_is_not_appended),
        cmocka_unit_test(a_cache_change_line_not_understood_is_refused),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
