// vigil_nss's in-memory tables: formatted answers found by string_view,
// bounded in entries and bytes, cleared whole or one kind at a time.
#include "common.hpp"
#include "responder/nss/nss_memory.hpp"

#include <string>

using vigil::dp_iface::Lookup;
using vigil::responder::Formatted;
using vigil::responder::HotAnswers;
using vigil::responder::LookupTable;

namespace {

Formatted answer(const std::string &name, std::size_t size)
{
    return {std::make_shared<const std::vector<std::uint8_t>>(size, std::uint8_t{7}), vigil::sysdb::Timestamps{1, 2}, name};
}

void keys_of_one_kind_do_not_meet_another(void **)
{
    LookupTable<int> t;
    t.put(Lookup::user_by_name, "alice", 1);
    t.put(Lookup::group_by_name, "alice", 2);
    t.put(Lookup::user_by_uid, "10001", 3);
    assert_int_equal(*t.find(Lookup::user_by_name, std::string_view("alice")), 1);
    assert_int_equal(*t.find(Lookup::group_by_name, "alice"), 2);
    assert_null(t.find(Lookup::initgroups, "alice"));
    t.put(Lookup::user_by_name, "alice", 4); // replaced, not added
    assert_int_equal(t.size(), 3);
    assert_int_equal(*t.find(Lookup::user_by_name, "alice"), 4);
    t.erase(Lookup::user_by_name, "alice");
    assert_null(t.find(Lookup::user_by_name, "alice"));
    t.erase_if([](int v) { return v == 2; });
    assert_int_equal(t.size(), 1);
}

void answers_are_kept_and_found(void **)
{
    HotAnswers hot;
    hot.keep(Lookup::user_by_name, "alice", answer("alice", 40));
    const Formatted *f = hot.find(Lookup::user_by_name, "alice");
    assert_non_null(f);
    assert_string_equal(f->name.c_str(), "alice");
    assert_int_equal(f->body->size(), 40);
    assert_int_equal(f->timestamps->expires_at, 2);
    assert_null(hot.find(Lookup::user_by_uid, "alice"));
}

void past_the_entry_bound_the_table_starts_over(void **)
{
    HotAnswers hot({.entries = 3, .bytes = 1u << 20});
    for (std::string n : {"a", "b", "c"}) hot.keep(Lookup::user_by_name, n, answer(n, 10));
    assert_int_equal(hot.size(), 3);
    hot.keep(Lookup::user_by_name, "d", answer("d", 10));
    assert_int_equal(hot.size(), 1);
    assert_non_null(hot.find(Lookup::user_by_name, "d"));
    assert_null(hot.find(Lookup::user_by_name, "a"));
}

void past_the_byte_bound_the_table_starts_over(void **)
{
    HotAnswers hot({.entries = 1000, .bytes = 1000});
    hot.keep(Lookup::group_by_name, "big", answer("big", 600));
    hot.keep(Lookup::group_by_name, "small", answer("small", 100));
    assert_int_equal(hot.size(), 2);
    assert_true(hot.bytes() <= 1000);
    hot.keep(Lookup::group_by_name, "another", answer("another", 600));
    assert_int_equal(hot.size(), 1);
    assert_true(hot.bytes() <= 1000);
    // One answer larger than the whole table is never kept.
    hot.keep(Lookup::group_by_name, "huge", answer("huge", 5000));
    assert_null(hot.find(Lookup::group_by_name, "huge"));
    assert_true(hot.bytes() <= 1000);
}

void replacing_an_answer_does_not_count_it_twice(void **)
{
    HotAnswers hot({.entries = 1000, .bytes = 1000});
    for (int i = 0; i < 50; ++i) hot.keep(Lookup::user_by_name, "alice", answer("alice", 300));
    assert_int_equal(hot.size(), 1);
    assert_true(hot.bytes() < 1000);
}

void initgroups_answers_can_go_alone(void **)
{
    HotAnswers hot;
    hot.keep(Lookup::initgroups, "alice", answer("alice", 8));
    hot.keep(Lookup::user_by_name, "alice", answer("alice", 40));
    const std::size_t before = hot.bytes();
    hot.clear(Lookup::initgroups);
    assert_null(hot.find(Lookup::initgroups, "alice"));
    assert_non_null(hot.find(Lookup::user_by_name, "alice"));
    assert_true(hot.bytes() < before);
    hot.clear();
    assert_int_equal(hot.size(), 0);
    assert_int_equal(hot.bytes(), 0);
}

// A change of one object drops its answers (by name, by each id it was
// kept under, by the ids the change names, its initgroups) and nothing else.
void a_change_forgets_one_object_only(void **)
{
    HotAnswers hot;
    hot.keep(Lookup::user_by_name, "alice", answer("alice", 40));
    hot.keep(Lookup::user_by_uid, "10001", answer("alice", 40));
    hot.keep(Lookup::user_by_uid, "10077", answer("alice", 40)); // an older uid, still kept
    hot.keep(Lookup::initgroups, "alice", answer("alice", 8));
    hot.keep(Lookup::user_by_name, "bob", answer("bob", 40));
    hot.keep(Lookup::user_by_uid, "10002", answer("bob", 40));
    hot.keep(Lookup::group_by_name, "alice", answer("alice", 30)); // a group of the same name
    hot.keep(Lookup::group_by_gid, "20001", answer("alice", 30));
    const std::size_t bob_and_group = hot.bytes() - 3 * (5 + 5 + 40 + 128) - (5 + 5 + 8 + 128);
    hot.forget(true, "alice", 10001, 0);
    assert_null(hot.find(Lookup::user_by_name, "alice"));
    assert_null(hot.find(Lookup::user_by_uid, "10001"));
    assert_null(hot.find(Lookup::user_by_uid, "10077"));
    assert_null(hot.find(Lookup::initgroups, "alice"));
    assert_non_null(hot.find(Lookup::user_by_name, "bob"));
    assert_non_null(hot.find(Lookup::user_by_uid, "10002"));
    assert_non_null(hot.find(Lookup::group_by_name, "alice"));
    assert_non_null(hot.find(Lookup::group_by_gid, "20001"));
    assert_int_equal(hot.bytes(), bob_and_group);

    // A uid that moved from bob to carol: the change names both ids, and
    // bob's answers under the old one go although carol never had them.
    hot.forget(true, "carol", 10003, 10002);
    assert_null(hot.find(Lookup::user_by_uid, "10002"));
    assert_non_null(hot.find(Lookup::user_by_name, "bob"));

    hot.forget(false, "alice");
    assert_null(hot.find(Lookup::group_by_name, "alice"));
    assert_null(hot.find(Lookup::group_by_gid, "20001"));
    assert_non_null(hot.find(Lookup::user_by_name, "bob"));
    // Forgetting what is not kept is harmless.
    hot.forget(true, "nobody", 5, 6);
    assert_int_equal(hot.size(), 1);
}

void a_timestamps_change_keeps_the_answers_expired(void **)
{
    HotAnswers hot;
    hot.keep(Lookup::user_by_name, "alice", answer("alice", 10));
    hot.keep(Lookup::user_by_uid, "10001", answer("alice", 10));
    hot.keep(Lookup::initgroups, "alice", answer("alice", 10));
    hot.keep(Lookup::user_by_name, "bob", answer("bob", 10));
    hot.keep(Lookup::group_by_name, "alice", answer("alice", 10)); // a group of the same name
    hot.expire(true, "alice");
    // alice's answers stay, every one expired; bob's and the group's are untouched.
    for (auto [lookup, key] : {std::pair{Lookup::user_by_name, "alice"}, {Lookup::user_by_uid, "10001"},
                               {Lookup::initgroups, "alice"}}) {
        const Formatted *f = hot.find(lookup, key);
        assert_non_null(f);
        assert_int_equal(f->body->size(), 10);
        assert_false(f->timestamps.has_value()); // to be read again
    }
    assert_int_equal(hot.find(Lookup::user_by_name, "bob")->timestamps->expires_at, 2);
    assert_int_equal(hot.find(Lookup::group_by_name, "alice")->timestamps->expires_at, 2);
    hot.expire_all();
    assert_int_equal(hot.size(), 5);
    assert_false(hot.find(Lookup::user_by_name, "bob")->timestamps.has_value());
    assert_false(hot.find(Lookup::group_by_name, "alice")->timestamps.has_value());
}

// An expiry the provider reported: the answers stay with the timestamps it
// wrote, so that no lookup reads them to learn they are expired.
void an_expiry_keeps_the_answers_with_the_timestamps_written(void **)
{
    const vigil::sysdb::Timestamps expired{0, 0};
    HotAnswers hot;
    hot.keep(Lookup::group_by_name, "devs", answer("devs", 10));
    hot.keep(Lookup::group_by_gid, "20001", answer("devs", 10));
    hot.keep(Lookup::group_by_name, "ops", answer("ops", 10));
    hot.keep(Lookup::initgroups, "alice", answer("alice", 10));
    hot.expire(false, "devs", 20001, expired);
    for (auto key : {"devs", "20001"}) {
        const Formatted *f = hot.find(key[0] == 'd' ? Lookup::group_by_name : Lookup::group_by_gid, key);
        assert_non_null(f);
        assert_int_equal(f->body->size(), 10);
        assert_true(f->timestamps == expired);
    }
    assert_int_equal(hot.find(Lookup::group_by_name, "ops")->timestamps->expires_at, 2);
    assert_int_equal(hot.find(Lookup::initgroups, "alice")->timestamps->expires_at, 2);
    hot.expire_all(expired);
    assert_int_equal(hot.size(), 4);
    assert_true(hot.find(Lookup::group_by_name, "ops")->timestamps == expired);
    assert_true(hot.find(Lookup::initgroups, "alice")->timestamps == expired);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_of_one_kind_do_not_meet_another),
        cmocka_unit_test(answers_are_kept_and_found),
        cmocka_unit_test(past_the_entry_bound_the_table_starts_over),
        cmocka_unit_test(past_the_byte_bound_the_table_starts_over),
        cmocka_unit_test(replacing_an_answer_does_not_count_it_twice),
        cmocka_unit_test(initgroups_answers_can_go_alone),
        cmocka_unit_test(a_change_forgets_one_object_only),
        cmocka_unit_test(a_timestamps_change_keeps_the_answers_expired),
        cmocka_unit_test(an_expiry_keeps_the_answers_with_the_timestamps_written),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
