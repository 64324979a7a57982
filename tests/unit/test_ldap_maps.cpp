// How a directory entry becomes a cache record (providers/ldap/ldap_maps):
// what is taken, and what bad data is refused or skipped, naming the DN.
#include "common.hpp"

#include "providers/ldap/ldap_maps.hpp"
#include "config_helpers.hpp"

#include <algorithm>

using namespace vigil;
using ldap::LdapEntry;

namespace {

const std::string base = ",ou=Groups,dc=example,dc=com";

ldap::IdSettings settings(const std::string &domain_lines = "")
{
    auto s = ldap::IdSettings::from_config(test::domain_config(domain_lines), "d");
    assert_true(s.ok());
    return *s;
}

LdapEntry group(const std::string &cn, const std::string &gid, std::vector<std::string> members = {})
{
    LdapEntry e;
    e.dn = "cn=" + cn + base;
    e.attributes = {{"objectClass", {"posixGroup"}}, {"cn", {cn}}, {"gidNumber", {gid}}};
    if (!members.empty()) e.attributes.emplace_back("memberUid", std::move(members));
    return e;
}

void expect_refused(const Result<sysdb::Group> &g, const std::string &message)
{
    assert_false(g.ok());
    if (g.error().message != message) print_error("got: %s\n", g.error().message.c_str());
    assert_string_equal(g.error().message.c_str(), message.c_str());
}

void a_group_takes_its_members_sorted_once_each(void **)
{
    auto g = ldap::to_group(group("devs", "2000", {"carol", "alice", "bob", "alice"}), settings());
    assert_true(g.ok());
    assert_string_equal(g->name.c_str(), "devs");
    assert_int_equal(g->gid, 2000);
    assert_true((g->members == std::vector<std::string>{"alice", "bob", "carol"}));
    assert_string_equal(g->original_dn.c_str(), ("cn=devs" + base).c_str());
}

void attribute_names_compare_without_regard_to_case(void **)
{
    LdapEntry e;
    e.dn = "cn=devs" + base;
    e.attributes = {{"CN", {"devs"}}, {"GIDNUMBER", {"2000"}}, {"memberuid", {"alice"}}, {"modifytimestamp", {"2024"}}};
    auto g = ldap::to_group(e, settings());
    assert_true(g.ok());
    assert_int_equal(g->gid, 2000);
    assert_int_equal(g->members.size(), 1);
    assert_string_equal(g->modify_stamp.c_str(), "2024");
}

void a_member_nss_cannot_carry_is_skipped_not_the_group(void **)
{
    const std::string with_nul("ev\0e", 4);
    auto g = ldap::to_group(group("devs", "2000", {"alice", "bad:name", "a,b", "", with_nul, std::string(300, 'x')}),
                            settings());
    assert_true(g.ok());
    assert_true((g->members == std::vector<std::string>{"alice"}));
}

void a_multi_valued_name_takes_the_one_in_the_dn(void **)
{
    LdapEntry e = group("devs", "2000");
    e.attributes[1].second = {"developers", "devs"};
    auto g = ldap::to_group(e, settings());
    assert_true(g.ok());
    assert_string_equal(g->name.c_str(), "devs");

    e.dn = "cn=other" + base;
    expect_refused(ldap::to_group(e, settings()), "cn=other" + base + ": several cn values and none is the DN's");
}

void bad_gids_are_refused_naming_the_dn(void **)
{
    const std::string dn = "cn=devs" + base;
    expect_refused(ldap::to_group(group("devs", "12a"), settings()), dn + ": gidNumber '12a' is not a number");
    expect_refused(ldap::to_group(group("devs", "-5"), settings()), dn + ": gidNumber '-5' is not a number");
    expect_refused(ldap::to_group(group("devs", ""), settings()), dn + ": gidNumber '' is not a number");
    expect_refused(ldap::to_group(group("devs", "99999999999"), settings()),
                   dn + ": gidNumber '99999999999' is not a number");
    expect_refused(ldap::to_group(group("devs", "4294967296"), settings()),
                   dn + ": gidNumber '4294967296' is not a number");
    expect_refused(ldap::to_group(group("devs", "4294967295"), settings()),
                   dn + ": group 'devs' (" + dn + "): gid 4294967295 means \"no id\" to NSS");
    expect_refused(ldap::to_group(group("devs", "0"), settings()), dn + ": gidNumber 0 is never served");
    expect_refused(ldap::to_group(group("devs", "500"), settings("min_id = 1000\nmax_id = 5000\n")),
                   dn + ": gidNumber 500 is outside min_id 1000 .. max_id 5000");
    expect_refused(ldap::to_group(group("devs", "6000"), settings("min_id = 1000\nmax_id = 5000\n")),
                   dn + ": gidNumber 6000 is outside min_id 1000 .. max_id 5000");
    LdapEntry two = group("devs", "2000");
    two.attributes[2].second.push_back("2001");
    expect_refused(ldap::to_group(two, settings()), dn + ": more than one gidNumber");
    LdapEntry none = group("devs", "2000");
    none.attributes.erase(none.attributes.begin() + 2);
    expect_refused(ldap::to_group(none, settings()), dn + ": no gidNumber");
}

void a_users_primary_gid_may_lie_outside_min_id_and_max_id(void **)
{
    LdapEntry e;
    e.dn = "uid=alice,ou=People,dc=example,dc=com";
    e.attributes = {{"uid", {"alice"}}, {"uidNumber", {"1001"}}, {"gidNumber", {"100"}}, {"loginShell", {"/bin/sh"}}};
    auto u = ldap::to_user(e, settings("min_id = 1000\n"));
    assert_true(u.ok());
    assert_int_equal(u->uid, 1001);
    assert_int_equal(u->gid, 100);
    assert_string_equal(u->shell.c_str(), "/bin/sh");
    e.attributes[1].second = {"999"};
    auto low = ldap::to_user(e, settings("min_id = 1000\n"));
    assert_false(low.ok());
    assert_string_equal(low.error().message.c_str(),
                        "uid=alice,ou=People,dc=example,dc=com: uidNumber 999 is outside min_id 1000 .. max_id 0");
    e.attributes[0].second = {"alice", "alice2"};
    auto two = ldap::to_user(e, settings());
    assert_false(two.ok());
    assert_string_equal(two.error().message.c_str(), "uid=alice,ou=People,dc=example,dc=com: more than one uid");
}

void an_attribute_configured_for_two_fields_serves_both(void **)
{
    LdapEntry e;
    e.dn = "uid=alice,ou=People,dc=example,dc=com";
    e.attributes = {{"uid", {"alice"}}, {"uidNumber", {"1001"}}, {"gidNumber", {"1001"}}, {"cn", {"Alice A."}}};
    auto u = ldap::to_user(e, settings("ldap_user_gecos = cn\nldap_user_authorized_host = cn\n"
                                       "ldap_user_shadow_expire = uid\n"));
    assert_true(u.ok());
    assert_string_equal(u->name.c_str(), "alice");
    assert_string_equal(u->gecos.c_str(), "Alice A.");
    assert_true((u->extra.at("cn") == std::vector<std::string>{"Alice A."}));
    assert_true((u->extra.at("uid") == std::vector<std::string>{"alice"}));
}

void the_searches_ask_only_for_the_attributes_the_maps_read(void **)
{
    auto s = settings("ldap_user_authorized_host = allowedHost\n");
    assert_true((s.group_attributes() == std::vector<std::string>{"cn", "gidNumber", "memberUid", "modifyTimestamp"}));
    auto users = s.user_attributes();
    assert_true(std::find(users.begin(), users.end(), "objectClass") == users.end());
    for (const char *a : {"uid", "uidNumber", "gidNumber", "gecos", "homeDirectory", "loginShell", "modifyTimestamp",
                          "allowedHost"})
        assert_true(std::find(users.begin(), users.end(), a) != users.end());
}

void of_groups_sharing_a_name_or_gid_the_first_is_kept(void **)
{
    std::vector<LdapEntry> entries;
    entries.push_back(group("a", "2001"));
    entries.push_back(group("bad", "x"));  // not a group: skipped
    entries.push_back(group("b", "2002"));
    entries.push_back(group("a", "2003"));  // a's name
    entries.push_back(group("c", "2002"));  // b's gid
    entries.push_back(group("d", "2004"));
    entries.push_back(group("b", "2001"));  // a's gid, b's name
    entries.push_back(group("e", "2005", {"alice"}));
    auto groups = ldap::distinct_groups(entries, settings(), {}).converted;
    std::vector<std::string> names;
    for (const auto &g : groups) names.push_back(g.name + ":" + std::to_string(g.gid));
    assert_true((names == std::vector<std::string>{"a:2001", "b:2002", "d:2004", "e:2005"}));
    assert_true((groups.back().members == std::vector<std::string>{"alice"}));
}

void many_distinct_groups_are_all_kept_in_order(void **)
{
    std::vector<LdapEntry> entries;
    for (int i = 0; i < 600; ++i) entries.push_back(group("g" + std::to_string(i), std::to_string(10000 + i)));
    auto groups = ldap::distinct_groups(entries, settings(), {}).converted;
    assert_int_equal(groups.size(), 600);
    for (int i = 0; i < 600; ++i) {
        assert_string_equal(groups[i].name.c_str(), ("g" + std::to_string(i)).c_str());
        assert_int_equal(groups[i].gid, 10000 + i);
    }
}

// An initgroups answer's entries that are the very ones the cached groups
// were made from (same DN, same digest) are kept by name, not converted;
// they take part in the first-wins rule like the others.
void answer_entries_a_cached_group_was_made_from_are_kept_unconverted(void **)
{
    ldap::IdSettings s = settings();
    s.digest_key[3] = 7;
    const std::string a_digest = ldap::group_entry_digest(group("a", "2001", {"alice"}), s);
    const std::string b_old = ldap::group_entry_digest(group("b", "2002", {"alice", "bob"}), s);
    const std::string d_digest = ldap::group_entry_digest(group("d", "2004", {"alice"}), s);
    const std::string a_dn = "cn=a" + base, b_dn = "cn=b" + base, c_dn = "cn=c" + base, d_dn = "cn=d" + base;
    ldap::CachedGroupSources cached;
    cached.emplace(a_dn, ldap::CachedGroupSource{"a", 2001, a_digest});
    cached.emplace(b_dn, ldap::CachedGroupSource{"b", 2002, b_old});
    cached.emplace(c_dn, ldap::CachedGroupSource{"c", 2003, ""}); // cached without a digest
    cached.emplace(d_dn, ldap::CachedGroupSource{"d", 2004, d_digest});
    std::vector<LdapEntry> entries;
    entries.push_back(group("a", "2001", {"alice"}));        // unchanged
    entries.push_back(group("b", "2002", {"alice"}));        // bob left: converted
    entries.push_back(group("c", "2003", {"alice"}));        // no digest to compare: converted
    entries.push_back(group("x", "2001", {"alice"}));        // a's gid: skipped
    LdapEntry d_as_b = group("d", "2004", {"alice"});
    d_as_b.attributes[1].second = {"b"};                      // named b now: b's name, converted
    entries.push_back(d_as_b);
    entries.push_back(group("e", "2005", {"alice"}));        // new: converted
    auto answer = ldap::distinct_groups(entries, s, cached);
    assert_true((answer.unchanged == std::vector<std::string>{"a"}));
    std::vector<std::string> names;
    for (const auto &g : answer.converted) names.push_back(g.name + ":" + std::to_string(g.gid));
    assert_true((names == std::vector<std::string>{"b:2002", "c:2003", "e:2005"}));
    assert_true((answer.converted[0].members == std::vector<std::string>{"alice"}));
    assert_string_equal(answer.converted[0].source_digest.c_str(),
                        ldap::group_entry_digest(group("b", "2002", {"alice"}), s).c_str());

    // An unchanged entry after a converted group with its name: skipped too.
    std::vector<LdapEntry> again;
    again.push_back(group("z", "2009"));
    LdapEntry a_named_z = group("a", "2001", {"alice"});
    ldap::CachedGroupSources cached_z;
    cached_z.emplace(a_dn, ldap::CachedGroupSource{"z", 2001, a_digest});
    again.push_back(a_named_z);
    auto second = ldap::distinct_groups(again, s, cached_z);
    assert_true(second.unchanged.empty());
    assert_int_equal(second.converted.size(), 1);
    assert_int_equal(second.converted[0].gid, 2009);
}

// The digest that lets a refresh skip converting an unchanged group.
void a_groups_digest_follows_its_entry_and_the_settings_that_shape_it(void **)
{
    ldap::IdSettings s = settings();
    s.digest_key[0] = 1;
    const std::string d = ldap::group_entry_digest(group("devs", "2000", {"alice", "bob"}), s);
    assert_int_equal(d.size(), 32);
    assert_true(d.find_first_not_of("0123456789abcdef") == std::string::npos);
    // The same entry: the same digest; to_group records it.
    assert_string_equal(ldap::group_entry_digest(group("devs", "2000", {"alice", "bob"}), s).c_str(), d.c_str());
    auto g = ldap::to_group(group("devs", "2000", {"alice", "bob"}), s);
    assert_true(g.ok());
    assert_string_equal(g->source_digest.c_str(), d.c_str());
    // Anything else: another digest.
    std::vector<std::string> others = {
        ldap::group_entry_digest(group("devs", "2000", {"alice", "bobb"}), s),
        ldap::group_entry_digest(group("devs", "2000", {"alice"}), s),
        ldap::group_entry_digest(group("devs", "2001", {"alice", "bob"}), s),
        ldap::group_entry_digest(group("devs", "2000", {"alicebob"}), s),
    };
    LdapEntry moved = group("devs", "2000", {"alice", "bob"});
    moved.dn = "cn=devs,ou=Other,dc=example,dc=com";
    others.push_back(ldap::group_entry_digest(moved, s));
    ldap::IdSettings other_key = s;
    other_key.digest_key[0] = 2;
    others.push_back(ldap::group_entry_digest(group("devs", "2000", {"alice", "bob"}), other_key));
    // A setting to_group reads (a gid now outside max_id would be refused).
    ldap::IdSettings narrower = settings("max_id = 1999\n");
    narrower.digest_key = s.digest_key;
    others.push_back(ldap::group_entry_digest(group("devs", "2000", {"alice", "bob"}), narrower));
    ldap::IdSettings other_map = settings("ldap_group_member = uniqueMember\n");
    other_map.digest_key = s.digest_key;
    others.push_back(ldap::group_entry_digest(group("devs", "2000", {"alice", "bob"}), other_map));
    for (const std::string &o : others) assert_string_not_equal(o.c_str(), d.c_str());
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_group_takes_its_members_sorted_once_each),
        cmocka_unit_test(attribute_names_compare_without_regard_to_case),
        cmocka_unit_test(a_member_nss_cannot_carry_is_skipped_not_the_group),
        cmocka_unit_test(a_multi_valued_name_takes_the_one_in_the_dn),
        cmocka_unit_test(bad_gids_are_refused_naming_the_dn),
        cmocka_unit_test(a_users_primary_gid_may_lie_outside_min_id_and_max_id),
        cmocka_unit_test(an_attribute_configured_for_two_fields_serves_both),
        cmocka_unit_test(the_searches_ask_only_for_the_attributes_the_maps_read),
        cmocka_unit_test(of_groups_sharing_a_name_or_gid_the_first_is_kept),
        cmocka_unit_test(many_distinct_groups_are_all_kept_in_order),
        cmocka_unit_test(answer_entries_a_cached_group_was_made_from_are_kept_unconverted),
        cmocka_unit_test(a_groups_digest_follows_its_entry_and_the_settings_that_shape_it),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
