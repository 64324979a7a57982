// auth_provider = krb5 without a KDC: the child protocol (every field, every
// way a message can be malformed) and the generated profile.
#include "common.hpp"
#include "providers/krb5/krb5_auth.hpp"
#include "providers/krb5/krb5_child_protocol.hpp"
#include "providers/krb5/krb5_pam.hpp"

using namespace vigil;
using namespace vigil::krb5;

namespace {

ChildRequest full_request()
{
    ChildRequest r;
    r.user = "alice";
    r.realm = "EXAMPLE.COM";
    r.password = Secret("p\xc3\xa4ss word\twith bytes");
    r.uid = 10001;
    r.gid = 4294967294u;
    r.ccname = "DIR:/run/user/10001/krb5cc";
    r.krb5_config = "/var/lib/vigil/krb5/LDAP.conf:/etc/krb5.conf";
    r.lifetime = 3600;
    r.renewable_lifetime = 7 * 86400;
    r.validate = true;
    r.keytab = "/etc/krb5.keytab";
    r.principal = "alice.k@EXAMPLE.COM";
    return r;
}

std::string encoded(const ChildRequest &r) { return encode_request(r).reveal(); }

void put_le(std::string &out, std::uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A request frame around hand-made fields.
std::string frame(const std::string &body, const char *magic = "VK5Q", std::uint32_t version = 1)
{
    std::string out = magic;
    put_le(out, version, 4);
    put_le(out, body.size(), 4);
    return out + body;
}

std::string field(std::uint16_t tag, const std::string &value)
{
    std::string out;
    put_le(out, tag, 2);
    put_le(out, value.size(), 4);
    return out + value;
}

std::string u32(std::uint32_t v)
{
    std::string out;
    put_le(out, v, 4);
    return out;
}

// The required fields of a request, by tag.
std::string required_fields(std::uint16_t skip = 0)
{
    std::string body;
    const std::pair<std::uint16_t, std::string> fields[] = {
        {1, u32(1)}, {2, "alice"}, {3, "EXAMPLE.COM"}, {4, "pw"}, {5, u32(1)}, {6, u32(1)}, {7, "FILE:/tmp/x"},
        {8, "/a:/b"}};
    for (const auto &[tag, value] : fields)
        if (tag != skip) body += field(tag, value);
    return body;
}

void request_round_trips_every_field(void **)
{
    const ChildRequest in = full_request();
    auto out = decode_request(encoded(in));
    assert_true(out.ok());
    assert_string_equal(out->user.c_str(), "alice");
    assert_string_equal(out->realm.c_str(), "EXAMPLE.COM");
    assert_true(out->password.reveal() == in.password.reveal());
    assert_int_equal(out->uid, 10001);
    assert_int_equal(out->gid, 4294967294u);
    assert_string_equal(out->ccname.c_str(), in.ccname.c_str());
    assert_string_equal(out->krb5_config.c_str(), in.krb5_config.c_str());
    assert_int_equal(out->lifetime, 3600);
    assert_int_equal(out->renewable_lifetime, 7 * 86400);
    assert_true(out->validate);
    assert_string_equal(out->keytab.c_str(), "/etc/krb5.keytab");
    assert_string_equal(out->principal.c_str(), "alice.k@EXAMPLE.COM");
}

void a_password_change_carries_the_new_password_and_nothing_else_does(void **)
{
    ChildRequest in = full_request();
    in.command = ChildCommand::change_password;
    in.new_password = Secret("N3w password");
    auto out = decode_request(encoded(in));
    assert_true(out.ok());
    assert_int_equal(out->command, ChildCommand::change_password);
    assert_true(out->password.reveal() == in.password.reveal());
    assert_string_equal(out->new_password.reveal().c_str(), "N3w password");
    // A check is a command of its own, with no new password.
    std::string check = required_fields(1) + field(1, u32(3));
    auto checked = decode_request(frame(check));
    assert_true(checked.ok());
    assert_int_equal(checked->command, ChildCommand::check_password);
    assert_false(decode_request(frame(check + field(13, "new"))).ok());
    assert_false(decode_request(frame(required_fields(1) + field(1, u32(4)))).ok());
    assert_false(decode_request(frame(required_fields(1) + field(1, u32(0)))).ok());
    // A change without a new password, a login with one: refused.
    std::string body = required_fields(1) + field(1, u32(2));
    assert_false(decode_request(frame(body)).ok());
    assert_true(decode_request(frame(body + field(13, "new"))).ok());
    assert_false(decode_request(frame(required_fields() + field(13, "new"))).ok());
    // The login's encoding has no new password even when one is set.
    in.command = ChildCommand::authenticate;
    auto login = decode_request(encoded(in));
    assert_true(login.ok());
    assert_true(login->new_password.empty());
}

void optional_request_fields_default_to_off(void **)
{
    auto out = decode_request(frame(required_fields()));
    assert_true(out.ok());
    assert_int_equal(out->lifetime, 0);
    assert_int_equal(out->renewable_lifetime, 0);
    assert_false(out->validate);
    assert_true(out->keytab.empty());
    assert_true(out->principal.empty());
}

void answer_round_trips(void **)
{
    ChildAnswer in{ChildResult::ok, "FILE:/tmp/krb5cc_10001", "got a TGT", 1893456000ull};
    auto out = decode_answer(encode_answer(in));
    assert_true(out.ok());
    assert_int_equal(out->result, ChildResult::ok);
    assert_string_equal(out->ccname.c_str(), "FILE:/tmp/krb5cc_10001");
    assert_string_equal(out->message.c_str(), "got a TGT");
    assert_true(out->tgt_end == 1893456000ull);
    for (std::uint32_t r = 0; r <= child_result_max; ++r) {
        auto each = decode_answer(encode_answer(ChildAnswer{static_cast<ChildResult>(r), {}, {}, 0}));
        assert_true(each.ok());
        assert_int_equal(static_cast<std::uint32_t>(each->result), r);
        assert_string_not_equal(child_result_name(each->result), "?");
    }
}

void every_truncation_of_a_request_is_refused(void **)
{
    const std::string whole = encoded(full_request());
    for (std::size_t n = 0; n < whole.size(); ++n) {
        auto r = decode_request(std::string_view(whole).substr(0, n));
        assert_false(r.ok());
        assert_int_equal(r.error().code, Errc::protocol);
    }
    // ... and a byte too many.
    assert_false(decode_request(whole + "x").ok());
}

void a_bad_frame_is_refused(void **)
{
    const std::string body = required_fields();
    assert_true(decode_request(frame(body)).ok());
    assert_false(decode_request(frame(body, "VK5A")).ok()); // an answer's magic
    assert_false(decode_request(frame(body, "HTTP")).ok()); // no magic of ours
    assert_false(decode_request(frame(body, "VK5Q", 2)).ok());
    // A length past max_body is refused from the header alone.
    std::string header = "VK5Q";
    put_le(header, 1, 4);
    put_le(header, max_body + 1, 4);
    assert_false(body_length(header, true).ok());
    assert_true(body_length(frame("").substr(0, header_size), true).ok());
}

void a_duplicate_or_unknown_field_is_refused(void **)
{
    assert_false(decode_request(frame(required_fields() + field(2, "bob"))).ok());
    assert_false(decode_request(frame(required_fields() + field(99, "x"))).ok());
    // An answer's field in a request.
    assert_false(decode_request(frame(required_fields() + field(32, u32(0)))).ok());
}

void every_required_field_is_required(void **)
{
    for (std::uint16_t tag = 1; tag <= 8; ++tag) {
        auto r = decode_request(frame(required_fields(tag)));
        assert_false(r.ok());
    }
}

void a_host_tgt_request_names_no_user_and_no_password(void **)
{
    ChildRequest in;
    in.command = ChildCommand::host_tgt;
    in.realm = "EXAMPLE.COM";
    in.principal = "host/web1.example.com";
    in.keytab = "FILE:/etc/krb5.keytab";
    in.ccname = "FILE:/var/lib/vigil/krb5/host/LDAP.ccache";
    in.krb5_config = "/var/lib/vigil/krb5/LDAP.conf:/etc/krb5.conf";
    in.lifetime = 86400;
    const std::string bytes = encoded(in);
    auto out = decode_request(bytes);
    assert_true(out.ok());
    assert_int_equal(static_cast<int>(out->command), static_cast<int>(ChildCommand::host_tgt));
    assert_string_equal(out->principal.c_str(), "host/web1.example.com");
    assert_string_equal(out->keytab.c_str(), "FILE:/etc/krb5.keytab");
    assert_string_equal(out->ccname.c_str(), "FILE:/var/lib/vigil/krb5/host/LDAP.ccache");
    assert_int_equal(out->lifetime, 86400);
    assert_true(out->user.empty() && out->password.empty());
    // No user, password, uid or gid goes with it: the child stays root.
    const std::string base = field(1, u32(4)) + field(3, "EXAMPLE.COM") + field(7, "FILE:/var/cc") + field(8, "/a:/b");
    assert_true(decode_request(frame(base)).ok());
    for (auto [tag, value] : {std::pair<std::uint16_t, std::string>{2, "alice"}, {4, "pw"}, {5, u32(0)}, {6, u32(0)}})
        assert_false(decode_request(frame(base + field(tag, value))).ok());
    // A FILE: ccache, absolute, only; and the realm is still required.
    assert_false(decode_request(frame(field(1, u32(4)) + field(3, "EXAMPLE.COM") + field(7, "DIR:/var/cc") +
                                      field(8, "/a:/b")))
                     .ok());
    assert_false(decode_request(frame(field(1, u32(4)) + field(3, "EXAMPLE.COM") + field(7, "FILE:cc") +
                                      field(8, "/a:/b")))
                     .ok());
    assert_false(decode_request(frame(field(1, u32(4)) + field(7, "FILE:/var/cc") + field(8, "/a:/b"))).ok());
    assert_false(decode_request(frame(field(1, u32(5)) + field(3, "EXAMPLE.COM") + field(7, "FILE:/var/cc") +
                                      field(8, "/a:/b")))
                     .ok());
}

void malformed_values_are_refused(void **)
{
    // A u32 of three bytes; a NUL inside a string; an unknown command;
    // validate other than 0 or 1; an empty user.
    std::string body = required_fields(5) + field(5, "abc");
    assert_false(decode_request(frame(body)).ok());
    body = required_fields(2) + field(2, std::string("al\0ce", 5));
    assert_false(decode_request(frame(body)).ok());
    body = required_fields(4) + field(4, std::string("p\0w", 3));
    assert_false(decode_request(frame(body)).ok());
    body = required_fields(1) + field(1, u32(7));
    assert_false(decode_request(frame(body)).ok());
    assert_false(decode_request(frame(required_fields() + field(11, u32(2)))).ok());
    body = required_fields(2) + field(2, "");
    assert_false(decode_request(frame(body)).ok());
    // A field header cut in the middle.
    assert_false(decode_request(frame(required_fields() + std::string("\x02\x00\x05", 3))).ok());
}

void ticket_times_after_2038_stay_in_the_future(void **)
{
    // libkrb5's krb5_timestamp is a signed 32-bit field read as unsigned:
    // 2038-01-19 03:14:08 UTC and later arrive negative.
    static_assert(ticket_time(1700000000) == 1700000000u);
    assert_true(ticket_time(INT32_MAX) == 2147483647u);
    assert_true(ticket_time(INT32_MIN) == 2147483648u); // 2038-01-19 03:14:08 UTC
    assert_true(ticket_time(-1) == 4294967295u);        // 2106-02-07 06:28:15 UTC
}

void an_answer_needs_a_known_result(void **)
{
    std::string out = "VK5A";
    put_le(out, 1, 4);
    std::string body = field(34, "no result");
    put_le(out, body.size(), 4);
    assert_false(decode_answer(out + body).ok());
    std::string bad = "VK5A";
    put_le(bad, 1, 4);
    body = field(32, u32(child_result_max + 1));
    put_le(bad, body.size(), 4);
    assert_false(decode_answer(bad + body).ok());
}

void the_generated_profile_lists_the_kdcs_in_failover_order(void **)
{
    Krb5Settings s;
    s.realm = "EXAMPLE.COM";
    s.servers = {"kdc1.example.com", "127.0.0.1:8888"};
    s.backup_servers = {"backup.example.com:88"};
    const std::string text = generated_profile(s);
    const auto first = text.find("kdc = kdc1.example.com\n");
    const auto second = text.find("kdc = 127.0.0.1:8888\n");
    const auto backup = text.find("kdc = backup.example.com:88\n");
    assert_true(first != std::string::npos && second != std::string::npos && backup != std::string::npos);
    assert_true(first < second && second < backup);
    assert_true(text.find("EXAMPLE.COM = {") != std::string::npos);
    assert_true(text.find("}*\n") != std::string::npos); // final: no later file adds KDCs
    // kpasswd: the KDCs' hosts (port 464) unless krb5_kpasswd says otherwise.
    assert_true(text.find("kpasswd_server = kdc1.example.com\n") != std::string::npos);
    assert_true(text.find("kpasswd_server = 127.0.0.1\n") != std::string::npos);
    assert_true(text.find("kpasswd_server = backup.example.com\n") != std::string::npos);
    s.kpasswd_servers = {"kpw.example.com:1464"};
    const std::string with_kpasswd = generated_profile(s);
    assert_true(with_kpasswd.find("kpasswd_server = kpw.example.com:1464\n") != std::string::npos);
    assert_true(with_kpasswd.find("kpasswd_server = kdc1") == std::string::npos);
    s.servers.clear();
    s.backup_servers.clear();
    assert_true(generated_profile(s).find("[realms]") == std::string::npos);
}

void child_results_mean_what_they_say_to_pam(void **)
{
    // Never "wrong password" for skew, never offline for anything the KDC answered.
    assert_int_equal(online_auth(ChildResult::ok), OnlineAuth::ok);
    assert_int_equal(online_auth(ChildResult::wrong_password), OnlineAuth::wrong_password);
    assert_int_equal(online_auth(ChildResult::unknown_principal), OnlineAuth::wrong_password);
    assert_int_equal(online_auth(ChildResult::password_expired), OnlineAuth::password_expired);
    assert_int_equal(online_auth(ChildResult::account_locked), OnlineAuth::account_locked);
    assert_int_equal(online_auth(ChildResult::kdc_unreachable), OnlineAuth::unavailable);
    assert_int_equal(online_auth(ChildResult::clock_skew), OnlineAuth::clock_skew);
    for (ChildResult r : {ChildResult::validation_failed, ChildResult::ccache_failed, ChildResult::bad_request,
                          ChildResult::password_rejected, ChildResult::keytab_failed, ChildResult::error})
        assert_int_equal(online_auth(r), OnlineAuth::error);
    assert_int_equal(online_change(ChildResult::ok), OnlineChange::ok);
    assert_int_equal(online_change(ChildResult::wrong_password), OnlineChange::wrong_password);
    assert_int_equal(online_change(ChildResult::password_rejected), OnlineChange::rejected);
    assert_int_equal(online_change(ChildResult::kdc_unreachable), OnlineChange::unavailable);
    assert_int_equal(online_change(ChildResult::account_locked), OnlineChange::account_locked);
    assert_int_equal(online_change(ChildResult::clock_skew), OnlineChange::error);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_round_trips_every_field),
        cmocka_unit_test(ticket_times_after_2038_stay_in_the_future),
        cmocka_unit_test(a_password_change_carries_the_new_password_and_nothing_else_does),
        cmocka_unit_test(optional_request_fields_default_to_off),
        cmocka_unit_test(answer_round_trips),
        cmocka_unit_test(every_truncation_of_a_request_is_refused),
        cmocka_unit_test(a_bad_frame_is_refused),
        cmocka_unit_test(a_duplicate_or_unknown_field_is_refused),
        cmocka_unit_test(every_required_field_is_required),
        cmocka_unit_test(a_host_tgt_request_names_no_user_and_no_password),
        cmocka_unit_test(malformed_values_are_refused),
        cmocka_unit_test(an_answer_needs_a_known_result),
        cmocka_unit_test(the_generated_profile_lists_the_kdcs_in_failover_order),
        cmocka_unit_test(child_results_mean_what_they_say_to_pam),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
