#include "providers/ldap/ldap_auth.hpp"

#include "util/log.hpp"

#include <cerrno>
#include <fcntl.h>

namespace vigil::ldap {

// ---- settings --------------------------------------------------------------

Result<AuthSettings> AuthSettings::from_config(const Config &config, const std::string &domain)
{
    auto ldap = LdapSettings::from_config(config, domain);
    if (!ldap) return std::move(ldap).error();
    const std::string section = "domain/" + domain;
    AuthSettings s;
    s.ldap = std::move(*ldap);
    s.chpass_uris = config.get_list(section, "ldap_chpass_uri");
    s.allow_without_tls = config.get_bool(section, "ldap_auth_disable_tls_never_use_in_production");
    s.pwd_policy = config.get_string(section, "ldap_pwd_policy") == "shadow" ? PwdPolicy::shadow : PwdPolicy::none;
    return s;
}

// ---- what the server said ----------------------------------------------------

std::vector<std::string> policy_notices(const AuthAnswer &a)
{
    if (a.outcome != AuthOutcome::ok && a.outcome != AuthOutcome::password_expired) return {};
    if (a.grace_logins_left >= 0)
        return {"Your password has expired: " + std::to_string(a.grace_logins_left) +
                " grace login(s) left. Change it now."};
    if (a.expires_in <= 0) return {};
    // Rounded up: 2 days and 23 hours are "3 days" to a person.
    const int seconds = a.expires_in;
    auto up = [seconds](int unit) { return std::to_string((seconds + unit - 1) / unit); };
    std::string when = seconds > 86400 ? up(86400) + " day(s)"
                     : seconds > 3600  ? up(3600) + " hour(s)"
                                       : up(60) + " minute(s)";
    return {"Your password will expire in " + when + "."};
}

const char *auth_outcome_name(AuthOutcome o) noexcept
{
    switch (o) {
    case AuthOutcome::ok: return "ok";
    case AuthOutcome::wrong_password: return "wrong_password";
    case AuthOutcome::account_locked: return "account_locked";
    case AuthOutcome::password_expired: return "password_expired";
    case AuthOutcome::expired_no_grace: return "expired_no_grace";
    case AuthOutcome::unavailable: return "unavailable";
    case AuthOutcome::error: return "error";
    }
    return "?";
}

const char *change_outcome_name(ChangeOutcome o) noexcept
{
    switch (o) {
    case ChangeOutcome::ok: return "ok";
    case ChangeOutcome::wrong_password: return "wrong_password";
    case ChangeOutcome::account_locked: return "account_locked";
    case ChangeOutcome::rejected: return "rejected";
    case ChangeOutcome::unavailable: return "unavailable";
    case ChangeOutcome::error: return "error";
    }
    return "?";
}

namespace {

bool unreachable_code(int code)
{
    switch (code) {
    case LDAP_SERVER_DOWN:
    case LDAP_CONNECT_ERROR:
    case LDAP_UNAVAILABLE:
    case LDAP_BUSY:
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED: return true;
    default: return false;
    }
}

// "Invalid credentials (the server's text)".
std::string server_text(int code, std::string_view diag)
{
    std::string text = ldap_err2string(code);
    if (!diag.empty()) text += " (" + std::string(diag) + ")";
    return text;
}

// Active Directory puts the reason for a refused bind into the diagnostic
// as "data NNN"; 389-ds and slapd's ppolicy use controls or other codes.
bool ad_says(std::string_view diag, std::string_view subcode)
{
    return diag.find(std::string("data ") + std::string(subcode)) != std::string_view::npos;
}

} // namespace

AuthAnswer classify_bind(int code, std::string_view diag, int ppolicy_error)
{
    const std::string said = server_text(code, diag);
    if (ppolicy_error == PP_accountLocked) return {AuthOutcome::account_locked, "the server says the account is locked: " + said};
    if (code == LDAP_SUCCESS) {
        if (ppolicy_error == PP_changeAfterReset || ppolicy_error == PP_passwordExpired)
            return {AuthOutcome::password_expired, "the server says the password must be changed"};
        return {AuthOutcome::ok, "bind succeeded"};
    }
    if (unreachable_code(code)) return {AuthOutcome::unavailable, said};
    switch (code) {
    case LDAP_INVALID_CREDENTIALS:
        // slapd's and 389-ds's ppolicy refuse the bind of a right password
        // that expired with no grace login left: the user can no longer bind,
        // so cannot change it either (a change is a bind first).
        if (ppolicy_error == PP_passwordExpired)
            return {AuthOutcome::expired_no_grace,
                    "the server says the password has expired and no grace login is left: " + said};
        // Active Directory lets the user change such a password (kpasswd).
        if (ad_says(diag, "532") || ad_says(diag, "773"))
            return {AuthOutcome::password_expired, "the server says the password has expired: " + said};
        if (ad_says(diag, "533") || ad_says(diag, "775") || ad_says(diag, "701"))
            return {AuthOutcome::account_locked, "the server says the account is disabled or locked: " + said};
        return {AuthOutcome::wrong_password, said};
    case LDAP_NO_SUCH_OBJECT: return {AuthOutcome::wrong_password, said}; // an unknown DN says no more than a bad password
    // 389-ds refuses the bind of an inactivated account (nsAccountLock) so,
    // and a locked one (passwordMaxFailure) with a constraint violation.
    case LDAP_UNWILLING_TO_PERFORM:
        return {AuthOutcome::account_locked, "the server refused the bind (account disabled?): " + said};
    case LDAP_CONSTRAINT_VIOLATION:
        if (diag.find("retry limit") != std::string_view::npos)
            return {AuthOutcome::account_locked, "the server says the account is locked: " + said};
        return {AuthOutcome::error, said};
    default: return {AuthOutcome::error, said};
    }
}

ChangeAnswer classify_change(int code, std::string_view diag, int ppolicy_error)
{
    const std::string said = server_text(code, diag);
    if (code == LDAP_SUCCESS) return {ChangeOutcome::ok, "password changed"};
    if (unreachable_code(code)) return {ChangeOutcome::unavailable, said};
    // The server's own words first: they are what the user can act on.
    auto refusal = [&](const char *fallback) {
        std::string why = !diag.empty() ? std::string(diag) : fallback;
        return ChangeAnswer{ChangeOutcome::rejected, why};
    };
    switch (ppolicy_error) {
    case PP_passwordModNotAllowed:
    case PP_mustSupplyOldPassword:
    case PP_insufficientPasswordQuality:
    case PP_passwordTooShort:
    case PP_passwordTooYoung:
    case PP_passwordInHistory:
    case PP_passwordTooLong:
        return refusal(ldap_passwordpolicy_err2txt(static_cast<LDAPPasswordPolicyError>(ppolicy_error)));
    case PP_accountLocked: return {ChangeOutcome::account_locked, "the server says the account is locked: " + said};
    default: break;
    }
    switch (code) {
    case LDAP_INVALID_CREDENTIALS: return {ChangeOutcome::wrong_password, said};
    case LDAP_CONSTRAINT_VIOLATION:
    case LDAP_UNWILLING_TO_PERFORM:
    case LDAP_INSUFFICIENT_ACCESS:
    case LDAP_INVALID_SYNTAX:
    case LDAP_OBJECT_CLASS_VIOLATION: return refusal(ldap_err2string(code));
    default: return {ChangeOutcome::error, said};
    }
}

// ---- requests ----------------------------------------------------------------

// The answer for a request, whichever kind it is: each kind reads its half.
struct PasswordAuth::Verdict {
    AuthAnswer auth;
    ChangeAnswer change;

