// vigil_pam's half of the PAM commands: requests as pam_vigil.so encodes them
// parse back whole, every malformed request is refused with a reason that
// never shows a token, replies parse in the module's own parser, and the rule
// of who may ask for whom.
#include "common.hpp"
#include "responder/pam/pam_message.hpp"

extern "C" {
#include "sss_client/pam_vigil.h"
}

#include <cstdlib>
#include <string>
#include <vector>

using namespace vigil::responder;

namespace {

std::vector<std::uint8_t> encode_request(const vigil_pam_request &req)
{
    std::uint8_t *buf = nullptr;
    std::size_t len = 0;
    assert_int_equal(vigil_pam_encode_request(&req, &buf, &len), 0);
    std::vector<std::uint8_t> out(buf, buf + len);
    vigil_pam_request_free(buf, len);
    return out;
}

void u32(std::vector<std::uint8_t> &out, std::uint32_t v)
{
    std::uint8_t b[4];
    vigil_put_u32(b, v);
    out.insert(out.end(), b, b + 4);
}

void item(std::vector<std::uint8_t> &out, std::uint32_t type, const std::string &value)
{
    u32(out, type);
    u32(out, static_cast<std::uint32_t>(value.size()));
    out.insert(out.end(), value.begin(), value.end());
}

std::string token(std::uint32_t kind, const std::string &text)
{
    std::vector<std::uint8_t> v;
    u32(v, kind);
    return std::string(v.begin(), v.end()) + text;
}

std::string four(std::uint32_t value)
{
    std::vector<std::uint8_t> v;
    u32(v, value);
    return std::string(v.begin(), v.end());
}

// Refused, with a reason that does not show the secret.
void assert_refused(const std::vector<std::uint8_t> &body, const char *reason_part,
                    std::uint32_t command = VIGIL_CMD_PAM_AUTHENTICATE)
{
    auto r = parse_pam_request(command, body);
    assert_false(r.ok());
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(vigil::Errc::protocol));
    if (r.error().message.find(reason_part) == std::string::npos)
        fail_msg("reason '%s' does not say '%s'", r.error().message.c_str(), reason_part);
    assert_true(r.error().message.find("s3cret") == std::string::npos);
}

void a_request_from_the_module_parses_back_whole(void **)
{
    vigil_pam_request req{};
    req.service = "sshd";
    req.user = "alice";
    req.tty = "ssh";
    req.ruser = "bob";
    req.rhost = "client.example.com";
    req.authtok = "s3cret";
    req.newauthtok = "n3w-s3cret";
    req.flags = VIGIL_PAM_FLAG_SILENT | VIGIL_PAM_FLAG_DISALLOW_NULL_AUTHTOK;
    req.pid = 4242;
    auto r = parse_pam_request(VIGIL_CMD_PAM_CHAUTHTOK, encode_request(req));
    assert_true(r.ok());
    assert_int_equal(r->command, VIGIL_CMD_PAM_CHAUTHTOK);
    assert_string_equal(r->user.c_str(), "alice");
    assert_string_equal(r->service.c_str(), "sshd");
    assert_string_equal(r->tty.c_str(), "ssh");
    assert_string_equal(r->ruser.c_str(), "bob");
    assert_string_equal(r->rhost.c_str(), "client.example.com");
    assert_true(r->authtok.has_value() && r->authtok->reveal() == "s3cret");
    assert_true(r->new_authtok.has_value() && r->new_authtok->reveal() == "n3w-s3cret");
    assert_true(r->silent() && r->disallow_null_authtok());
    assert_true(r->requesting_pid == 4242u);

    // The least a module sends: a user, its flags and pid; an empty password
    // is an AUTHTOK of type EMPTY, which is not "no AUTHTOK".
    vigil_pam_request bare{};
    bare.user = "alice";
    auto b = parse_pam_request(VIGIL_CMD_PAM_ACCT_MGMT, encode_request(bare));
    assert_true(b.ok());
    assert_false(b->authtok.has_value());
    assert_true(b->service.empty());
    bare.authtok = "";
    auto e = parse_pam_request(VIGIL_CMD_PAM_AUTHENTICATE, encode_request(bare));
    assert_true(e.ok());
    assert_true(e->authtok.has_value() && e->authtok->empty());
}

