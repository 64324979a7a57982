// confdb: what vigild stores is what every service reads back.
#include "common.hpp"
#include "util/confdb.hpp"

#include "util/ldb_c.hpp"
#include <vector>

using vigil::Confdb;
using vigil::Config;
using vigil::Ldb;

namespace {

Config parse_config(const std::string &text)
{
    std::vector<vigil::Problem> problems;
    std::vector<vigil::IniFile> files{vigil::parse_ini(text, "v.conf", problems)};
    assert_int_equal(problems.size(), 0);
    vigil::ConfigLoad load = vigil::validate_config(files, "v.conf");
    for (const auto &p : load.problems) print_error("problem: %s\n", p.to_string().c_str());
    assert_true(load.ok());
    return load.config;
}

const char *full = "[vigil]\ndomains = a, b\nservices = nss, pam, ifp\n"
                   "[nss]\nfilter_users =\nentry_negative_timeout = 30\n"
                   "[domain/a]\nid_provider = ldap\nldap_uri = ldap://127.0.0.1:389\n"
                   "ldap_default_authtok = s=cr#t, with comma\nmin_id = 1000\n"
                   "[domain/b]\nid_provider = ldap\nldap_uri = ldaps://x\nenumerate = true\n";

Confdb open_rw(const std::string &path)
{
    auto db = Confdb::open(path, Ldb::Mode::read_write);
    if (!db) print_error("%s\n", db.error().message.c_str());
    assert_true(db.ok());
    return std::move(*db);
}

void written_config_reads_back_the_same(void **)
{
    test::TempDir dir;
    Config written = parse_config(full);
    Confdb db = open_rw(dir / "config.ldb");
    assert_true(db.write(written).ok());

    auto ro = Confdb::open(dir / "config.ldb", Ldb::Mode::read_only);
    assert_true(ro.ok());
    auto read = ro->read();
    assert_true(read.ok());
    assert_int_equal(read->sections.size(), written.sections.size());
    for (const auto &[name, section] : written.sections) {
        const auto &back = read->sections.at(name);
        assert_int_equal(back.options.size(), section.options.size());
        for (const auto &[key, setting] : section.options)
            assert_string_equal(back.options.at(key).value.c_str(), setting.value.c_str());
    }
    // Typed getters and the table's defaults work on what was read.
    assert_int_equal(read->get_int("nss", "entry_negative_timeout"), 30);
    assert_int_equal(read->get_int("nss", "entry_cache_nowait_percentage"), 50);
    assert_true(read->get_bool("domain/b", "enumerate"));
    assert_int_equal(read->get_int("domain/a", "min_id"), 1000);
    assert_string_equal(read->get_string("domain/a", "ldap_default_authtok").c_str(), "s=cr#t, with comma");
    assert_int_equal(read->domains().size(), 2);
}

void empty_value_survives_the_round_trip(void **)
{
    test::TempDir dir;
    Confdb db = open_rw(dir / "config.ldb");
    assert_true(db.write(parse_config(full)).ok());
    auto read = db.read();
    assert_true(read.ok());
    assert_true(read->is_set("nss", "filter_users"));
    assert_int_equal(read->get_list("nss", "filter_users").size(), 0);
}

void rewrite_replaces_the_whole_config(void **)
{
    test::TempDir dir;
    Confdb db = open_rw(dir / "config.ldb");
    assert_true(db.write(parse_config(full)).ok());
    assert_true(db.write(parse_config("[vigil]\ndomains = c\n[domain/c]\nid_provider = ldap\nldap_uri = ldap://c\n")).ok());
    auto read = db.read();
    assert_true(read.ok());
    assert_int_equal(read->sections.size(), 2);
    assert_false(read->sections.contains("domain/a"));
    assert_false(read->is_set("nss", "entry_negative_timeout"));
    assert_string_equal(read->get_string("domain/c", "ldap_uri").c_str(), "ldap://c");
}

void missing_confdb_says_vigild_is_not_running(void **)
{
    test::TempDir dir;
    auto db = Confdb::open(dir / "none.ldb", Ldb::Mode::read_only);
    assert_false(db.ok());
    assert_int_equal(static_cast<int>(db.error().code), static_cast<int>(vigil::Errc::not_found));
    std::string expected = "confdb " + (dir / "none.ldb") + " (is vigild running?): No such file or directory";
    assert_string_equal(db.error().message.c_str(), expected.c_str());
}

void unknown_format_version_is_refused(void **)
{
    test::TempDir dir;
    Confdb db = open_rw(dir / "config.ldb");
    assert_true(db.write(parse_config(full)).ok());
    {
        auto raw = Ldb::open(dir / "config.ldb", Ldb::Mode::read_write);
        assert_true(raw.ok());
        ldb_message *msg = ldb_msg_new(nullptr);
        msg->dn = ldb_dn_new(msg, raw->raw(), "cn=config");
        assert_int_equal(ldb_msg_add_empty(msg, "version", LDB_FLAG_MOD_REPLACE, nullptr), LDB_SUCCESS);
        assert_int_equal(ldb_msg_add_string(msg, "version", "99"), LDB_SUCCESS);
        assert_int_equal(ldb_modify(raw->raw(), msg), LDB_SUCCESS);
        talloc_free(msg);
    }
    auto read = db.read();
    assert_false(read.ok());
    std::string expected = "confdb " + (dir / "config.ldb") + " has format version 99, expected 1: restart vigild to rewrite it";
    assert_string_equal(read.error().message.c_str(), expected.c_str());
}

void cancelled_transaction_leaves_nothing(void **)
{
    test::TempDir dir;
    auto raw = Ldb::open(dir / "t.ldb", Ldb::Mode::read_write);
    assert_true(raw.ok());
    {
        auto tx = raw->begin();
        assert_true(tx.ok());
        ldb_message *msg = ldb_msg_new(nullptr);
        msg->dn = ldb_dn_new(msg, raw->raw(), "cn=x");
        assert_int_equal(ldb_msg_add_string(msg, "a", "b"), LDB_SUCCESS);
        assert_int_equal(ldb_add(raw->raw(), msg), LDB_SUCCESS);
        talloc_free(msg);
        // tx goes out of scope uncommitted
    }
    ldb_result *res = nullptr;
    ldb_dn *dn = ldb_dn_new(nullptr, raw->raw(), "cn=x");
    int ret = ldb_search(raw->raw(), dn, &res, dn, LDB_SCOPE_BASE, nullptr, nullptr);
    // tdb answers a base search of a missing DN with success and no entry.
    assert_true(ret == LDB_ERR_NO_SUCH_OBJECT || (ret == LDB_SUCCESS && res->count == 0));
    talloc_free(dn);
}

void read_only_handle_cannot_write(void **)
{
    test::TempDir dir;
    { Confdb db = open_rw(dir / "config.ldb"); assert_true(db.write(parse_config(full)).ok()); }
    auto ro = Confdb::open(dir / "config.ldb", Ldb::Mode::read_only);
    assert_true(ro.ok());
    assert_false(ro->write(parse_config(full)).ok());
    assert_true(ro->read().ok());
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(written_config_reads_back_the_same),
        cmocka_unit_test(empty_value_survives_the_round_trip),
        cmocka_unit_test(rewrite_replaces_the_whole_config),
        cmocka_unit_test(missing_confdb_says_vigild_is_not_running),
        cmocka_unit_test(unknown_format_version_is_refused),
        cmocka_unit_test(cancelled_transaction_leaves_nothing),
        cmocka_unit_test(read_only_handle_cannot_write),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
