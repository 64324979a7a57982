// The access rules (providers/access) as specifications: simple lists, the
// ldap rules at their boundaries, their order, and the offline answers.
#include "common.hpp"

#include "providers/access/access_checker.hpp"
#include "providers/access/access_rules.hpp"
#include "providers/ldap/ldap_maps.hpp"
#include "util/config.hpp"
#include "config_helpers.hpp"

#include <optional>

using namespace vigil;
using namespace vigil::access;
using Kind = AccessDecision::Kind;

namespace {

constexpr std::int64_t day = 86400;

sysdb::User user_with(std::initializer_list<std::pair<std::string, std::vector<std::string>>> extra)
{
    sysdb::User u;
    u.name = "alice";
    u.uid = 1001;
    u.gid = 1001;
    u.original_dn = "uid=alice,ou=people,dc=example,dc=com";
    for (const auto &[k, v] : extra) u.extra[k] = v;
    return u;
}

void expect(const AccessDecision &d, Kind kind)
{
    if (d.kind != kind) print_error("decision %s (%s)\n", decision_name(d.kind), d.reason.c_str());
    assert_int_equal(static_cast<int>(d.kind), static_cast<int>(kind));
    if (kind == Kind::deny) assert_false(d.reason.empty());
}

// ---- simple ------------------------------------------------------------------

void simple_with_no_lists_permits(void **)
{
    expect(simple_rule({}, "alice", {"staff"}), Kind::permit);
}

void simple_deny_user_wins_over_allow_user(void **)
{
    SimpleLists l{{"alice"}, {}, {"alice"}, {}};
    expect(simple_rule(l, "alice", {}), Kind::deny);
}

void simple_deny_group_wins_over_allow_user_and_group(void **)
{
    SimpleLists l{{"alice"}, {"staff"}, {}, {"contractors"}};
    expect(simple_rule(l, "alice", {"staff", "contractors"}), Kind::deny);
    expect(simple_rule(l, "alice", {"staff"}), Kind::permit);
}

void simple_allow_users_denies_everyone_else(void **)
{
    SimpleLists l{{"alice", "bob"}, {}, {}, {}};
    expect(simple_rule(l, "alice", {}), Kind::permit);
    expect(simple_rule(l, "carol", {"staff"}), Kind::deny);
}

void simple_allow_groups_permits_members_only(void **)
{
    SimpleLists l{{}, {"admins"}, {}, {}};
    expect(simple_rule(l, "carol", {"staff", "admins"}), Kind::permit);
    expect(simple_rule(l, "carol", {"staff"}), Kind::deny);
}

void simple_either_allow_list_suffices(void **)
{
    SimpleLists l{{"bob"}, {"admins"}, {}, {}};
    expect(simple_rule(l, "bob", {}), Kind::permit);
    expect(simple_rule(l, "carol", {"admins"}), Kind::permit);
    expect(simple_rule(l, "dave", {"staff"}), Kind::deny);
}

void simple_only_deny_lists_permit_the_rest(void **)
{
    SimpleLists l{{}, {}, {"mallory"}, {"banned"}};
    expect(simple_rule(l, "alice", {"staff"}), Kind::permit);
    expect(simple_rule(l, "mallory", {}), Kind::deny);
    expect(simple_rule(l, "eve", {"banned"}), Kind::deny);
}

void simple_names_compare_without_case(void **)
{
    SimpleLists allow{{"Alice"}, {"ADMINS"}, {}, {}};
    expect(simple_rule(allow, "alice", {}), Kind::permit);
    expect(simple_rule(allow, "bob", {"admins"}), Kind::permit);
    SimpleLists deny{{}, {}, {"ALICE"}, {"Banned"}};
    expect(simple_rule(deny, "alice", {}), Kind::deny);
    expect(simple_rule(deny, "bob", {"banned"}), Kind::deny);
}

// ---- expire: shadow ------------------------------------------------------------

void shadow_without_the_attribute_never_expires(void **)
{
    expect(shadow_expire_rule(user_with({}), "shadowExpire", 100000 * day), Kind::permit);
    expect(shadow_expire_rule(user_with({{"shadowExpire", {"-1"}}}), "shadowExpire", 100000 * day), Kind::permit);
}

void shadow_expires_at_the_start_of_the_day_it_names(void **)
{
    auto u = user_with({{"shadowExpire", {"19844"}}}); // 2024-05-01
    expect(shadow_expire_rule(u, "shadowExpire", 19844 * day - 1), Kind::permit); // 2024-04-30 23:59:59 UTC
    auto d = shadow_expire_rule(u, "shadowExpire", 19844 * day);
    expect(d, Kind::deny);
    assert_string_equal(d.reason.c_str(), "account expired on 2024-05-01");
    assert_true(d.account_expired);
    expect(shadow_expire_rule(u, "shadowExpire", 19845 * day + 5), Kind::deny);
}

void shadow_zero_is_expired_and_garbage_denies(void **)
{
    expect(shadow_expire_rule(user_with({{"shadowExpire", {"0"}}}), "shadowExpire", 5 * day), Kind::deny);
    expect(shadow_expire_rule(user_with({{"shadowExpire", {"soon"}}}), "shadowExpire", 5 * day), Kind::deny);
    expect(shadow_expire_rule(user_with({{"shadowExpire", {"19844x"}}}), "shadowExpire", 5 * day), Kind::deny);
}

void shadow_reads_the_configured_attribute(void **)
{
    auto u = user_with({{"accountExpiry", {"10"}}, {"shadowExpire", {"99999"}}});
    expect(shadow_expire_rule(u, "accountExpiry", 10 * day), Kind::deny);
}

// ---- expire: Æ-DIR -------------------------------------------------------------

LdapAccessSettings aedir()
{
    LdapAccessSettings s;
    s.expire_policy = ExpirePolicy::aedir;
    return s;
}

void aedir_active_status_permits_others_deny(void **)
{
    const std::int64_t now = 1714557600; // 2024-05-01 10:00:00 UTC
    expect(aedir_rule(user_with({{"aeStatus", {"0"}}}), aedir(), now), Kind::permit);
    auto deactivated = aedir_rule(user_with({{"aeStatus", {"1"}}}), aedir(), now);
    expect(deactivated, Kind::deny);
    assert_false(deactivated.account_expired);
    expect(aedir_rule(user_with({{"aeStatus", {"-1"}}}), aedir(), now), Kind::deny); // requested
    expect(aedir_rule(user_with({{"aeStatus", {"2"}}}), aedir(), now), Kind::deny);  // archived
    expect(aedir_rule(user_with({}), aedir(), now), Kind::deny);
}

void aedir_not_before_is_inclusive(void **)
{
    const std::int64_t now = 1714557600; // 20240501100000Z
    auto u = user_with({{"aeStatus", {"0"}}, {"aeNotBefore", {"20240501100000Z"}}});
    expect(aedir_rule(u, aedir(), now), Kind::permit);
    expect(aedir_rule(u, aedir(), now - 1), Kind::deny);
}

void aedir_not_after_is_inclusive(void **)
{
    const std::int64_t now = 1714557600;
    auto u = user_with({{"aeStatus", {"0"}}, {"aeNotAfter", {"20240501100000Z"}}});
    expect(aedir_rule(u, aedir(), now), Kind::permit);
    auto d = aedir_rule(u, aedir(), now + 1);
    expect(d, Kind::deny);
    assert_true(d.account_expired);
}

void aedir_window_and_time_zones(void **)
{
    const std::int64_t now = 1714557600; // 10:00Z = 12:00+0200
    auto inside = user_with({{"aeStatus", {"0"}}, {"aeNotBefore", {"20240501115959+0200"}},
                             {"aeNotAfter", {"202405011200+0200"}}});
    expect(aedir_rule(inside, aedir(), now), Kind::permit);
    expect(aedir_rule(inside, aedir(), now + 1), Kind::deny);
    auto bad = user_with({{"aeStatus", {"0"}}, {"aeNotAfter", {"20240501100000"}}}); // no zone
    expect(aedir_rule(bad, aedir(), now), Kind::deny);
}

void aedir_reads_the_configured_attributes(void **)
{
    LdapAccessSettings s = aedir();
    s.status_attr = "accountStatus";
    s.not_after_attr = "validUntil";
    auto u = user_with({{"accountStatus", {"0"}}, {"validUntil", {"20000101000000Z"}}, {"aeStatus", {"1"}}});
    expect(aedir_rule(u, s, 946684800), Kind::permit);
    expect(aedir_rule(u, s, 946684801), Kind::deny);
}

void generalized_time_forms(void **)
{
    assert_int_equal(*parse_generalized_time("19700101000000Z"), 0);
    assert_int_equal(*parse_generalized_time("20240501100000Z"), 1714557600);
    assert_int_equal(*parse_generalized_time("202405011000Z"), 1714557600);
    assert_int_equal(*parse_generalized_time("2024050110Z"), 1714557600);
    assert_int_equal(*parse_generalized_time("20240501100000.123Z"), 1714557600);
    assert_int_equal(*parse_generalized_time("20240501120000+0200"), 1714557600);
    assert_int_equal(*parse_generalized_time("20240501050000-05"), 1714557600);
    for (const char *bad : {"", "2024", "20240501100000", "20240230100000Z", "20241301000000Z", "20240501250000Z",
                            "20240501100000Zjunk", "20240501100000.Z", "2024050110000Z", "x0240501100000Z"})
        assert_false(parse_generalized_time(bad).ok());
}

void expire_rule_follows_the_policy(void **)
{
    auto u = user_with({{"shadowExpire", {"10"}}, {"aeStatus", {"0"}}});
    LdapAccessSettings s;
    s.expire_policy = ExpirePolicy::shadow;
    expect(expire_rule(u, s, 20 * day), Kind::deny);
    s.expire_policy = ExpirePolicy::aedir;
    expect(expire_rule(u, s, 20 * day), Kind::permit);
}

// ---- host ----------------------------------------------------------------------

void host_listing_this_host_or_star_permits(void **)
{
    expect(host_rule(user_with({{"host", {"web1.example.com"}}}), "host", "web1.example.com"), Kind::permit);
    expect(host_rule(user_with({{"host", {"WEB1.Example.COM"}}}), "host", "web1.example.com"), Kind::permit);
    expect(host_rule(user_with({{"host", {"db1.example.com", "*"}}}), "host", "web1.example.com"), Kind::permit);
}

void host_negation_wins(void **)
{
    auto u = user_with({{"host", {"*", "!web1.example.com"}}});
    expect(host_rule(u, "host", "web1.example.com"), Kind::deny);
    expect(host_rule(u, "host", "db1.example.com"), Kind::permit);
}

void host_other_hosts_or_none_deny(void **)
{
    expect(host_rule(user_with({{"host", {"db1.example.com"}}}), "host", "web1.example.com"), Kind::deny);
    expect(host_rule(user_with({{"host", {"web1"}}}), "host", "web1.example.com"), Kind::deny);
    expect(host_rule(user_with({}), "host", "web1.example.com"), Kind::deny);
    expect(host_rule(user_with({{"host", {"!"}}}), "host", "web1.example.com"), Kind::deny);
}

// ---- filter --------------------------------------------------------------------

void the_filter_search_escapes_the_name(void **)
{
    assert_string_equal(access_filter("uid", "alice", "(memberOf=cn=ops)").c_str(), "(&(uid=alice)(memberOf=cn=ops))");
    assert_string_equal(access_filter("uid", "a*)(uid=*", "employeeType=staff").c_str(),
                        "(&(uid=a\\2a\\29\\28uid=\\2a)(employeeType=staff))");
}

void the_filter_offline_goes_by_the_last_answer(void **)
{
    const std::string f = "(employeeType=staff)";
    expect(filter_rule_offline(std::nullopt, f), Kind::deny);
    expect(filter_rule_offline(FilterMemo{true, 5, filter_hash(f)}, f), Kind::permit);
    expect(filter_rule_offline(FilterMemo{false, 5, filter_hash(f)}, f), Kind::deny);
    expect(filter_rule_offline(FilterMemo{true, 5, filter_hash(f)}, "(employeeType=admin)"), Kind::deny);
    expect(filter_rule_online(true), Kind::permit);
    expect(filter_rule_online(false), Kind::deny);
}

// ---- settings --------------------------------------------------------------------

Config config(const std::string &domain_lines) { return test::domain_config(domain_lines); }

void settings_defaults_are_sssds(void **)
{
    auto s = AccessSettings::from_config(config(""), "d");
    assert_true(s.ok());
    assert_int_equal(static_cast<int>(s->provider), static_cast<int>(ProviderKind::permit));
    assert_int_equal(s->ldap.order.size(), 1);
    assert_int_equal(static_cast<int>(s->ldap.order[0]), static_cast<int>(LdapRule::filter));
    assert_string_equal(s->ldap.shadow_expire_attr.c_str(), "shadowExpire");
    assert_string_equal(s->ldap.status_attr.c_str(), "aeStatus");
    assert_string_equal(s->ldap.not_before_attr.c_str(), "aeNotBefore");
    assert_string_equal(s->ldap.not_after_attr.c_str(), "aeNotAfter");
    assert_string_equal(s->ldap.host_attr.c_str(), "host");
}

void settings_read_every_option(void **)
{
    auto s = AccessSettings::from_config(
        config("access_provider = ldap\nldap_access_order = host, expire, filter\nldap_access_filter = (a=b)\n"
               "ldap_account_expire_policy = aedir\nldap_access_host_fqdn = web1.example.com\n"
               "simple_allow_users = a, b\nsimple_deny_groups = g\n"),
        "d");
    assert_true(s.ok());
    assert_int_equal(s->ldap.order.size(), 3);
    assert_int_equal(static_cast<int>(s->ldap.order[0]), static_cast<int>(LdapRule::host));
    assert_int_equal(static_cast<int>(s->ldap.order[2]), static_cast<int>(LdapRule::filter));
    assert_int_equal(static_cast<int>(s->ldap.expire_policy), static_cast<int>(ExpirePolicy::aedir));
    assert_string_equal(s->ldap.fqdn.c_str(), "web1.example.com");
    assert_int_equal(s->simple.allow_users.size(), 2);
    assert_string_equal(s->simple.deny_groups.at(0).c_str(), "g");
}

void settings_refuse_rules_that_would_deny_everyone(void **)
{
    auto no_filter = AccessSettings::from_config(config("access_provider = ldap\n"), "d");
    assert_false(no_filter.ok());
    assert_non_null(strstr(no_filter.error().message.c_str(), "ldap_access_filter is not set"));
    auto no_policy = AccessSettings::from_config(config("access_provider = ldap\nldap_access_order = expire\n"), "d");
    assert_false(no_policy.ok());
    assert_non_null(strstr(no_policy.error().message.c_str(), "ldap_account_expire_policy"));
    // Not an ldap access provider: the ldap options do not matter.
    assert_true(AccessSettings::from_config(config("access_provider = simple\n"), "d").ok());
}

void the_identity_provider_asks_for_and_caches_the_rule_attributes(void **)
{
    auto id = ldap::IdSettings::from_config(config("ldap_user_authorized_host = allowedHost\n"), "d");
    assert_true(id.ok());
    auto attrs = id->user_attributes();
    for (const char *a : {"shadowExpire", "allowedHost", "aeStatus", "aeNotBefore", "aeNotAfter"})
        assert_true(std::find(attrs.begin(), attrs.end(), a) != attrs.end());
    ldap::LdapEntry e;
    e.dn = "uid=alice,ou=people,dc=example,dc=com";
    e.attributes = {{"uid", {"alice"}},         {"uidNumber", {"1001"}}, {"gidNumber", {"1001"}},
                    {"SHADOWEXPIRE", {"19844"}}, {"allowedhost", {"a", "!b"}}, {"aeStatus", {"0"}}};
    auto u = ldap::to_user(e, *id);
    assert_true(u.ok());
    assert_string_equal(u->extra.at("shadowExpire").at(0).c_str(), "19844");
    assert_int_equal(u->extra.at("allowedHost").size(), 2);
    assert_string_equal(u->extra.at("aeStatus").at(0).c_str(), "0");
    assert_true(u->extra.find("aeNotAfter") == u->extra.end());
}

// ---- the checker over a real cache ----------------------------------------------------

struct Fixture {
    test::TempDir dir;
    std::optional<sysdb::Sysdb> db;
    std::int64_t now = 1714557600;
    int searches = 0;
    std::vector<ldap::SearchSpec> specs;
    std::vector<AccessChecker::SearchDone> pending; // answered by the test
    // What the fake directory answers at once; nullopt: keep pending.
    std::optional<Result<ldap::SearchResult>> answer;

