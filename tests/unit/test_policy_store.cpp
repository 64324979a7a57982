// The policy cache's index: what it records survives a round trip whatever
// the directory's names hold, an index it cannot read is an empty cache (the
// downloader fetches everything again), and a commit leaves only the files
// the index names.
#include "policy_common.hpp"
#include "policy/policy_store.hpp"


using namespace vigil;
using namespace vigil::policy;
using test::contains;

namespace {

CacheIndex sample()
{
    CacheIndex index;
    index.documents.push_back({"sudo", "cn=web,ou=policies,dc=example,dc=com", "web", 50, "entryCSN=20261123#000000#000#000000",
                               PolicyStore::file_for("web", "cn=web,ou=policies,dc=example,dc=com", "<policy/>")});
    // Names and DNs may hold what the index uses as separators.
    const std::string odd_dn = "cn=tab\\09and\\0Anewline,ou=policies,dc=example,dc=com";
    index.documents.push_back({"sudo", odd_dn, "tab\tand\nnewline %41", -7, "", PolicyStore::file_for("tab\tand\nnewline", odd_dn, "<odd/>")});
    index.roles.push_back({"cn=backup,ou=SUDOers,dc=example,dc=com", "modifyTimestamp=20261123120000Z"});
    index.roles_file = "sudoRole@0-0.xml";
    return index;
}

void index_survives_a_round_trip(void **)
{
    test::TempDir dir;
    PolicyStore store(dir / "cache");
    CacheIndex index = sample();
    std::map<std::string, std::string> files{{"sudo/" + index.documents[0].file, "<policy/>"},
                                             {"sudo/" + index.documents[1].file, "<odd/>"},
                                             {"sudo/sudoRole@0-0.xml", "<roles/>"}};
    assert_true(store.commit(index, files).ok());
    std::string note;
    CacheIndex loaded = store.load(&note);
    assert_true(note.empty());
    assert_int_equal(loaded.documents.size(), 2);
    for (std::size_t i = 0; i < 2; ++i) {
        assert_string_equal(loaded.documents[i].dn.c_str(), index.documents[i].dn.c_str());
        assert_string_equal(loaded.documents[i].name.c_str(), index.documents[i].name.c_str());
        assert_string_equal(loaded.documents[i].stamp.c_str(), index.documents[i].stamp.c_str());
        assert_string_equal(loaded.documents[i].file.c_str(), index.documents[i].file.c_str());
        assert_int_equal(loaded.documents[i].priority, index.documents[i].priority);
    }
    assert_true(loaded.roles == index.roles);
    assert_string_equal(loaded.roles_file.c_str(), "sudoRole@0-0.xml");
    auto odd = store.read("sudo", index.documents[1].file);
    assert_true(odd.ok());
    assert_string_equal(odd->c_str(), "<odd/>");
}

void file_names_are_safe_bounded_and_distinct_per_entry_and_content(void **)
{
    const std::string a = PolicyStore::file_for("../../etc/passwd", "cn=x,dc=example", "<policy/>");
    assert_true(a.find('/') == std::string::npos);
    assert_true(a[0] != '.');
    // One name, two entries; one entry, two versions: two files each.
    assert_string_not_equal(PolicyStore::file_for("web", "cn=web,ou=a", "x").c_str(),
                            PolicyStore::file_for("web", "cn=web,ou=b", "x").c_str());
    assert_string_not_equal(PolicyStore::file_for("web", "cn=web,ou=a", "x").c_str(),
                            PolicyStore::file_for("web", "cn=web,ou=a", "y").c_str());
    assert_string_equal(PolicyStore::file_for("web", "cn=web,ou=a", "x").c_str(),
                        PolicyStore::file_for("web", "cn=web,ou=a", "x").c_str());
    // A long name in a script of three-byte characters: escaped, yet short
    // enough for the installer's temp name too (NAME_MAX 255).
    std::string long_name;
    for (int i = 0; i < 200; ++i) long_name += "\xe4\xb8\xad";
    const std::string b = PolicyStore::file_for(long_name, "cn=x", "x");
    assert_true(b.size() + std::string(".vigil-XXXXXX.").size() < 200);
}

void an_index_it_cannot_read_is_an_empty_cache(void **)
{
    test::TempDir dir;
    PolicyStore store(dir / "cache");
    std::string note;
    assert_true(store.load(&note).documents.empty());
    assert_true(note.empty()); // no index yet is not a problem
    ::mkdir((dir / "cache").c_str(), 0700);
    for (const char *text : {"vigil-policy-cache 99\n",
                             "vigil-policy-cache 1\ndocument\tsudo\tcn=x\tx\tfifty\t\tx.xml\n",
                             "vigil-policy-cache 1\ndocument\tsudo\tcn=x\tx\t1\t\t../x.xml\n",
                             "vigil-policy-cache 1\nsomething else\n",
                             "vigil-policy-cache 1\nrole\tcn=x\tbad%escape\n"}) {
        test::write_file(dir / "cache/index", text);
        note.clear();
        CacheIndex loaded = store.load(&note);
        assert_true(loaded.documents.empty() && loaded.roles.empty() && loaded.roles_file.empty());
        assert_true(contains(note, "downloading everything again"));
    }
}

void commit_leaves_only_the_files_the_index_names(void **)
{
    test::TempDir dir;
    PolicyStore store(dir / "cache");
    CacheIndex index = sample();
    assert_true(store.commit(index, {{"sudo/" + index.documents[0].file, "a"},
                                     {"sudo/" + index.documents[1].file, "b"},
                                     {"sudo/sudoRole@0-0.xml", "c"}}).ok());
    assert_int_equal(test::dir_entries(dir / "cache/sudo").size(), 3);
    // The second policy withdrawn, the sudoRole entries gone.
    index.documents.pop_back();
    index.roles.clear();
    index.roles_file.clear();
    assert_true(store.commit(index, {}).ok());
    auto left = test::dir_entries(dir / "cache/sudo");
    assert_int_equal(left.size(), 1);
    assert_string_equal(left[0].c_str(), index.documents[0].file.c_str());
    assert_string_equal(test::read_file(dir / "cache/sudo/" + left[0]).c_str(), "a");
}

void fields_escape_only_what_the_index_uses(void **)
{
    assert_string_equal(escape_field("a\tb\nc\rd%e").c_str(), "a%09b%0Ac%0Dd%25e");
    assert_string_equal(escape_field("cn=Zoë,dc=x").c_str(), "cn=Zoë,dc=x");
    auto back = unescape_field("a%09b%0Ac%0Dd%25e");
    assert_true(back.ok());
    assert_string_equal(back->c_str(), "a\tb\nc\rd%e");
    assert_false(unescape_field("%4").ok());
    assert_false(unescape_field("%zz").ok());
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(index_survives_a_round_trip),
        cmocka_unit_test(file_names_are_safe_bounded_and_distinct_per_entry_and_content),
        cmocka_unit_test(an_index_it_cannot_read_is_an_empty_cache),
        cmocka_unit_test(commit_leaves_only_the_files_the_index_names),
        cmocka_unit_test(fields_escape_only_what_the_index_uses),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