void malformed_requests_are_refused(void **)
{
    std::vector<std::uint8_t> b;
    assert_refused(b, "no USER");

    item(b, VIGIL_PAM_ITEM_SERVICE, "login");
    assert_refused(b, "no USER");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, "");
    assert_refused(b, "USER is empty");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, std::string(VIGIL_MAX_NAME_LEN + 1, 'a'));
    assert_refused(b, "USER longer than 255");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, std::string("ali\0ce", 6));
    assert_refused(b, "USER holds a NUL");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, "alice");
    item(b, VIGIL_PAM_ITEM_USER, "bob");
    assert_refused(b, "USER twice");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, "alice");
    item(b, 99, "x");
    assert_refused(b, "unknown item type 99");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, "alice");
    item(b, VIGIL_PAM_ITEM_TTY, std::string(VIGIL_MAX_PAM_ITEM_LEN + 1, 't'));
    assert_refused(b, "TTY longer than 4096");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, "alice");
    b.push_back(1); // half a header
    assert_refused(b, "cut short");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, "alice");
    u32(b, VIGIL_PAM_ITEM_RHOST);
    u32(b, 1000); // longer than what follows
    b.push_back('h');
    assert_refused(b, "longer than the request");

    auto with_token = [](const std::string &value) {
        std::vector<std::uint8_t> out;
        item(out, VIGIL_PAM_ITEM_USER, "alice");
        item(out, VIGIL_PAM_ITEM_AUTHTOK, value);
        return out;
    };
    assert_refused(with_token("ab"), "AUTHTOK without its type");
    assert_refused(with_token(token(VIGIL_AUTHTOK_EMPTY, "s3cret")), "type EMPTY carries bytes");
    assert_refused(with_token(token(VIGIL_AUTHTOK_PASSWORD, "")), "type PASSWORD is empty");
    assert_refused(with_token(token(7, "s3cret")), "unknown type");
    assert_refused(with_token(token(VIGIL_AUTHTOK_PASSWORD, std::string("s3c\0ret", 7))), "AUTHTOK holds a NUL");
    assert_refused(with_token(token(VIGIL_AUTHTOK_PASSWORD, "s3cret" + std::string(VIGIL_MAX_AUTHTOK_LEN, 'x'))),
                   "AUTHTOK longer than 4096");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, "alice");
    item(b, VIGIL_PAM_ITEM_FLAGS, four(0x80));
    assert_refused(b, "unknown flags");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, "alice");
    item(b, VIGIL_PAM_ITEM_REQUESTING_PID, "123");
    assert_refused(b, "REQUESTING_PID is not 4 bytes");

    b.clear();
    item(b, VIGIL_PAM_ITEM_USER, "alice");
    assert_refused(b, "not a PAM command", VIGIL_CMD_GETPWNAM);
}

// Every truncation of a good request is refused or parses (never reads past
// the end: ASan runs this test in CI).
void every_truncation_is_handled(void **)
{
    vigil_pam_request req{};
    req.service = "login";
    req.user = "alice";
    req.authtok = "s3cret";
    const auto full = encode_request(req);
    for (std::size_t n = 0; n < full.size(); ++n) {
        std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        auto r = parse_pam_request(VIGIL_CMD_PAM_AUTHENTICATE, cut);
        if (r.ok()) assert_string_equal(r->user.c_str(), "alice");
    }
}

void replies_parse_in_the_module(void **)
{
    PamReply reply;
    reply.result = VIGIL_PAM_NEW_AUTHTOK_REQD;
    reply.info("Authenticated with cached credentials.").error("Your password has expired.");
    reply.env.push_back("KRB5CCNAME=FILE:/tmp/krb5cc_10001");
    reply.data.push_back({"vigil_expired", {'1'}});
    auto body = encode_pam_reply(reply);
    assert_true(body.ok());
    vigil_pam_reply_view view{};
    assert_int_equal(vigil_pam_parse_reply(body->data(), body->size(), &view), 0);
    assert_int_equal(view.result, VIGIL_PAM_NEW_AUTHTOK_REQD);
    assert_int_equal(view.n_messages, 2);
    assert_int_equal(view.messages[0].style, VIGIL_PAM_MSG_INFO);
    assert_string_equal(std::string(view.messages[1].text, view.messages[1].len).c_str(), "Your password has expired.");
    assert_int_equal(view.n_env, 1);
    assert_string_equal(std::string(view.env[0].text, view.env[0].len).c_str(), "KRB5CCNAME=FILE:/tmp/krb5cc_10001");
    assert_int_equal(view.n_data, 1);
    assert_string_equal(std::string(view.data[0].name, view.data[0].name_len).c_str(), "vigil_expired");
    assert_int_equal(view.data[0].data_len, 1);
}