    Fixture()
    {
        auto opened = sysdb::Sysdb::open(sysdb::SysdbPaths::for_domain(dir.path(), "d"), sysdb::Sysdb::Role::writer);
        assert_true(opened.ok());
        db.emplace(std::move(*opened));
    }

    void store(const sysdb::User &u) { assert_true(db->store_user(u, {now, now + 100}).ok()); }
    void store(const sysdb::Group &g) { assert_true(db->store_group(g, {now, now + 100}).ok()); }

    AccessChecker checker(AccessSettings s)
    {
        return AccessChecker(
            std::move(s), *db,
            [this](ldap::SearchSpec spec, AccessChecker::SearchDone done) {
                ++searches;
                specs.push_back(spec);
                if (answer) done(*answer);
                else pending.push_back(std::move(done));
            },
            {}, [this] { return now; });
    }

    AccessDecision decide(AccessChecker &c, const std::string &name)
    {
        std::optional<AccessDecision> got;
        c.check(name, [&](AccessDecision d) { got = d; });
        assert_true(got.has_value());
        return *got;
    }
};

Result<ldap::SearchResult> matched(bool yes)
{
    ldap::SearchResult r;
    if (yes) r.entries.push_back(ldap::LdapEntry{"uid=alice,ou=people,dc=example,dc=com", {}});
    return r;
}

Result<ldap::SearchResult> offline() { return Error{Errc::unavailable, "cannot reach ldap://127.0.0.1"}; }

AccessSettings ldap_settings(std::vector<LdapRule> order)
{
    AccessSettings s;
    s.provider = ProviderKind::ldap;
    s.ldap.order = std::move(order);
    s.ldap.filter = "(employeeType=staff)";
    s.ldap.expire_policy = ExpirePolicy::shadow;
    s.ldap.fqdn = "web1.example.com";
    return s;
}

void checker_permit_and_deny_need_no_cache(void **)
{
    Fixture f;
    AccessSettings s;
    auto permit = f.checker(s);
    expect(f.decide(permit, "nobody-cached"), Kind::permit);
    s.provider = ProviderKind::deny;
    auto deny = f.checker(s);
    expect(f.decide(deny, "nobody-cached"), Kind::deny);
}

void checker_an_uncached_user_is_unavailable(void **)
{
    Fixture f;
    auto c = f.checker(ldap_settings({LdapRule::expire}));
    expect(f.decide(c, "alice"), Kind::unavailable);
    AccessSettings simple;
    simple.provider = ProviderKind::simple;
    auto s = f.checker(simple);
    expect(f.decide(s, "alice"), Kind::unavailable);
}

void checker_simple_counts_the_primary_group(void **)
{
    Fixture f;
    f.store(user_with({}));                      // gid 1001
    f.store(sysdb::Group{"alice-primary", 1001, {}, {}, "cn=alice-primary", "", ""}); // does not list alice
    f.store(sysdb::Group{"staff", 2000, {"alice"}, {}, "cn=staff", "", ""});
    AccessSettings s;
    s.provider = ProviderKind::simple;
    s.simple.allow_groups = {"ALICE-PRIMARY"};
    auto by_primary = f.checker(s);
    expect(f.decide(by_primary, "alice"), Kind::permit);
    s.simple.allow_groups = {"staff"};
    s.simple.deny_groups = {"alice-primary"};
    auto denied = f.checker(s);
    expect(f.decide(denied, "alice"), Kind::deny);
    s.simple.deny_groups = {};
    auto member = f.checker(s);
    expect(f.decide(member, "alice"), Kind::permit);
}

void checker_simple_fetches_an_uncached_primary_group(void **)
{
    Fixture f;
    f.store(user_with({}));
    AccessSettings s;
    s.provider = ProviderKind::simple;
    s.simple.deny_groups = {"alice-primary"};
    int fetched = 0;
    AccessChecker c(s, *f.db, {}, [&](std::uint32_t gid, std::function<void()> then) {
        ++fetched;
        assert_int_equal(gid, 1001);
        f.store(sysdb::Group{"alice-primary", 1001, {}, {}, "cn=alice-primary", "", ""});
        then();
    });
    expect(f.decide(c, "alice"), Kind::deny);
    assert_int_equal(fetched, 1);
}

void checker_filter_asks_at_the_users_dn_and_keeps_the_answer(void **)
{
    Fixture f;
    f.store(user_with({}));
    auto c = f.checker(ldap_settings({LdapRule::filter}));
    f.answer = matched(true);
    expect(f.decide(c, "alice"), Kind::permit);
    assert_int_equal(f.searches, 1);
    assert_string_equal(f.specs[0].base.c_str(), "uid=alice,ou=people,dc=example,dc=com");
    assert_int_equal(static_cast<int>(f.specs[0].scope), static_cast<int>(ldap::Scope::base));
    assert_string_equal(f.specs[0].filter.c_str(), "(&(uid=alice)(employeeType=staff))");
    auto memo = f.db->access_filter_memo("alice");
    assert_true(memo.ok() && memo->has_value());
    assert_true((*memo)->allowed);
    assert_int_equal((*memo)->checked_at, f.now);
    // Offline now: the kept answer decides.
    f.answer = offline();
    expect(f.decide(c, "alice"), Kind::permit);
    // Online again, no longer matching: denied, and so offline afterwards.
    f.answer = matched(false);
    expect(f.decide(c, "alice"), Kind::deny);
    f.answer = Result<ldap::SearchResult>(Error{Errc::timeout, "ldap_search_timeout (6 s) ran out"});
    expect(f.decide(c, "alice"), Kind::deny);
}

void checker_filter_never_checked_denies_offline(void **)
{
    Fixture f;
    f.store(user_with({}));
    f.answer = offline();
    auto c = f.checker(ldap_settings({LdapRule::filter}));
    auto d = f.decide(c, "alice");
    expect(d, Kind::deny);
    assert_non_null(strstr(d.reason.c_str(), "never checked"));
}

void checker_filter_error_from_the_server_denies_and_keeps_nothing(void **)
{
    Fixture f;
    f.store(user_with({}));
    auto c = f.checker(ldap_settings({LdapRule::filter}));
    f.answer = matched(true);
    expect(f.decide(c, "alice"), Kind::permit);
    f.answer = Result<ldap::SearchResult>(Error{Errc::protocol, "Bad search filter"});
    expect(f.decide(c, "alice"), Kind::deny);
    auto memo = f.db->access_filter_memo("alice");
    assert_true(memo.ok() && memo->has_value() && (*memo)->allowed); // the last real answer stays
}

void checker_the_kept_answer_survives_a_refresh_of_the_user(void **)
{
    Fixture f;
    f.store(user_with({}));
    auto c = f.checker(ldap_settings({LdapRule::filter}));
    f.answer = matched(true);
    expect(f.decide(c, "alice"), Kind::permit);
    f.store(user_with({{"shadowExpire", {"30000"}}})); // the identity provider refreshes alice
    f.answer = offline();
    expect(f.decide(c, "alice"), Kind::permit);
    // A user dropped from the cache loses it.
    assert_true(f.db->delete_user("alice").ok());
    f.store(user_with({}));
    expect(f.decide(c, "alice"), Kind::deny);
    assert_int_equal(f.db->store_access_filter_memo("nobody", FilterMemo{true, 1, 2}).error().code, Errc::not_found);
}

void checker_rules_run_in_order_and_the_first_denial_decides(void **)
{
    Fixture f;
    f.store(user_with({{"shadowExpire", {"1"}}, {"host", {"web1.example.com"}}})); // long expired
    f.answer = matched(true);
    // expire first: denied without asking the directory.
    auto expire_first = f.checker(ldap_settings({LdapRule::expire, LdapRule::filter}));
    auto d = f.decide(expire_first, "alice");
    expect(d, Kind::deny);
    assert_non_null(strstr(d.reason.c_str(), "expired"));
    assert_int_equal(f.searches, 0);
    // filter first: asked, matched, then expire denies.
    auto filter_first = f.checker(ldap_settings({LdapRule::filter, LdapRule::expire}));
    expect(f.decide(filter_first, "alice"), Kind::deny);
    assert_int_equal(f.searches, 1);
    // filter denying first gives the filter's reason.
    f.answer = matched(false);
    d = f.decide(filter_first, "alice");
    assert_non_null(strstr(d.reason.c_str(), "ldap_access_filter"));
    // Without expire in the order the expiry does not matter.
    auto host_only = f.checker(ldap_settings({LdapRule::host}));
    expect(f.decide(host_only, "alice"), Kind::permit);
}

void checker_all_rules_permitting_permits(void **)
{
    Fixture f;
    f.store(user_with({{"shadowExpire", {"99999"}}, {"host", {"*"}}}));
    f.answer = matched(true);
    auto c = f.checker(ldap_settings({LdapRule::filter, LdapRule::expire, LdapRule::host}));
    expect(f.decide(c, "alice"), Kind::permit);
    f.store(user_with({{"shadowExpire", {"99999"}}, {"host", {"*", "!web1.example.com"}}}));
    expect(f.decide(c, "alice"), Kind::deny);
}

void checker_checks_for_one_user_share_one_search(void **)
{
    Fixture f;
    f.store(user_with({}));
    auto c = f.checker(ldap_settings({LdapRule::filter}));
    std::vector<AccessDecision> got;
    c.check("alice", [&](AccessDecision d) { got.push_back(d); });
    c.check("alice", [&](AccessDecision d) { got.push_back(d); });
    assert_int_equal(f.searches, 1);
    assert_int_equal(got.size(), 0);
    f.pending.at(0)(matched(true));
    assert_int_equal(got.size(), 2);
    expect(got[0], Kind::permit);
    expect(got[1], Kind::permit);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_with_no_lists_permits),
        cmocka_unit_test(simple_deny_user_wins_over_allow_user),
        cmocka_unit_test(simple_deny_group_wins_over_allow_user_and_group),
        cmocka_unit_test(simple_allow_users_denies_everyone_else),
        cmocka_unit_test(simple_allow_groups_permits_members_only),
        cmocka_unit_test(simple_either_allow_list_suffices),
        cmocka_unit_test(simple_only_deny_lists_permit_the_rest),
        cmocka_unit_test(simple_names_compare_without_case),
        cmocka_unit_test(shadow_without_the_attribute_never_expires),
        cmocka_unit_test(shadow_expires_at_the_start_of_the_day_it_names),
        cmocka_unit_test(shadow_zero_is_expired_and_garbage_denies),
        cmocka_unit_test(shadow_reads_the_configured_attribute),
        cmocka_unit_test(aedir_active_status_permits_others_deny),
        cmocka_unit_test(aedir_not_before_is_inclusive),
        cmocka_unit_test(aedir_not_after_is_inclusive),
        cmocka_unit_test(aedir_window_and_time_zones),
        cmocka_unit_test(aedir_reads_the_configured_attributes),
        cmocka_unit_test(generalized_time_forms),
        cmocka_unit_test(expire_rule_follows_the_policy),
        cmocka_unit_test(host_listing_this_host_or_star_permits),
        cmocka_unit_test(host_negation_wins),
        cmocka_unit_test(host_other_hosts_or_none_deny),
        cmocka_unit_test(the_filter_search_escapes_the_name),
        cmocka_unit_test(the_filter_offline_goes_by_the_last_answer),
        cmocka_unit_test(settings_defaults_are_sssds),
        cmocka_unit_test(settings_read_every_option),
        cmocka_unit_test(settings_refuse_rules_that_would_deny_everyone),
        cmocka_unit_test(the_identity_provider_asks_for_and_caches_the_rule_attributes),
        cmocka_unit_test(checker_permit_and_deny_need_no_cache),
        cmocka_unit_test(checker_an_uncached_user_is_unavailable),
        cmocka_unit_test(checker_simple_counts_the_primary_group),
        cmocka_unit_test(checker_simple_fetches_an_uncached_primary_group),
        cmocka_unit_test(checker_filter_asks_at_the_users_dn_and_keeps_the_answer),
        cmocka_unit_test(checker_filter_never_checked_denies_offline),
        cmocka_unit_test(checker_filter_error_from_the_server_denies_and_keeps_nothing),
        cmocka_unit_test(checker_the_kept_answer_survives_a_refresh_of_the_user),
        cmocka_unit_test(checker_rules_run_in_order_and_the_first_denial_decides),
        cmocka_unit_test(checker_all_rules_permitting_permits),
        cmocka_unit_test(checker_checks_for_one_user_share_one_search),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
