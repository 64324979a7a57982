#include "responder/pam/pam_responder.hpp"

#include "responder/common/cache_reader.hpp"
#include "util/creds/canonical_name.hpp"
#include "util/ini.hpp" // is_valid_utf8
#include "util/log.hpp"

#include <ctime>

namespace vigil::responder {
namespace {

// D-Bus strings must be UTF-8 and a password need not be: tokens travel in hex.
std::string to_hex(const Secret &secret)
{
    static constexpr char digits[] = "0123456789abcdef";
    const std::string &in = secret.reveal();
    std::string out(in.size() * 2, '0');
    for (std::size_t i = 0; i < in.size(); ++i) {
        const auto b = static_cast<unsigned char>(in[i]);
        out[2 * i] = digits[b >> 4];
        out[2 * i + 1] = digits[b & 0xf];
    }
    return out;
}

using dp_iface::Lookup;
using dp_iface::Outcome;

const char *command_name(std::uint32_t command)
{
    switch (command) {
    case VIGIL_CMD_PAM_AUTHENTICATE: return "authenticate";
    case VIGIL_CMD_PAM_SETCRED: return "setcred";
    case VIGIL_CMD_PAM_ACCT_MGMT: return "acct_mgmt";
    case VIGIL_CMD_PAM_OPEN_SESSION: return "open_session";
    case VIGIL_CMD_PAM_CLOSE_SESSION: return "close_session";
    case VIGIL_CMD_PAM_CHAUTHTOK_PRELIM: return "chauthtok (prelim)";
    case VIGIL_CMD_PAM_CHAUTHTOK: return "chauthtok";
    }
    return "?";
}

// The provider's "pam" reply: (u result, as messages "STYLE\ttext", as env).
PamReply from_provider(const sbus::Args &out)
{
    PamReply reply;
    const auto result = sbus::get<std::uint32_t>(out, 0);
    reply.result = result <= VIGIL_PAM_RESULT_MAX ? static_cast<vigil_pam_result>(result) : VIGIL_PAM_SYSTEM_ERR;
    for (const std::string &m : sbus::get<sbus::StringList>(out, 1)) {
        if (m.size() < 2 || m[1] != '\t' || (m[0] != '1' && m[0] != '2')) continue;
        reply.message(m[0] == '1' ? VIGIL_PAM_MSG_INFO : VIGIL_PAM_MSG_ERROR, m.substr(2));
    }
    for (const std::string &e : sbus::get<sbus::StringList>(out, 2)) {
        const auto eq = e.find('=');
        if (eq != std::string::npos && eq != 0 && e.size() <= VIGIL_MAX_PAM_ITEM_LEN &&
            e.find('\0') == std::string::npos && reply.env.size() < VIGIL_MAX_PAM_ENV)
            reply.env.push_back(e);
    }
    return reply;
}

} // namespace

void answer(Reply &reply, vigil_pam_result result, const char *message)
{
    PamReply r;
    r.result = result;
    if (message != nullptr) r.error(message);
    auto body = encode_pam_reply(r);
    if (!body) {
        reply.status(VIGIL_STATUS_UNAVAIL);
        return;
    }
    reply.ok(*body);
}

std::map<std::uint32_t, CommandHandler> PamResponder::handlers(PamSocket socket)
{
    std::map<std::uint32_t, CommandHandler> h;
    for (std::uint32_t c = VIGIL_CMD_PAM_AUTHENTICATE; c <= VIGIL_CMD_PAM_CHAUTHTOK; ++c)
        h[c] = [this, socket](ClientRequest q, Reply r) { serve(std::move(q), std::move(r), socket); };
    return h;
}

sysdb::Sysdb *PamResponder::cache_of(PamDomain &d) { return open_cache_reader(d.cache, d.paths, d.name); }

void PamResponder::serve(ClientRequest q, Reply reply, PamSocket socket)
{
    auto parsed = parse_pam_request(q.command, q.body);
    if (!parsed) {
        VLOG(minor, "pid %ld (uid %ld): %s", static_cast<long>(q.peer_pid), static_cast<long>(q.peer_uid),
             parsed.error().message.c_str());
        reply.status(VIGIL_STATUS_BAD_REQUEST);
        return;
    }
    auto req = std::make_shared<PamRequest>(std::move(*parsed));
    auto shared = std::make_shared<Reply>(std::move(reply));
    const uid_t caller = q.peer_uid;
    const auto started = std::chrono::steady_clock::now();
    // acct_mgmt decides who may log in from the user's groups: they are
    // brought up to date (initgroups) when older than pam_id_timeout.
    const bool refresh_groups = req->command == VIGIL_CMD_PAM_ACCT_MGMT;
    find_user(req->user, refresh_groups, [this, req, shared, socket, caller, started](Found found) {
        const std::optional<uid_t> uid =
            found.user ? std::optional<uid_t>(static_cast<uid_t>(found.user->record.uid)) : std::nullopt;
        if (!found.user && found.unavailable) {
            // Neither cached nor answerable: nothing can be decided.
            answer(*shared, VIGIL_PAM_AUTHINFO_UNAVAIL);
            return;
        }
        switch (pam_permission(socket, caller, uid)) {
        case PamPermission::unknown_user: answer(*shared, VIGIL_PAM_USER_UNKNOWN); return;
        case PamPermission::not_for_this_caller:
            VLOG(minor, "%s for %s refused: uid %ld may act only for itself on the public socket",
                 command_name(req->command), req->user.c_str(), static_cast<long>(caller));
            answer(*shared, VIGIL_PAM_PERM_DENIED);
            return;
        case PamPermission::allowed: break;
        }
        // The directory's spelling of the name, from here on.
        req->user = found.user->record.name;
        ask_provider(*found.domain, req, shared, socket == PamSocket::private_socket && caller == 0, started);
    });
}

void PamResponder::find_user(const std::string &name, bool refresh_groups, std::function<void(Found)> done)
{
    // One domain for now (the later issue adds several and qualified names):
    // NAME@DOMAIN is that domain's NAME; another domain's suffix is unknown.
    // No directory name is anything but UTF-8 (and D-Bus carries nothing else).
    if (!is_valid_utf8(name)) {
        done(Found{});
        return;
    }
    PamDomain *domain = nullptr;
    std::string key;
    for (auto &d : domains_) {
        auto canonical = creds::canonical_user_name(name, creds::DomainNaming{d->name});
        if (canonical) {
            domain = d.get();
            key = std::move(*canonical);
            break;
        }
    }
    if (domain == nullptr) {
        done(Found{});
        return;
    }
    auto read = [this, domain, key]() -> std::optional<sysdb::CachedUser> {
        sysdb::Sysdb *cache = cache_of(*domain);
        if (cache == nullptr) return std::nullopt;
        auto u = cache->user_by_name(key);
        if (!u) {
            VLOG(minor, "domain %s: reading user %s: %s", domain->name.c_str(), key.c_str(), u.error().message.c_str());
            return std::nullopt;
        }
        return *u;
    };
    auto cached = read();
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    auto recent = [&](const sysdb::Timestamps &ts) {
        return ts.expires_at > now && now - ts.last_update < static_cast<std::int64_t>(settings_.id_timeout.count());
    };
    bool fresh = cached && recent(cached->timestamps);
    if (fresh && refresh_groups) {
        // What decides access is the user's groups, with stamps of their own:
        // a user entry refreshed by a getpwnam says nothing about them.
        sysdb::Sysdb *cache = cache_of(*domain);
        auto groups = cache ? cache->groups_of_user(cached->record.name, cached->record.gid)
                            : Result<sysdb::Initgroups>(Error{Errc::unavailable, "no cache"});
        fresh = groups && recent(groups->timestamps);
    }
    if (fresh) {
        done(Found{domain, std::move(cached), false});
        return;
    }
    domain->dp->fetch(refresh_groups ? Lookup::initgroups : Lookup::user_by_name, key,
                      [domain, read, done = std::move(done)](Outcome outcome, const std::string &message) {
                          if (outcome == Outcome::not_found) {
                              done(Found{domain, std::nullopt, false});
                              return;
                          }
                          if (outcome != Outcome::ok)
                              VLOG(minor, "domain %s: %s; deciding from the cache", domain->name.c_str(), message.c_str());
                          auto user = read();
                          const bool unavailable = !user && outcome != Outcome::ok;
                          done(Found{domain, std::move(user), unavailable});
                      });
}

void PamResponder::ask_provider(PamDomain &domain, std::shared_ptr<PamRequest> req, std::shared_ptr<Reply> reply,
                                bool by_root, std::chrono::steady_clock::time_point started)
{
    using std::chrono::milliseconds;
    const auto spent = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
    const milliseconds left = std::max(milliseconds(1000), settings_.budget - spent);
    const std::uint32_t present = (req->authtok ? 1u : 0u) | (req->new_authtok ? 2u : 0u) | (by_root ? 4u : 0u);
    sbus::Args args{req->command,
                    req->user,
                    req->service,
                    req->tty,
                    req->ruser,
                    req->rhost,
                    req->flags,
                    req->requesting_pid.value_or(0),
                    present,
                    std::string(),
                    std::string()};
    // Moved in, not copied from an initializer list (whose copies would go
    // unwiped).
    if (req->authtok) args[9] = to_hex(*req->authtok);
    if (req->new_authtok) args[10] = to_hex(*req->new_authtok);
    // The tokens in `args` are copies: wiped as soon as the call is made
    // (libdbus's own copy goes with its message).
    auto wipe = [&args] {
        for (std::size_t i = 9; i < args.size(); ++i)
            if (auto *s = std::get_if<std::string>(&args[i]); s && !s->empty()) {
                explicit_bzero(s->data(), s->size());
                s->clear();
            }
    };
    const std::string domain_name = domain.name;
    domain.dp->call(dp_iface::pam, args, left,
                    [req, reply, domain_name](Result<sbus::Args> r) {
                        if (!r) {
                            VLOG(minor, "%s for %s: the provider of %s did not answer: %s",
                                 command_name(req->command), req->user.c_str(), domain_name.c_str(),
                                 r.error().message.c_str());
                            answer(*reply, VIGIL_PAM_AUTHINFO_UNAVAIL);
                            return;
                        }
                        PamReply out = from_provider(*r);
                        VLOG(info, "%s for %s: %u", command_name(req->command), req->user.c_str(),
                             static_cast<unsigned>(out.result));
                        if (req->silent()) out.messages.clear();
                        auto body = encode_pam_reply(out);
                        if (!body) {
                            VLOG(error, "%s for %s: %s", command_name(req->command), req->user.c_str(),
                                 body.error().message.c_str());
                            answer(*reply, VIGIL_PAM_SYSTEM_ERR);
                            return;
                        }
                        reply->ok(*body);
                    });
    wipe();
}

} // namespace vigil::responder