void replies_keep_to_the_limits(void **)
{
    // The builders cut: one message too many is dropped, a long one is cut
    // at a UTF-8 boundary (a 3-byte character straddling the limit goes).
    PamReply reply;
    reply.result = VIGIL_PAM_SUCCESS;
    for (unsigned i = 0; i < VIGIL_MAX_PAM_MESSAGES + 5; ++i) reply.info("m");
    assert_int_equal(reply.messages.size(), VIGIL_MAX_PAM_MESSAGES);
    PamReply cut;
    cut.info(std::string(VIGIL_MAX_PAM_MESSAGE_LEN - 1, 'a') + "\xe2\x82\xac" + "tail");
    assert_int_equal(cut.messages[0].text.size(), VIGIL_MAX_PAM_MESSAGE_LEN - 1);
    cut.info(std::string("nul\0inside", 10));
    assert_string_equal(cut.messages[1].text.c_str(), "nul?inside");
    auto body = encode_pam_reply(reply);
    assert_true(body.ok());
    vigil_pam_reply_view view{};
    assert_int_equal(vigil_pam_parse_reply(body->data(), body->size(), &view), 0);

    // What the builders do not guard is refused, never sent half right.
    PamReply bad;
    bad.result = VIGIL_PAM_SUCCESS;
    bad.env.push_back("NOEQUALS");
    assert_false(encode_pam_reply(bad).ok());
    bad.env = {"=value"};
    assert_false(encode_pam_reply(bad).ok());
    bad.env.clear();
    bad.data.push_back({"", {1}});
    assert_false(encode_pam_reply(bad).ok());
    bad.data = {{"big", std::vector<std::uint8_t>(VIGIL_MAX_PAM_ITEM_LEN + 1)}};
    assert_false(encode_pam_reply(bad).ok());
    bad.data.clear();
    bad.messages.assign(VIGIL_MAX_PAM_MESSAGES + 1, {VIGIL_PAM_MSG_INFO, "x"});
    assert_false(encode_pam_reply(bad).ok());
    bad.messages.clear();
    bad.result = static_cast<vigil_pam_result>(VIGIL_PAM_RESULT_MAX + 1);
    assert_false(encode_pam_reply(bad).ok());
}

void callers_act_only_for_themselves_on_the_public_socket(void **)
{
    using P = PamPermission;
    auto is = [](P got, P want) { assert_int_equal(static_cast<int>(got), static_cast<int>(want)); };
    is(pam_permission(PamSocket::public_socket, 10001, 10001), P::allowed);
    is(pam_permission(PamSocket::public_socket, 10001, 10002), P::not_for_this_caller);
    is(pam_permission(PamSocket::public_socket, 10001, std::nullopt), P::unknown_user);
    // a privileged program (euid 0, a setuid su or passwd) asks about anyone
    is(pam_permission(PamSocket::public_socket, 0, 10002), P::allowed);
    is(pam_permission(PamSocket::private_socket, 0, 10002), P::allowed);
    is(pam_permission(PamSocket::private_socket, 0, std::nullopt), P::unknown_user);
    is(pam_permission(PamSocket::private_socket, 10001, 10001), P::not_for_this_caller);
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_request_from_the_module_parses_back_whole),
        cmocka_unit_test(malformed_requests_are_refused),
        cmocka_unit_test(every_truncation_is_handled),
        cmocka_unit_test(replies_parse_in_the_module),
        cmocka_unit_test(replies_keep_to_the_limits),
        cmocka_unit_test(callers_act_only_for_themselves_on_the_public_socket),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
