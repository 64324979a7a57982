// Offline logins end to end inside one process: the hash worker keeps the
// event loop free, and OfflineAuthenticator carries out the rules against a
// real credentials database with an injected clock.
#include "common.hpp"
#include "util/creds/hash_worker.hpp"
#include "util/creds/offline_auth.hpp"
#include "util/creds/password_hash.hpp"

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

using vigil::Errc;
using vigil::EventLoop;
using vigil::Result;
using vigil::Secret;
using vigil::Status;
using namespace vigil::creds;
using namespace std::chrono_literals;

namespace {

constexpr const char *good = "correct horse battery staple";

std::unique_ptr<EventLoop> make_loop()
{
    auto loop = EventLoop::create();
    assert_true(loop.ok());
    return std::move(*loop);
}

std::unique_ptr<HashWorker> make_worker(EventLoop &loop, HashWorker::Limits limits = {})
{
    auto worker = HashWorker::start(loop, limits, 2);
    assert_true(worker.ok());
    return std::move(*worker);
}

// Runs the loop until quit; a test that never finishes fails instead of hanging.
void run_bounded(EventLoop &loop)
{
    vigil::Timer guard = loop.after(30s, [&loop] { loop.quit(99); });
    assert_int_equal(loop.run(), 0);
}

// Spins (off the loop) until `flag` is set or `limit` passed; true if set.
bool wait_for(const std::atomic<bool> &flag, std::chrono::seconds limit = 10s)
{
    auto until = std::chrono::steady_clock::now() + limit;
    while (!flag.load()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// ------------------------------------------------------------------ worker

// The job cannot finish unless the loop runs timers while it is busy: it
// waits for five ticks, then computes a real hash. Run on the loop thread,
// it would wait out its bound and the test would fail.
void loop_keeps_running_while_a_hash_is_computed(void **)
{
    auto loop = make_loop();
    auto worker = make_worker(*loop, {1, 4});
    std::atomic<int> ticks{0};
    std::atomic<bool> five_ticks{false};
    vigil::Timer tick;
    std::function<void()> on_tick = [&] {
        if (++ticks >= 5) five_ticks = true;
        tick = loop->after(1ms, on_tick);
    };
    tick = loop->after(1ms, on_tick);

    bool saw_ticks = false;
    std::optional<Result<std::string>> hashed;
    Status queued = worker->run<std::string>(
        [&] {
            saw_ticks = wait_for(five_ticks);
            return hash_password(Secret(good), 2);
        },
        [&](Result<std::string> r) {
            hashed.emplace(std::move(r));
            loop->quit(0);
        });
    assert_true(queued.ok());
    run_bounded(*loop);
    assert_true(saw_ticks);
    assert_true(hashed && hashed->ok());
    assert_true((*hashed)->starts_with("$"));
}

void worker_verifies_good_and_bad_passwords(void **)
{
    auto loop = make_loop();
    auto worker = make_worker(*loop);
    auto stored = hash_password(Secret(good), 2);
    assert_true(stored.ok());
    std::optional<bool> good_matched, bad_matched;
    auto maybe_quit = [&] {
        if (good_matched && bad_matched) loop->quit(0);
    };
    assert_true(worker->verify(Secret(good), *stored, [&](Result<bool> r) {
        assert_true(r.ok());
        good_matched = *r;
        maybe_quit();
    }).ok());
    assert_true(worker->verify(Secret("wrong"), *stored, [&](Result<bool> r) {
        assert_true(r.ok());
        bad_matched = *r;
        maybe_quit();
    }).ok());
    run_bounded(*loop);
    assert_true(*good_matched);
    assert_false(*bad_matched);
}

// New hashes carry the worker's cost: the same parameter field as
// libxcrypt's setting for that cost; a cost out of range never starts.
void worker_hashes_with_its_cost(void **)
{
    auto loop = make_loop();
    assert_false(HashWorker::start(*loop, {}, 0).ok());
    assert_false(HashWorker::start(*loop, {}, max_hash_cost + 1).ok());
    auto started = HashWorker::start(*loop, {}, 3);
    assert_true(started.ok());
    std::optional<Result<std::string>> hashed;
    assert_true((*started)->hash(Secret(good), [&](Result<std::string> r) {
        hashed.emplace(std::move(r));
        loop->quit(0);
    }).ok());
    run_bounded(*loop);
    assert_true(hashed && hashed->ok());
    auto reference = hash_password_with(Secret(good), "$y$", 3);
    assert_true(reference.ok());
    const std::string &h = **hashed;
    assert_string_equal(h.substr(0, h.find('$', 3)).c_str(), reference->substr(0, reference->find('$', 3)).c_str());
    auto ok = password_matches(Secret(good), h);
    assert_true(ok.ok() && *ok);
}

// hash_and_keep: the keep step (a durable write) runs in the worker, not on
// the loop's thread, with the hash; its status is what `done` gets; a hash
// that fails never reaches it.
void worker_hashes_and_keeps_off_the_loop(void **)
{
    auto loop = make_loop();
    auto worker = make_worker(*loop);
    const auto loop_thread = std::this_thread::get_id();
    std::atomic<bool> kept_on_loop_thread{true};
    std::string kept;
    std::optional<Status> first, second, third;
    auto maybe_quit = [&] {
        if (first && second && third) loop->quit(0);
    };
    assert_true(worker->hash_and_keep(Secret(good), [&](std::string h) -> Status {
        kept_on_loop_thread = std::this_thread::get_id() == loop_thread;
        kept = std::move(h);
        return {};
    }, [&](Status st) { first.emplace(std::move(st)); maybe_quit(); }).ok());
    assert_true(worker->hash_and_keep(Secret(good), [](std::string) -> Status {
        return vigil::Error{vigil::Errc::io, "no room to write"};
    }, [&](Status st) { second.emplace(std::move(st)); maybe_quit(); }).ok());
    std::atomic<bool> empty_kept{false};
    assert_true(worker->hash_and_keep(Secret(""), [&](std::string) -> Status {
        empty_kept = true;
        return {};
    }, [&](Status st) { third.emplace(std::move(st)); maybe_quit(); }).ok());
    run_bounded(*loop);
    assert_true(first->ok());
    assert_false(kept_on_loop_thread.load());
    auto matches = password_matches(Secret(good), kept);
    assert_true(matches.ok() && *matches);
    assert_false(second->ok());
    assert_string_equal(second->error().message.c_str(), "no room to write");
    assert_false(third->ok());
    assert_false(empty_kept.load());
}

void worker_refuses_jobs_beyond_its_bound(void **)
{
    auto loop = make_loop();
    auto worker = make_worker(*loop, {1, 2});
    std::atomic<bool> release{false};
    int delivered = 0;
    auto blocked = [&]() -> Result<bool> { return wait_for(release); };
    auto count = [&](Result<bool> r) {
        assert_true(r.ok() && *r);
        if (++delivered == 2) loop->quit(0);
    };
    assert_true(worker->run<bool>(blocked, count).ok());
    assert_true(worker->run<bool>(blocked, count).ok());
    Status third = worker->run<bool>(blocked, count);
    assert_false(third.ok());
    assert_int_equal(static_cast<int>(third.error().code), static_cast<int>(Errc::unavailable));
    release = true;
    run_bounded(*loop);
    assert_int_equal(delivered, 2);
}

void destroying_the_worker_joins_and_runs_no_callback(void **)
{
    auto loop = make_loop();
    auto worker = make_worker(*loop, {1, 4});
    std::atomic<bool> started{false}, release{false};
    int delivered = 0;
    assert_true(worker->run<bool>([&]() -> Result<bool> {
        started = true;
        return wait_for(release);
    }, [&](Result<bool>) { ++delivered; }).ok());
    assert_true(worker->hash(Secret(good), [&](Result<std::string>) { ++delivered; }).ok());
    assert_true(wait_for(started));
    release = true;
    worker.reset(); // joins what runs; nothing finished is delivered any more
    vigil::Timer stop = loop->after(20ms, [&] { loop->quit(0); });
    run_bounded(*loop);
    assert_int_equal(delivered, 0);
}

void an_exception_in_a_job_arrives_as_an_error(void **)
{
    auto loop = make_loop();
    auto worker = make_worker(*loop);
    std::optional<Result<int>> got;
    assert_true(worker->run<int>([]() -> Result<int> { throw std::runtime_error("boom"); },
                                 [&](Result<int> r) {
                                     got.emplace(std::move(r));
                                     loop->quit(0);
                                 }).ok());
    run_bounded(*loop);
    assert_true(got && !got->ok());
    assert_int_equal(static_cast<int>(got->error().code), static_cast<int>(Errc::internal));
}

// ------------------------------------------------------------------ authenticator

struct Fixture {
    test::TempDir dir;
    std::unique_ptr<EventLoop> loop = make_loop();
    // The store before the worker: the worker (joined when destroyed) goes
    // first, so a job that writes to the store never outlives it.
    std::optional<CredentialStore> store;
    std::unique_ptr<HashWorker> worker;
    WallTime now{std::chrono::seconds(1'700'000'000)};
    std::optional<OfflineAuthenticator> auth;

    explicit Fixture(OfflineSettings settings = {3, 5min, std::chrono::days(7)}, HashWorker::Limits limits = {})
        : worker(make_worker(*loop, limits))
    {
        auto opened = CredentialStore::open(dir.path(), "LDAP");
        assert_true(opened.ok());
        store.emplace(std::move(*opened));
        auth.emplace(*store, *worker, DomainNaming{"LDAP", false}, settings, [this] { return now; });
    }

    void remember(const char *name, const char *password)
    {
        std::optional<Status> stored;
        assert_true(auth->remember(name, Secret(password), [&](Status st) {
            stored.emplace(std::move(st));
            loop->quit(0);
        }).ok());
        run_bounded(*loop);
        assert_true(stored && stored->ok());
    }

    // One login; `synchronous` says whether the answer came before
    // authenticate() returned, i.e. without a hash being computed.
    OfflineAuthenticator::Outcome login(const char *name, const char *password, bool *synchronous = nullptr)
    {
        std::optional<Result<OfflineAuthenticator::Outcome>> got;
        bool returned = false;
        bool answered_before_return = false;
        assert_true(auth->authenticate(name, Secret(password), [&](Result<OfflineAuthenticator::Outcome> r) {
            answered_before_return = !returned;
            got.emplace(std::move(r));
            if (returned) loop->quit(0);
        }).ok());
        returned = true;
        if (!got) run_bounded(*loop);
        if (synchronous) *synchronous = answered_before_return;
        assert_true(got && got->ok());
        return **got;
    }
};

int verdict(const OfflineAuthenticator::Outcome &o) { return static_cast<int>(o.verdict); }
int expect(OfflineVerdict v) { return static_cast<int>(v); }

void remembered_password_logs_in_offline_under_any_spelling(void **)
{
    Fixture f;
    f.remember("Alice@LDAP", good);
    assert_int_equal(verdict(f.login("alice", good)), expect(OfflineVerdict::allowed));
    assert_int_equal(verdict(f.login("ALICE", good)), expect(OfflineVerdict::allowed));
    assert_int_equal(verdict(f.login("alice", "wrong")), expect(OfflineVerdict::wrong_password));
    assert_int_equal(verdict(f.login("bob", good)), expect(OfflineVerdict::no_credentials));
    assert_false(f.auth->authenticate("alice@OTHER", Secret(good), [](auto) {}).ok());
}

void lockout_is_decided_before_any_hash_and_lifts_after_the_delay(void **)
{
    Fixture f;
    f.remember("alice", good);
    for (int i = 0; i < 2; ++i) assert_int_equal(verdict(f.login("alice", "wrong")), expect(OfflineVerdict::wrong_password));
    auto third = f.login("alice", "wrong");
    assert_int_equal(verdict(third), expect(OfflineVerdict::wrong_password));
    assert_true(third.locked_until && *third.locked_until == f.now + 5min);

    bool synchronous = false;
    auto locked = f.login("alice", good, &synchronous);
    assert_int_equal(verdict(locked), expect(OfflineVerdict::locked));
    assert_true(synchronous); // answered without waiting for a hash

    auto summary = f.auth->summary("Alice");
    assert_true(summary.ok() && summary->has_value());
    assert_int_equal((*summary)->failed_attempts, 3);

    f.now += 5min;
    assert_int_equal(verdict(f.login("alice", good, &synchronous)), expect(OfflineVerdict::allowed));
    assert_false(synchronous);
    assert_int_equal((*f.auth->summary("alice"))->failed_attempts, 0);
}

// Five guesses sent at once: each must see the counter the previous left,
// and they take one worker slot between them (a worker with room for one
// job refuses a second), so guesses past the limit compute no hash at all.
void parallel_guesses_for_one_user_are_counted_one_by_one(void **)
{
    Fixture f({3, 5min, std::chrono::days(7)}, {1, 1});
    f.remember("alice", good);
    std::vector<OfflineVerdict> verdicts;
    for (int i = 0; i < 5; ++i) {
        assert_true(f.auth->authenticate(i % 2 ? "Alice" : "alice", Secret("wrong"),
                                         [&](Result<OfflineAuthenticator::Outcome> r) {
                                             assert_true(r.ok());
                                             verdicts.push_back(r->verdict);
                                             if (verdicts.size() == 5) f.loop->quit(0);
                                         }).ok());
    }
    run_bounded(*f.loop);
    std::vector<OfflineVerdict> expected{OfflineVerdict::wrong_password, OfflineVerdict::wrong_password,
                                         OfflineVerdict::wrong_password, OfflineVerdict::locked,
                                         OfflineVerdict::locked};
    assert_true(verdicts == expected);
}

void a_flood_of_guesses_for_one_user_is_refused_not_queued(void **)
{
    Fixture f({0, 5min, std::chrono::days(0)});
    f.remember("alice", good);
    std::size_t answered = 0, accepted = 0, refused = 0;
    const std::size_t sent = 20;
    for (std::size_t i = 0; i < sent; ++i) {
        Status st = f.auth->authenticate("alice", Secret("wrong"), [&](Result<OfflineAuthenticator::Outcome>) {
            if (++answered == accepted) f.loop->quit(0);
        });
        if (st) ++accepted;
        else {
            assert_int_equal(static_cast<int>(st.error().code), static_cast<int>(Errc::unavailable));
            ++refused;
        }
    }
    // One runs, a bounded number wait behind it; another user is not affected.
    assert_true(accepted < sent && refused > 0);
    run_bounded(*f.loop);
    assert_int_equal(answered, accepted);
    assert_int_equal(verdict(f.login("bob", good)), expect(OfflineVerdict::no_credentials));
}

void forgetting_a_disabled_account_drops_its_hash(void **)
{
    Fixture f;
    f.remember("alice", good);
    assert_true(f.auth->forget("alice@LDAP").ok());
    assert_int_equal(verdict(f.login("alice", good)), expect(OfflineVerdict::no_credentials));
    auto summary = f.auth->summary("alice");
    assert_true(summary.ok() && !summary->has_value());
}

void remembering_again_resets_a_lock(void **)
{
    Fixture f;
    f.remember("alice", good);
    for (int i = 0; i < 3; ++i) (void)f.login("alice", "wrong");
    assert_int_equal(verdict(f.login("alice", good)), expect(OfflineVerdict::locked));
    f.remember("alice", good); // an online login succeeded
    assert_int_equal(verdict(f.login("alice", good)), expect(OfflineVerdict::allowed));
}

// Neither the password stored nor a wrong one tried offline reaches the file.
void no_password_ever_reaches_the_database(void **)
{
    Fixture f;
    const char *wrong = "Wr0ng-guess-7731";
    f.remember("alice", good);
    (void)f.login("alice", wrong);
    (void)f.login("alice", good);
    std::ifstream in(f.store->path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    assert_true(bytes.str().find("cachedPassword") != std::string::npos);
    assert_true(bytes.str().find(good) == std::string::npos);
    assert_true(bytes.str().find(wrong) == std::string::npos);
}

void cached_credentials_expire(void **)
{
    Fixture f;
    f.remember("alice", good);
    f.now += std::chrono::days(7);
    assert_int_equal(verdict(f.login("alice", good)), expect(OfflineVerdict::expired));
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loop_keeps_running_while_a_hash_is_computed),
        cmocka_unit_test(worker_verifies_good_and_bad_passwords),
        cmocka_unit_test(worker_hashes_with_its_cost),
        cmocka_unit_test(worker_hashes_and_keeps_off_the_loop),
        cmocka_unit_test(worker_refuses_jobs_beyond_its_bound),
        cmocka_unit_test(destroying_the_worker_joins_and_runs_no_callback),
        cmocka_unit_test(an_exception_in_a_job_arrives_as_an_error),
        cmocka_unit_test(remembered_password_logs_in_offline_under_any_spelling),
        cmocka_unit_test(lockout_is_decided_before_any_hash_and_lifts_after_the_delay),
        cmocka_unit_test(parallel_guesses_for_one_user_are_counted_one_by_one),
        cmocka_unit_test(a_flood_of_guesses_for_one_user_is_refused_not_queued),
        cmocka_unit_test(forgetting_a_disabled_account_drops_its_hash),
        cmocka_unit_test(remembering_again_resets_a_lock),
        cmocka_unit_test(no_password_ever_reaches_the_database),
        cmocka_unit_test(cached_credentials_expire),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