    static Verdict failure(AuthOutcome a, ChangeOutcome c, std::string message)
    {
        return {{a, message}, {c, message}};
    }
    static Verdict unavailable(std::string message)
    {
        return failure(AuthOutcome::unavailable, ChangeOutcome::unavailable, std::move(message));
    }
    static Verdict error(std::string message) { return failure(AuthOutcome::error, ChangeOutcome::error, std::move(message)); }
};

struct PasswordAuth::Request {
    enum class Kind { authenticate, change, reset };
    enum class Step { connecting, binding, changing };

    Kind kind = Kind::authenticate;
    Step step = Step::connecting;
    std::string user_dn;
    std::string bind_dn; // the user, or ldap_default_bind_dn for a reset
    Secret bind_password;
    Secret old_password; // change: sent again in the extended operation
    Secret new_password;
    const std::vector<std::string> *uris = nullptr;
    std::size_t uri_index = 0;
    bool holds_slot = false; // one of max_connecting, from connect() until connected or concluded
    bool queued = false;     // in waiting_for_slot_

    std::unique_ptr<Connector> connector;
    LdapHandle handle;
    Watch readable;
    Timer deadline;
    Timer answer_later;
    int msgid = -1;

    AuthDone auth_done;
    ChangeDone change_done;

    const std::string &uri() const { return uris->at(uri_index); }
    const char *what() const
    {
        switch (kind) {
        case Kind::authenticate: return "authentication";
        case Kind::change: return "password change";
        case Kind::reset: return "password reset";
        }
        return "?";
    }
};

PasswordAuth::PasswordAuth(EventLoop &loop, AuthSettings settings) : loop_(loop), settings_(std::move(settings)) {}

PasswordAuth::~PasswordAuth() = default; // each Request closes its connection and drops its callback

void PasswordAuth::authenticate(std::string user_dn, Secret password, AuthDone done)
{
    auto req = std::make_unique<Request>();
    req->kind = Request::Kind::authenticate;
    req->bind_dn = user_dn;
    req->user_dn = std::move(user_dn);
    req->bind_password = std::move(password);
    req->uris = &settings_.ldap.uris;
    req->auth_done = std::move(done);
    admit(std::move(req));
}

void PasswordAuth::change_password(std::string user_dn, Secret old_password, Secret new_password, ChangeDone done)
{
    auto req = std::make_unique<Request>();
    req->kind = Request::Kind::change;
    req->bind_dn = user_dn;
    req->user_dn = std::move(user_dn);
    req->bind_password = old_password;
    req->old_password = std::move(old_password);
    req->new_password = std::move(new_password);
    req->uris = settings_.chpass_uris.empty() ? &settings_.ldap.uris : &settings_.chpass_uris;
    req->change_done = std::move(done);
    admit(std::move(req));
}

void PasswordAuth::reset_password(std::string user_dn, Secret new_password, ChangeDone done)
{
    auto req = std::make_unique<Request>();
    req->kind = Request::Kind::reset;
    req->bind_dn = settings_.ldap.bind_dn;
    req->user_dn = std::move(user_dn);
    req->bind_password = settings_.ldap.bind_password;
    req->new_password = std::move(new_password);
    req->uris = settings_.chpass_uris.empty() ? &settings_.ldap.uris : &settings_.chpass_uris;
    req->change_done = std::move(done);
    admit(std::move(req));
}

namespace {

// TLS before any password: ldaps://, or ldap:// with StartTLS.
bool tls_planned(const std::string &uri, const LdapSettings &s)
{
    return uri.starts_with("ldaps://") || (uri.starts_with("ldap://") && s.start_tls);
}

// The password policy request control, asked for with every bind and change
// (non-critical: servers without ppolicy ignore it) so that a locked or
// expired account says so. Freed with the object.
class PolicyRequestControl {
public:
    explicit PolicyRequestControl(LDAP *ld)
    {
        (void)ldap_create_passwordpolicy_control(ld, &control_);
        list_[0] = control_;
    }
    ~PolicyRequestControl()
    {
        if (control_) ldap_control_free(control_);
    }
    PolicyRequestControl(const PolicyRequestControl &) = delete;
    PolicyRequestControl &operator=(const PolicyRequestControl &) = delete;
    // The server controls to pass; null when the control could not be made.
    LDAPControl **list() { return control_ ? list_ : nullptr; }

private:
    LDAPControl *control_ = nullptr;
    LDAPControl *list_[2] = {nullptr, nullptr};
};

} // namespace

std::uint64_t PasswordAuth::admit(std::unique_ptr<Request> req)
{
    const std::uint64_t id = next_id_++;
    Request &r = *req;
    requests_.emplace(id, std::move(req));
    // Refusals are answered on the next turn, like every other answer.
    if (r.kind == Request::Kind::reset && (r.bind_dn.empty() || r.bind_password.empty())) {
        conclude_later(id, Verdict::error("a password reset binds as ldap_default_bind_dn, which is not set"));
        return id;
    }
    if (r.bind_password.empty()) {
        conclude_later(id, Verdict::failure(AuthOutcome::wrong_password, ChangeOutcome::wrong_password,
                                            "an empty password is refused without asking the server"));
        return id;
    }
    if (r.bind_dn.empty()) {
        // An empty name with a password is no user at all (RFC 4513 5.1).
        conclude_later(id, Verdict::failure(AuthOutcome::wrong_password, ChangeOutcome::wrong_password,
                                            "an empty user DN is refused without asking the server"));
        return id;
    }
    if (r.kind != Request::Kind::authenticate && r.new_password.empty()) {
        conclude_later(id, Verdict::failure(AuthOutcome::error, ChangeOutcome::rejected, "the new password is empty"));
        return id;
    }
    if (r.uris->empty()) {
        conclude_later(id, Verdict::error("no server: ldap_uri is empty"));
        return id;
    }
    if (!settings_.allow_without_tls) {
        for (const std::string &uri : *r.uris) {
            if (tls_planned(uri, settings_.ldap)) continue;
            conclude_later(id, Verdict::error("refusing to send a password to " + uri +
                                              " without TLS: use ldaps:// or ldap_id_use_start_tls = true "
                                              "(ldap_auth_disable_tls_never_use_in_production)"));
            return id;
        }
    }
    connect(id);
    return id;
}

void PasswordAuth::connect(std::uint64_t id)
{
    Request &req = *requests_.at(id);
    req.step = Request::Step::connecting;
    if (!req.holds_slot) {
        if (connecting_ >= max_connecting) {
            if (req.queued) return;
            req.queued = true;
            waiting_for_slot_.push_back(id);
            // As long as one connection attempt may take (see Connector::start).
            const auto bound = settings_.ldap.network_timeout * 2 + settings_.ldap.opt_timeout * 3 +
                               std::chrono::seconds(1);
            req.deadline = loop_.after(bound, [this, id, bound] {
                conclude(id, Verdict::unavailable("waited " + std::to_string(bound.count()) + " s for one of " +
                                                  std::to_string(max_connecting) +
                                                  " connection slots for password checks: the servers are slow"));
            });
            return;
        }
        req.holds_slot = true;
        ++connecting_;
    }
    // The Connector binds when told a DN, synchronously in its worker: this
    // connection must stay anonymous until the loop sends the user's bind.
    LdapSettings anonymous = settings_.ldap;
    anonymous.bind_dn.clear();
    anonymous.bind_password.wipe();
    anonymous.bind_method = BindMethod::simple; // not as the host either (ldap_sasl_mech)
    VLOG(trace, "%s for %s: connecting to %s", req.what(), req.user_dn.c_str(), req.uri().c_str());
    auto c = Connector::start(loop_, anonymous, req.uri(),
                              [this, id](Result<Connected> r) { connected(id, std::move(r)); });
    if (!c) {
        conclude_later(id, Verdict::unavailable(c.error().message));
        return;
    }
    req.connector = std::move(*c);
}

void PasswordAuth::connected(std::uint64_t id, Result<Connected> result)
{
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    Request &req = *it->second;
    req.connector.reset();
    if (!result) {
        VLOG(minor, "%s for %s: %s", req.what(), req.user_dn.c_str(), result.error().message.c_str());
        // Nothing was sent yet: the next server may answer (in the same slot).
        if (req.uri_index + 1 < req.uris->size()) {
            ++req.uri_index;
            connect(id);
            return;
        }
        conclude(id, Verdict::unavailable(result.error().message));
        return;
    }
    req.handle = std::move(result->handle);
    req.holds_slot = false;
    slot_freed();
    if (!settings_.allow_without_tls && !ldap_tls_inplace(req.handle.get())) {
        conclude(id, Verdict::error("refusing to send a password to " + req.uri() + ": TLS is not in place"));
        return;
    }
    int fd = -1;
    if (ldap_get_option(req.handle.get(), LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0) {
        conclude(id, Verdict::error("the connection to " + req.uri() + " has no socket"));
        return;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        conclude(id, Verdict::error(sys_error("fcntl O_NONBLOCK", errno).message));
        return;
    }
    auto watch = loop_.on_readable(fd, [this, id] { readable(id); });
    if (!watch) {
        conclude(id, Verdict::error(watch.error().message));
        return;
    }
    req.readable = std::move(*watch);
    send_bind(id);
}

void PasswordAuth::send_bind(std::uint64_t id)
{
    Request &req = *requests_.at(id);
    req.step = Request::Step::binding;
    PolicyRequestControl ppolicy(req.handle.get());
    berval cred{static_cast<ber_len_t>(req.bind_password.reveal().size()),
                const_cast<char *>(req.bind_password.reveal().data())};
    VLOG(trace, "%s for %s: binding as %s to %s", req.what(), req.user_dn.c_str(), req.bind_dn.c_str(),
         req.uri().c_str());
    int msgid = -1;
    int rc = ldap_sasl_bind(req.handle.get(), req.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, ppolicy.list(), nullptr,
                            &msgid);
    req.bind_password.wipe(); // sent; a change sends old_password again, a reset nothing more
    if (rc != LDAP_SUCCESS) {
        conclude_later(id, Verdict::unavailable(describe(req.handle.get(), rc, "sending the bind to " + req.uri())));
        return;
    }
    req.msgid = msgid;
    arm_deadline(id);
}

// ldap_opt_timeout for the operation now in flight (a change restarts the
// bound its bind had).
void PasswordAuth::arm_deadline(std::uint64_t id)
{
    const auto bound = settings_.ldap.opt_timeout;
    requests_.at(id)->deadline = loop_.after(bound, [this, id, bound] {
        auto it = requests_.find(id);
        if (it == requests_.end()) return;
        const Request &r = *it->second;
        conclude(id, Verdict::unavailable("no answer from " + r.uri() + " within ldap_opt_timeout = " +
                                          std::to_string(bound.count()) + " s to the " +
                                          (r.step == Request::Step::binding ? "bind as " + r.bind_dn
                                                                            : "password change of " + r.user_dn)));
    });
}

void PasswordAuth::send_change(std::uint64_t id)
{
    Request &req = *requests_.at(id);
    req.step = Request::Step::changing;
    PolicyRequestControl ppolicy(req.handle.get());
    berval user{static_cast<ber_len_t>(req.user_dn.size()), req.user_dn.data()};
    berval old_pw{static_cast<ber_len_t>(req.old_password.reveal().size()),
                  const_cast<char *>(req.old_password.reveal().data())};
    berval new_pw{static_cast<ber_len_t>(req.new_password.reveal().size()),
                  const_cast<char *>(req.new_password.reveal().data())};
    VLOG(trace, "%s for %s: password modify on %s", req.what(), req.user_dn.c_str(), req.uri().c_str());
    int msgid = -1;
    int rc = ldap_passwd(req.handle.get(), &user, req.old_password.empty() ? nullptr : &old_pw, &new_pw,
                         ppolicy.list(), nullptr, &msgid);
    req.old_password.wipe();
    req.new_password.wipe();
    if (rc != LDAP_SUCCESS) {
        conclude_later(id, Verdict::unavailable(describe(req.handle.get(), rc, "sending the password change to " + req.uri())));
        return;
    }
    req.msgid = msgid;
    arm_deadline(id);
}

void PasswordAuth::readable(std::uint64_t id)
{
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    Request &req = *it->second;
    if (req.msgid < 0) return;
    LDAPMessage *raw = nullptr;
    timeval zero{0, 0};
    int rc = ldap_result(req.handle.get(), req.msgid, LDAP_MSG_ALL, &zero, &raw);
    if (rc == 0) return; // part of a message (or a TLS record): more to come
    MessagePtr msg(raw);
    if (rc < 0) {
        int code = LDAP_SERVER_DOWN;
        ldap_get_option(req.handle.get(), LDAP_OPT_RESULT_CODE, &code);
        conclude(id, Verdict::unavailable(describe(req.handle.get(), code, "the connection to " + req.uri())));
        return;
    }
    answered(id, msg.get());
}

void PasswordAuth::answered(std::uint64_t id, LDAPMessage *msg)
{
    Request &req = *requests_.at(id);
    req.msgid = -1;
    req.deadline.cancel();
    int code = LDAP_OTHER;
    char *diag_raw = nullptr;
    LDAPControl **controls = nullptr;
    int rc = ldap_parse_result(req.handle.get(), msg, &code, nullptr, &diag_raw, nullptr, &controls, 0);
    const std::string diag = diag_raw ? diag_raw : "";
    ldap_memfree(diag_raw);
    int ppolicy_error = -1;
    ber_int_t expire = -1, grace = -1;
    if (rc == LDAP_SUCCESS) {
        if (LDAPControl *c = ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE, controls, nullptr)) {
            LDAPPasswordPolicyError err = PP_noError;
            if (ldap_parse_passwordpolicy_control(req.handle.get(), c, &expire, &grace, &err) == LDAP_SUCCESS &&
                err != PP_noError)
                ppolicy_error = err;
        }
    }
    ldap_controls_free(controls);
    if (rc != LDAP_SUCCESS) {
        conclude(id, Verdict::error(describe(req.handle.get(), rc, "reading the answer of " + req.uri())));
        return;
    }

    if (req.step == Request::Step::binding) {
        AuthAnswer a = classify_bind(code, diag, ppolicy_error);
        a.expires_in = expire;
        a.grace_logins_left = grace;
        // A grace login: the bind took, but only because the server allows
        // a few after the password expired: it must be changed.
        if (a.outcome == AuthOutcome::ok && grace >= 0) {
            a.outcome = AuthOutcome::password_expired;
            a.message = "the password has expired; the server allowed a grace login (" + std::to_string(grace) +
                        " left)";
        }
        if (req.kind == Request::Kind::authenticate) {
            conclude(id, Verdict{a, {}});
            return;
        }
        // A change needs a bind that took: a password that must be changed
        // is exactly the case for changing it.
        if (a.outcome == AuthOutcome::ok || a.outcome == AuthOutcome::password_expired) {
            send_change(id);
            return;
        }
        ChangeOutcome c = ChangeOutcome::error;
        switch (a.outcome) {
        case AuthOutcome::wrong_password: c = ChangeOutcome::wrong_password; break;
        case AuthOutcome::account_locked: c = ChangeOutcome::account_locked; break;
        case AuthOutcome::unavailable: c = ChangeOutcome::unavailable; break;
        default: break;
        }
        if (req.kind == Request::Kind::reset && c == ChangeOutcome::wrong_password) {
            // Not the user's fault: the configured account did not bind.
            c = ChangeOutcome::error;
            a.message = "the bind as ldap_default_bind_dn " + req.bind_dn + " failed: " + a.message;
        }
        conclude(id, Verdict{{}, {c, a.message}});
        return;
    }
    conclude(id, Verdict{{}, classify_change(code, diag, ppolicy_error)});
}

void PasswordAuth::conclude(std::uint64_t id, Verdict verdict)
{
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    std::unique_ptr<Request> req = std::move(it->second);
    requests_.erase(it);
    if (req->holds_slot) slot_freed();
    // Unbinds and closes the connection (a frozen server cannot hold us: the
    // socket is non-blocking by now), and wipes whatever secret is left.
    req->readable.reset();
    req->handle.reset();
    if (req->kind == Request::Kind::authenticate) {
        VLOG(info, "authentication of %s: %s (%s)", req->user_dn.c_str(), auth_outcome_name(verdict.auth.outcome),
             verdict.auth.message.c_str());
        if (req->auth_done) req->auth_done(std::move(verdict.auth));
    } else {
        VLOG(info, "%s of %s: %s (%s)", req->what(), req->user_dn.c_str(), change_outcome_name(verdict.change.outcome),
             verdict.change.message.c_str());
        if (req->change_done) req->change_done(std::move(verdict.change));
    }
}

void PasswordAuth::slot_freed()
{
    --connecting_;
    while (connecting_ < max_connecting && !waiting_for_slot_.empty()) {
        const std::uint64_t next = waiting_for_slot_.front();
        waiting_for_slot_.pop_front();
        auto it = requests_.find(next);
        if (it == requests_.end() || !it->second->queued) continue;
        it->second->queued = false;
        it->second->deadline.cancel();
        connect(next);
    }
}

void PasswordAuth::conclude_later(std::uint64_t id, Verdict verdict)
{
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    it->second->answer_later = loop_.after(std::chrono::milliseconds(-1), [this, id, verdict] {
        conclude(id, verdict);
    });
}

} // namespace vigil::ldap
