// Cached credentials for offline logins (src/util/creds): the hash, the
// canonical name, the lockout and expiry rules, the durable store.
#include "common.hpp"
#include "util/ldb.hpp"
#include "util/ldb_c.hpp"
#include "util/creds/canonical_name.hpp"
#include "util/creds/credential_store.hpp"
#include "util/creds/credentials_config.hpp"
#include "util/creds/offline_policy.hpp"
#include "util/creds/password_hash.hpp"

#include <chrono>
#include <optional>
#include <variant>

using vigil::Errc;
using vigil::Secret;
using namespace vigil::creds;
using namespace std::chrono_literals;

namespace {

const WallTime t0{std::chrono::seconds(1'700'000'000)};
const OfflineSettings three_tries{3, 5min, std::chrono::days(7)};
constexpr const char *good = "correct horse battery staple";

std::string hash_of(const char *password)
{
    auto h = hash_password(Secret(password), 2);
    assert_true(h.ok());
    return *h;
}

std::string read_all(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

CredentialStore open_store(const test::TempDir &dir, const std::string &domain = "LDAP")
{
    auto store = CredentialStore::open(dir.path(), domain);
    if (!store) std::fprintf(stderr, "open: %s\n", store.error().message.c_str());
    assert_true(store.ok());
    return std::move(*store);
}

// One offline attempt through the rules, as OfflineAuthenticator runs it,
// with the comparison done for real. Returns the verdict; `stored` is
// updated the way the database would be.
OfflineVerdict attempt(std::optional<CredentialRecord> &stored, WallTime now, const OfflineSettings &settings,
                       const char *password, bool *compared = nullptr)
{
    auto admission = admit(stored, now, settings);
    if (auto *refused = std::get_if<Refused>(&admission)) {
        if (compared) *compared = false;
        return refused->verdict;
    }
    const auto &admitted = std::get<Admitted>(admission);
    auto matched = password_matches(Secret(password), admitted.record().hash);
    assert_true(matched.ok());
    if (compared) *compared = true;
    Conclusion c = conclude(admitted, now, settings, *matched);
    if (c.record_changed) stored = c.record;
    return c.verdict;
}

// ------------------------------------------------------------------ hash

void stored_password_verifies_and_a_wrong_one_does_not(void **)
{
    std::string h = hash_of(good);
    auto ok = password_matches(Secret(good), h);
    assert_true(ok.ok() && *ok);
    auto bad = password_matches(Secret("correct horse battery stapler"), h);
    assert_true(bad.ok() && !*bad);
}

void two_stores_of_one_password_use_different_salts(void **)
{
    assert_true(hash_of(good) != hash_of(good));
}

void hash_is_yescrypt_or_sha512(void **)
{
    std::string h = hash_of(good);
    assert_true(h.starts_with("$y$") || h.starts_with("$6$"));
    // libxcrypt on Debian 12 has yescrypt: the preferred method is the one used.
    assert_true(h.starts_with(preferred_hash_prefixes[0]));
}

void sha512_hash_still_verifies(void **)
{
    auto h = hash_password_with(Secret(good), "$6$", 0);
    assert_true(h.ok());
    assert_true(h->starts_with("$6$"));
    auto ok = password_matches(Secret(good), *h);
    assert_true(ok.ok() && *ok);
    auto bad = password_matches(Secret("nope"), *h);
    assert_true(bad.ok() && !*bad);
}

// The parameter field of a crypt string: "$y$j85$salt$hash" -> "j85".
std::string parameters_of(const std::string &h)
{
    const std::size_t start = h.find('$', 1) + 1;
    return h.substr(start, h.find('$', start) - start);
}

void hash_cost_is_the_configured_one(void **)
{
    // Each cost makes the same parameter field as libxcrypt's own setting
    // for it, and different costs make different ones.
    std::string seen[3];
    for (unsigned cost = 1; cost <= 3; ++cost) {
        auto h = hash_password(Secret(good), cost);
        assert_true(h.ok());
        auto reference = hash_password_with(Secret(good), "$y$", cost);
        assert_true(reference.ok());
        assert_string_equal(parameters_of(*h).c_str(), parameters_of(*reference).c_str());
        seen[cost - 1] = parameters_of(*h);
        auto ok = password_matches(Secret(good), *h);
        assert_true(ok.ok() && *ok);
    }
    assert_string_not_equal(seen[0].c_str(), seen[1].c_str());
    assert_string_not_equal(seen[1].c_str(), seen[2].c_str());
}

void hash_cost_out_of_range_is_refused(void **)
{
    for (unsigned cost : {0U, max_hash_cost + 1}) {
        auto h = hash_password(Secret(good), cost);
        assert_false(h.ok());
        assert_int_equal(static_cast<int>(h.error().code), static_cast<int>(Errc::invalid_argument));
    }
}

void sha512_rounds_scale_with_the_cost(void **)
{
    assert_int_equal(sha512_rounds(1), 2500);
    assert_int_equal(sha512_rounds(2), 5000); // glibc's default: "$6$salt" with no rounds= field
    assert_int_equal(sha512_rounds(3), 10000);
    assert_int_equal(sha512_rounds(8), 5000UL << 6);
    assert_int_equal(sha512_rounds(99), 5000UL << 6); // bounded to max_hash_cost
    auto h = hash_password_with(Secret(good), "$6$", sha512_rounds(3));
    assert_true(h.ok());
    assert_true(h->starts_with("$6$rounds=10000$"));
}

void stored_hash_is_described_by_method_and_cost(void **)
{
    for (unsigned cost : {1U, 2U, 4U}) {
        auto h = hash_password(Secret(good), cost);
        assert_true(h.ok());
        assert_string_equal(describe_hash(*h).c_str(), ("yescrypt, cost " + std::to_string(cost)).c_str());
    }
    auto sha = hash_password_with(Secret(good), "$6$", 0);
    assert_true(sha.ok());
    assert_string_equal(describe_hash(*sha).c_str(), "SHA-512, 5000 rounds");
    auto sha_more = hash_password_with(Secret(good), "$6$", 20000);
    assert_true(sha_more.ok());
    assert_string_equal(describe_hash(*sha_more).c_str(), "SHA-512, 20000 rounds");
    assert_string_equal(describe_hash("$2b$10$abcdefghijklmnopqrstuv").c_str(), "crypt method $2b$");
    assert_string_equal(describe_hash("plaintext").c_str(), "not a crypt hash");
    assert_string_equal(describe_hash("$y$").c_str(), "yescrypt, other parameters");
}

void empty_or_nul_password_is_refused(void **)
{
    auto empty = hash_password(Secret(""), 2);
    assert_false(empty.ok());
    assert_int_equal(static_cast<int>(empty.error().code), static_cast<int>(Errc::invalid_argument));
    // "abc\0def" would otherwise hash as "abc".
    auto nul = hash_password(Secret(std::string_view("abc\0def", 7)), 2);
    assert_false(nul.ok());
    auto cmp = password_matches(Secret(std::string_view("abc\0def", 7)), hash_of("abc"));
    assert_false(cmp.ok());
}

void unusable_stored_hash_is_an_error_not_a_mismatch(void **)
{
    assert_false(password_matches(Secret(good), "").ok());
    assert_false(password_matches(Secret(good), "plaintext").ok());
    assert_false(password_matches(Secret(good), "$zz$nonsense").ok());
}

// ------------------------------------------------------------------ names

void canonical_name_folds_case_and_own_domain(void **)
{
    DomainNaming naming{"LDAP", false};
    for (const char *spelling : {"alice", "Alice", "ALICE", "alice@LDAP", "Alice@ldap", "aLiCe@Ldap"}) {
        auto n = canonical_user_name(spelling, naming);
        assert_true(n.ok());
        assert_string_equal(n->c_str(), "alice");
    }
}

void canonical_name_keeps_case_when_domain_is_case_sensitive(void **)
{
    DomainNaming naming{"LDAP", true};
    auto n = canonical_user_name("Alice@ldap", naming);
    assert_true(n.ok());
    assert_string_equal(n->c_str(), "Alice");
}

void canonical_name_refuses_other_domains_and_junk(void **)
{
    DomainNaming naming{"LDAP", false};
    assert_false(canonical_user_name("alice@OTHER", naming).ok());
    assert_false(canonical_user_name("alice@", naming).ok());
    assert_false(canonical_user_name("@LDAP", naming).ok());
    assert_false(canonical_user_name("", naming).ok());
    assert_false(canonical_user_name("ali\nce", naming).ok());
    // The last '@' is the domain separator: a name may contain one itself.
    auto n = canonical_user_name("a@b@LDAP", naming);
    assert_true(n.ok());
    assert_string_equal(n->c_str(), "a@b");
}

// ------------------------------------------------------------------ rules

void no_record_means_no_cached_credentials(void **)
{
    std::optional<CredentialRecord> none;
    assert_int_equal(static_cast<int>(attempt(none, t0, three_tries, good)),
                     static_cast<int>(OfflineVerdict::no_credentials));
}

void good_password_is_allowed_and_bad_one_counts(void **)
{
    std::optional<CredentialRecord> rec = fresh_record(hash_of(good), t0);
    assert_int_equal(static_cast<int>(attempt(rec, t0 + 1s, three_tries, "bad")),
                     static_cast<int>(OfflineVerdict::wrong_password));
    assert_int_equal(rec->failed_attempts, 1);
    assert_int_equal(static_cast<int>(attempt(rec, t0 + 2s, three_tries, good)),
                     static_cast<int>(OfflineVerdict::allowed));
    assert_int_equal(rec->failed_attempts, 0); // a success resets the counter
}

void success_without_failures_writes_nothing(void **)
{
    CredentialRecord rec = fresh_record("$y$a-stored-hash", t0);
    auto admission = admit(rec, t0, three_tries);
    Conclusion c = conclude(std::get<Admitted>(admission), t0, three_tries, true);
    assert_false(c.record_changed);
}

void n_wrong_passwords_lock_before_comparing_until_the_delay_ran_out(void **)
{
    std::optional<CredentialRecord> rec = fresh_record(hash_of(good), t0);
    WallTime t = t0 + 10s;
    for (int i = 0; i < 3; ++i)
        assert_int_equal(static_cast<int>(attempt(rec, t, three_tries, "bad")),
                         static_cast<int>(OfflineVerdict::wrong_password));
    assert_true(rec->locked_until.has_value());
    assert_true(*rec->locked_until == t + 5min);

    // Locked: even the right password is refused, and no hash is computed.
    bool compared = true;
    assert_int_equal(static_cast<int>(attempt(rec, t + 4min, three_tries, good, &compared)),
                     static_cast<int>(OfflineVerdict::locked));
    assert_false(compared);
    assert_int_equal(static_cast<int>(attempt(rec, t + 5min - 1s, three_tries, good)),
                     static_cast<int>(OfflineVerdict::locked));

    // The delay ran out (clock injected, nothing sleeps): the right password works.
    assert_int_equal(static_cast<int>(attempt(rec, t + 5min, three_tries, good, &compared)),
                     static_cast<int>(OfflineVerdict::allowed));
    assert_true(compared);
    assert_int_equal(rec->failed_attempts, 0);
    assert_false(rec->locked_until.has_value());
}

void a_wrong_password_after_the_lock_ran_out_locks_again_at_once(void **)
{
    std::optional<CredentialRecord> rec = fresh_record(hash_of(good), t0);
    for (int i = 0; i < 3; ++i) (void)attempt(rec, t0, three_tries, "bad");
    WallTime later = t0 + 6min;
    assert_int_equal(static_cast<int>(attempt(rec, later, three_tries, "bad")),
                     static_cast<int>(OfflineVerdict::wrong_password));
    assert_true(*rec->locked_until == later + 5min);
    assert_int_equal(static_cast<int>(attempt(rec, later + 1s, three_tries, good)),
                     static_cast<int>(OfflineVerdict::locked));
}

void zero_attempts_never_locks(void **)
{
    OfflineSettings no_lockout{0, 5min, std::chrono::days(0)};
    std::optional<CredentialRecord> rec = fresh_record(hash_of(good), t0);
    for (int i = 0; i < 10; ++i) (void)attempt(rec, t0, no_lockout, "bad");
    assert_false(rec->locked_until.has_value());
    assert_int_equal(static_cast<int>(attempt(rec, t0, no_lockout, good)), static_cast<int>(OfflineVerdict::allowed));
}

void zero_delay_locks_until_an_online_login(void **)
{
    OfflineSettings until_online{2, 0min, std::chrono::days(0)};
    std::optional<CredentialRecord> rec = fresh_record(hash_of(good), t0);
    for (int i = 0; i < 2; ++i) (void)attempt(rec, t0, until_online, "bad");
    assert_true(*rec->locked_until == locked_until_online_login);
    assert_int_equal(static_cast<int>(attempt(rec, t0 + std::chrono::days(3650), until_online, good)),
                     static_cast<int>(OfflineVerdict::locked));
    // An online login stores a fresh record: unlocked.
    rec = fresh_record(hash_of(good), t0 + 1h);
    assert_int_equal(static_cast<int>(attempt(rec, t0 + 2h, until_online, good)),
                     static_cast<int>(OfflineVerdict::allowed));
}

void credentials_expire_days_after_they_were_stored(void **)
{
    std::optional<CredentialRecord> rec = fresh_record(hash_of(good), t0);
    auto week = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::days(7));
    assert_int_equal(static_cast<int>(attempt(rec, t0 + week - 1s, three_tries, good)),
                     static_cast<int>(OfflineVerdict::allowed));
    bool compared = true;
    assert_int_equal(static_cast<int>(attempt(rec, t0 + week, three_tries, good, &compared)),
                     static_cast<int>(OfflineVerdict::expired));
    assert_false(compared);
    // 0 days: never.
    OfflineSettings forever{3, 5min, std::chrono::days(0)};
    assert_int_equal(static_cast<int>(attempt(rec, t0 + 100 * week, forever, good)),
                     static_cast<int>(OfflineVerdict::allowed));
}

// Stored "in the future": the clock was stepped back, the age is unknown.
void credentials_stored_in_the_future_count_as_expired(void **)
{
    std::optional<CredentialRecord> rec = fresh_record(hash_of(good), t0);
    OfflineSettings forever{3, 5min, std::chrono::days(0)};
    assert_int_equal(static_cast<int>(attempt(rec, t0 - 1s, forever, good)),
                     static_cast<int>(OfflineVerdict::expired));
    assert_int_equal(static_cast<int>(attempt(rec, t0, forever, good)), static_cast<int>(OfflineVerdict::allowed));
}

// ------------------------------------------------------------------ store

void store_round_trips_a_record(void **)
{
    test::TempDir dir;
    CredentialStore store = open_store(dir);
    CredentialRecord rec{hash_of(good), t0, 2, t0 + 5min};
    assert_true(store.put("alice", rec).ok());
    auto found = store.find("alice");
    assert_true(found.ok() && found->has_value());
    assert_true(**found == rec);
    auto missing = store.find("bob");
    assert_true(missing.ok() && !missing->has_value());
}

void db_file_is_0600_and_never_holds_the_password(void **)
{
    test::TempDir dir;
    const std::string password = "Sekr1t-pass-phrase-4711";
    {
        CredentialStore store = open_store(dir);
        assert_true(store.put("alice", fresh_record(hash_of(password.c_str()), t0)).ok());
    }
    std::string path = dir / CredentialStore::file_name("LDAP");
    struct stat st {};
    assert_int_equal(stat(path.c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    std::string bytes = read_all(path);
    assert_true(bytes.find("$y$") != std::string::npos || bytes.find("$6$") != std::string::npos);
    assert_true(bytes.find(password) == std::string::npos);
    assert_true(bytes.find("Sekr1t") == std::string::npos);
}

void open_refuses_a_directory_or_file_others_can_reach(void **)
{
    test::TempDir dir;
    assert_int_equal(chmod(dir.path().c_str(), 0750), 0);
    auto open_dir = CredentialStore::open(dir.path(), "LDAP");
    assert_false(open_dir.ok());
    assert_int_equal(static_cast<int>(open_dir.error().code), static_cast<int>(Errc::permission));
    assert_int_equal(chmod(dir.path().c_str(), 0700), 0);

    { CredentialStore store = open_store(dir); }
    std::string path = dir / CredentialStore::file_name("LDAP");
    assert_int_equal(chmod(path.c_str(), 0640), 0);
    auto open_file = CredentialStore::open(dir.path(), "LDAP");
    assert_false(open_file.ok());
    assert_int_equal(static_cast<int>(open_file.error().code), static_cast<int>(Errc::permission));
}

void lockout_survives_close_and_reopen(void **)
{
    test::TempDir dir;
    std::optional<CredentialRecord> rec = fresh_record(hash_of(good), t0);
    {
        CredentialStore store = open_store(dir);
        for (int i = 0; i < 3; ++i) {
            assert_int_equal(static_cast<int>(attempt(rec, t0, three_tries, "bad")),
                             static_cast<int>(OfflineVerdict::wrong_password));
            assert_true(store.put("alice", *rec).ok());
        }
    }
    CredentialStore reopened = open_store(dir); // a restart of vigil
    auto found = reopened.find("alice");
    assert_true(found.ok() && found->has_value());
    std::optional<CredentialRecord> back = **found;
    assert_int_equal(back->failed_attempts, 3);
    assert_int_equal(static_cast<int>(attempt(back, t0 + 1min, three_tries, good)),
                     static_cast<int>(OfflineVerdict::locked));
}

void canonical_spellings_share_one_record(void **)
{
    test::TempDir dir;
    CredentialStore store = open_store(dir);
    DomainNaming naming{"LDAP", false};
    auto key = [&](const char *spelling) {
        auto n = canonical_user_name(spelling, naming);
        assert_true(n.ok());
        return *n;
    };
    assert_true(store.put(key("Alice"), fresh_record(hash_of(good), t0)).ok());
    for (const char *spelling : {"alice", "ALICE", "alice@ldap"}) {
        auto found = store.find(key(spelling));
        assert_true(found.ok() && found->has_value());
    }
    // A failure counted under one spelling is seen under another.
    auto rec = *store.find(key("alice@LDAP"));
    (void)attempt(rec, t0, three_tries, "bad");
    assert_true(store.put(key("alice@LDAP"), *rec).ok());
    assert_int_equal((*store.find(key("ALICE")))->failed_attempts, 1);
}

void disabled_account_drops_the_hash(void **)
{
    test::TempDir dir;
    CredentialStore store = open_store(dir);
    assert_true(store.put("alice", fresh_record(hash_of(good), t0)).ok());
    assert_true(store.remove("alice").ok());
    auto found = store.find("alice");
    assert_true(found.ok() && !found->has_value());
    assert_true(store.remove("alice").ok()); // nothing there: fine
    std::optional<CredentialRecord> none = *found;
    assert_int_equal(static_cast<int>(attempt(none, t0, three_tries, good)),
                     static_cast<int>(OfflineVerdict::no_credentials));
}

void storing_after_an_online_login_resets_the_counter(void **)
{
    test::TempDir dir;
    CredentialStore store = open_store(dir);
    assert_true(store.put("alice", CredentialRecord{hash_of(good), t0, 3, t0 + 5min}).ok());
    assert_true(store.put("alice", fresh_record(hash_of(good), t0 + 1min)).ok());
    auto rec = *store.find("alice");
    assert_int_equal(rec->failed_attempts, 0);
    assert_false(rec->locked_until.has_value());
    assert_true(rec->stored_at == t0 + 1min);
}

// The credentials cannot be rebuilt: an unknown format is refused, and the
// file is left as it was for a vigil that knows it.
void unknown_format_version_is_refused_not_discarded(void **)
{
    test::TempDir dir;
    {
        CredentialStore store = open_store(dir);
        assert_true(store.put("alice", fresh_record(hash_of(good), t0)).ok());
    }
    std::string path = dir / CredentialStore::file_name("LDAP");
    {
        auto ldb = vigil::Ldb::open(path, vigil::Ldb::Mode::read_write);
        assert_true(ldb.ok());
        vigil::TallocPtr<void> mem = vigil::make_talloc_ctx("test");
        ldb_message *msg = ldb_msg_new(mem.get());
        msg->dn = ldb_dn_new(msg, ldb->raw(), "cn=credentials");
        ldb_message_element *el = nullptr;
        assert_int_equal(ldb_msg_add_empty(msg, "formatVersion", LDB_FLAG_MOD_REPLACE, &el), LDB_SUCCESS);
        assert_int_equal(ldb_msg_add_string(msg, "formatVersion", "99"), LDB_SUCCESS);
        assert_int_equal(ldb_modify(ldb->raw(), msg), LDB_SUCCESS);
    }
    auto refused = CredentialStore::open(dir.path(), "LDAP");
    assert_false(refused.ok());
    assert_int_equal(static_cast<int>(refused.error().code), static_cast<int>(Errc::invalid_config));
    assert_true(refused.error().message.find("99") != std::string::npos);
    assert_true(read_all(path).find("alice") != std::string::npos);
}

void db_commits_are_synchronous(void **)
{
    test::TempDir dir;
    CredentialStore store = open_store(dir);
    assert_true(store.writes_synchronously());
}

void store_refuses_what_is_not_a_hash(void **)
{
    test::TempDir dir;
    CredentialStore store = open_store(dir);
    assert_false(store.put("alice", fresh_record("plain password", t0)).ok());
    assert_false(store.put("", fresh_record(hash_of(good), t0)).ok());
}

void names_with_dn_special_characters_stay_apart(void **)
{
    test::TempDir dir;
    CredentialStore store = open_store(dir);
    assert_true(store.put("a,name=b", fresh_record(hash_of("one"), t0)).ok());
    assert_true(store.put("a", fresh_record(hash_of("two"), t0)).ok());
    auto first = *store.find("a,name=b");
    auto ok = password_matches(Secret("one"), first->hash);
    assert_true(ok.ok() && *ok);
}

// ------------------------------------------------------------------ config

void config_defaults_cache_nothing_and_never_lock(void **)
{
    vigil::Config config;
    CredentialsConfig c = credentials_config(config, "LDAP");
    assert_false(c.cache_credentials);
    assert_int_equal(c.settings.failed_login_attempts, 0);
    assert_int_equal(c.settings.failed_login_delay.count(), 5);
    assert_int_equal(c.settings.credentials_expiration.count(), 0);
    assert_string_equal(c.naming.domain.c_str(), "LDAP");
    assert_true(c.db_dir.ends_with("/db"));
}

void config_options_reach_the_settings(void **)
{
    vigil::Config config;
    config.sections["domain/LDAP"].options["cache_credentials"] = vigil::Setting{"true", "vigil.conf", 3};
    config.sections["pam"].options["offline_failed_login_attempts"] = vigil::Setting{"3", "vigil.conf", 7};
    config.sections["pam"].options["offline_failed_login_delay"] = vigil::Setting{"10", "vigil.conf", 8};
    config.sections["pam"].options["offline_credentials_expiration"] = vigil::Setting{"30", "vigil.conf", 9};
    config.sections["vigil"].options["state_dir"] = vigil::Setting{"/var/lib/vigil", "vigil.conf", 2};
    CredentialsConfig c = credentials_config(config, "LDAP");
    assert_true(c.cache_credentials);
    assert_int_equal(c.settings.failed_login_attempts, 3);
    assert_int_equal(c.settings.failed_login_delay.count(), 10);
    assert_int_equal(c.settings.credentials_expiration.count(), 30);
    assert_string_equal(c.db_dir.c_str(), "/var/lib/vigil/db");
    assert_false(credentials_config(config, "OTHER").cache_credentials);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stored_password_verifies_and_a_wrong_one_does_not),
        cmocka_unit_test(two_stores_of_one_password_use_different_salts),
        cmocka_unit_test(hash_is_yescrypt_or_sha512),
        cmocka_unit_test(sha512_hash_still_verifies),
        cmocka_unit_test(hash_cost_is_the_configured_one),
        cmocka_unit_test(hash_cost_out_of_range_is_refused),
        cmocka_unit_test(sha512_rounds_scale_with_the_cost),
        cmocka_unit_test(stored_hash_is_described_by_method_and_cost),
        cmocka_unit_test(empty_or_nul_password_is_refused),
        cmocka_unit_test(unusable_stored_hash_is_an_error_not_a_mismatch),
        cmocka_unit_test(canonical_name_folds_case_and_own_domain),
        cmocka_unit_test(canonical_name_keeps_case_when_domain_is_case_sensitive),
        cmocka_unit_test(canonical_name_refuses_other_domains_and_junk),
        cmocka_unit_test(no_record_means_no_cached_credentials),
        cmocka_unit_test(good_password_is_allowed_and_bad_one_counts),
        cmocka_unit_test(success_without_failures_writes_nothing),
        cmocka_unit_test(n_wrong_passwords_lock_before_comparing_until_the_delay_ran_out),
        cmocka_unit_test(a_wrong_password_after_the_lock_ran_out_locks_again_at_once),
        cmocka_unit_test(zero_attempts_never_locks),
        cmocka_unit_test(zero_delay_locks_until_an_online_login),
        cmocka_unit_test(credentials_expire_days_after_they_were_stored),
        cmocka_unit_test(credentials_stored_in_the_future_count_as_expired),
        cmocka_unit_test(store_round_trips_a_record),
        cmocka_unit_test(db_file_is_0600_and_never_holds_the_password),
        cmocka_unit_test(open_refuses_a_directory_or_file_others_can_reach),
        cmocka_unit_test(lockout_survives_close_and_reopen),
        cmocka_unit_test(canonical_spellings_share_one_record),
        cmocka_unit_test(disabled_account_drops_the_hash),
        cmocka_unit_test(storing_after_an_online_login_resets_the_counter),
        cmocka_unit_test(unknown_format_version_is_refused_not_discarded),
        cmocka_unit_test(db_commits_are_synchronous),
        cmocka_unit_test(store_refuses_what_is_not_a_hash),
        cmocka_unit_test(names_with_dn_special_characters_stay_apart),
        cmocka_unit_test(config_defaults_cache_nothing_and_never_lock),
        cmocka_unit_test(config_options_reach_the_settings),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
