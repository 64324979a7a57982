// vigil_be: the data provider of one domain. It keeps the domain's cache
// (sysdb) up to date from the directory when a responder asks, and knows
// whether the directory can be reached.
#include "providers/access/access_checker.hpp"
#include "providers/access/access_rules.hpp"
#include "providers/krb5/host_tgt.hpp"
#include "providers/krb5/krb5_pam.hpp"
#include "providers/ldap/shadow_policy.hpp"
#include "providers/ldap/ldap_auth.hpp"
#include "providers/ldap/ldap_id.hpp"
#include "providers/pam_handler.hpp"
#include "util/creds/credentials_config.hpp"
#include "util/ini.hpp" // is_valid_utf8
#include "util/krb5_options.hpp"
#include "util/log.hpp"
#include "util/sbus/dp_iface.hpp"
#include "util/sbus/monitor_iface.hpp"
#include "util/sbus/server.hpp"
#include "util/service.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace vigil;

const ServiceInfo info{
    .name = "vigil_be",
    .section = "domain",
    .summary = "The vigil data provider for one domain (LDAP and Kerberos into the cache).",
    .needs_domain = true,
};

// The tokens of a PAM call travel in hex (D-Bus strings must be UTF-8);
// anything else gives a shorter Secret, which the caller refuses.
Secret from_hex(const std::string &hex)
{
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::string bytes;
    bytes.reserve(hex.size() / 2);
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) break;
        bytes.push_back(static_cast<char>(hi << 4 | lo));
    }
    Secret s(bytes);
    if (!bytes.empty()) explicit_bzero(bytes.data(), bytes.size());
    return s;
}

OnlineAuth online_auth(ldap::AuthOutcome o)
{
    switch (o) {
    case ldap::AuthOutcome::ok: return OnlineAuth::ok;
    case ldap::AuthOutcome::wrong_password: return OnlineAuth::wrong_password;
    case ldap::AuthOutcome::account_locked: return OnlineAuth::account_locked;
    case ldap::AuthOutcome::password_expired: return OnlineAuth::password_expired;
    case ldap::AuthOutcome::expired_no_grace: return OnlineAuth::expired_no_grace;
    case ldap::AuthOutcome::unavailable: return OnlineAuth::unavailable;
    case ldap::AuthOutcome::error: break;
    }
    return OnlineAuth::error;
}

OnlineChange online_change(ldap::ChangeOutcome o)
{
    switch (o) {
    case ldap::ChangeOutcome::ok: return OnlineChange::ok;
    case ldap::ChangeOutcome::wrong_password: return OnlineChange::wrong_password;
    case ldap::ChangeOutcome::account_locked: return OnlineChange::account_locked;
    case ldap::ChangeOutcome::rejected: return OnlineChange::rejected;
    case ldap::ChangeOutcome::unavailable: return OnlineChange::unavailable;
    case ldap::ChangeOutcome::error: break;
    }
    return OnlineChange::error;
}

class Provider {
public:
    explicit Provider(Service &svc) : svc_(svc) {}

    Status start()
    {
        const Config &c = svc_.config();
        const std::string &domain = svc_.domain();
        auto ldap_settings = ldap::LdapSettings::from_config(c, domain);
        if (!ldap_settings) return std::move(ldap_settings).error();
        // First: it sets KRB5_CONFIG, which must happen before any thread runs.
        Status gssapi_ready = start_gssapi(c, domain, *ldap_settings);
        if (!gssapi_ready) return gssapi_ready;
        auto id_settings = ldap::IdSettings::from_config(c, domain);
        if (!id_settings) return std::move(id_settings).error();
        // The access rules are run by the PAM path; a configuration they
        // refuse (a rule that would deny everyone) is refused at start.
        auto access_settings = access::AccessSettings::from_config(c, domain);
        if (!access_settings) return std::move(access_settings).error();
        access_settings_ = std::move(*access_settings);
        auto cache = sysdb::Sysdb::open(sysdb::SysdbPaths::for_domain(c.get_string("vigil", "state_dir"), domain),
                                        sysdb::Sysdb::Role::writer);
        if (!cache) return std::move(cache).error();
        cache_ = std::make_unique<sysdb::Sysdb>(std::move(*cache));
        const std::string sec = svc_.section();
        DomainState::Timing timing{std::chrono::seconds(c.get_int(sec, "offline_timeout")),
                                   std::chrono::seconds(c.get_int(sec, "offline_timeout_max"))};
        id_ = std::make_unique<ldap::IdProvider>(svc_.loop(), std::move(*ldap_settings), std::move(*id_settings),
                                                 *cache_, timing);
        if (host_tgt_) {
            id_->use_credentials([this](bool renew, std::function<void(Status)> done) {
                host_tgt_->ensure(renew, std::move(done));
            });
        }
        Status pam_ready = start_pam(c, domain);
        if (!pam_ready) return pam_ready;

        const std::string run_dir = c.get_string("vigil", "run_dir");
        Status st = ensure_private_dir(monitor_iface::private_dir(run_dir), 0700);
        if (!st) return st;
        std::vector<uid_t> allowed{0};
        if (geteuid() != 0) allowed.push_back(geteuid());
        auto server = sbus::Server::listen(svc_.loop(), dp_iface::socket_path(run_dir, domain), allowed, methods(), {});
        if (!server) return std::move(server).error();
        server_ = std::move(*server);
        // Responders keep formatted answers in memory until the cache changes.
        cache_->on_commit([this](const sysdb::Changes &changes) {
            // An expiry is told once it is known to have been written (expire_cache).
            if (expiring_) expiry_ = changes;
            else emit_changes(changes, false);
        });

        id_->start_enumeration();
        st = svc_.on_signal(SIGUSR1, [this] { id_->force_offline(); });
        if (!st) return st;
        return svc_.on_signal(SIGUSR2, [this] { id_->force_online(); });
    }

private:
    // ldap_sasl_mech = GSSAPI: libkrb5 in this process (the SASL GSSAPI
    // plugin, inside the connection workers) reads the generated profile,
    // and with ldap_krb5_init_creds the host's TGT is got by the child into
    // a root-only ccache (host_tgt.hpp).
    Status start_gssapi(const Config &c, const std::string &domain, const ldap::LdapSettings &ldap)
    {
        if (ldap.bind_method != ldap::BindMethod::gssapi) return {};
        Status st = ldap::set_sasl_environment(ldap);
        if (!st) return st;
        const char *dir = secure_getenv("VIGIL_LIBEXEC_DIR"); // tests run the build tree
        const std::string libexec = dir && *dir ? dir : VIGIL_LIBEXEC_DIR;
        // The realm's KDCs (krb5_server) in the profile the bind and the child read.
        if (!c.get_string(svc_.section(), "krb5_realm").empty()) {
            auto krb5 = krb5::Krb5Settings::from_config(c, domain, libexec);
            if (!krb5) return std::move(krb5).error();
            st = krb5::write_generated_profile(*krb5);
            if (!st) return st;
        } else {
            // No KDCs of ours (ldap_sasl_realm alone): KRB5_CONFIG still
            // names the generated profile first, so one an earlier
            // configuration left must not steer the bind and the child.
            const std::string stale = krb5opt::generated_profile_path(c.get_string("vigil", "state_dir"), domain);
            if (unlink(stale.c_str()) == 0) VLOG(config, "removed %s, left by an earlier krb5_realm", stale.c_str());
            else if (errno != ENOENT) return sys_error("unlink " + stale, errno);
        }
        const ldap::SaslSettings &sasl = ldap.sasl;
        if (!sasl.init_creds) {
            VLOG(config, "GSSAPI bind with the process's own Kerberos credentials (ldap_krb5_init_creds = false)");
            return {};
        }
        st = ensure_private_dir(sasl.ccache_dir, 0700);
        if (!st) return st;
        if (chmod(sasl.ccache_dir.c_str(), 0700) != 0) return sys_error("chmod " + sasl.ccache_dir, errno);
        krb5::HostTgtSettings h;
        h.realm = sasl.realm;
        h.principal = sasl.authid;
        h.keytab = sasl.keytab;
        h.ccname = sasl.ccache;
        h.krb5_config = sasl.krb5_config;
        h.child_path = libexec + "/vigil_krb5_child";
        h.lifetime = sasl.ticket_lifetime;
        h.timeout = std::chrono::seconds(c.get_int(svc_.section(), "krb5_auth_timeout"));
        h.retry = std::chrono::seconds(c.get_int(svc_.section(), "offline_timeout"));
        host_tgt_ = std::make_unique<krb5::HostTgt>(svc_.loop(), std::move(h));
        return {};
    }

    // Cached credentials (when the domain keeps them) and the PAM handler.
    Status start_pam(const Config &c, const std::string &domain)
    {
        const creds::CredentialsConfig cc = creds::credentials_config(c, domain);
        if (cc.cache_credentials) {
            auto store = creds::CredentialStore::open(cc.db_dir, domain);
            if (!store) return std::move(store).error();
            creds_store_ = std::make_unique<creds::CredentialStore>(std::move(*store));
            auto worker = creds::HashWorker::start(svc_.loop(), {}, cc.hash_cost);
            if (!worker) return std::move(worker).error();
            hash_worker_ = std::move(*worker);
            offline_ = std::make_unique<creds::OfflineAuthenticator>(*creds_store_, *hash_worker_, cc.naming,
                                                                     cc.settings);
        }
        PamHandler::Directory directory;
        // Offline because the directory refused this host, not because it
        // is out of reach: logins still ask it (DomainState::refused()).
        directory.online = [this] { return id_->state().online() || id_->state().refused(); };
        directory.refused = [this] { return id_->state().refused(); };
        if (c.get_string(svc_.section(), "auth_provider") == "ldap") {
            auto auth = ldap::AuthSettings::from_config(c, domain);
            if (!auth) return std::move(auth).error();
            password_auth_ = std::make_unique<ldap::PasswordAuth>(svc_.loop(), std::move(*auth));
            directory.authenticate = [this](const sysdb::CachedUser &user, const Secret &password,
                                            PamHandler::Directory::AuthDone done) {
                password_auth_->authenticate(user.record.original_dn, password, [done](ldap::AuthAnswer a) {
                    done(DirectoryAnswer{online_auth(a.outcome), a.message, {}, ldap::policy_notices(a)});
                });
            };
        }
        if (c.get_string(svc_.section(), "auth_provider") == "krb5" ||
            c.get_string(svc_.section(), "chpass_provider") == "krb5") {
            Status st = start_krb5(c, domain, directory);
            if (!st) return st;
        }
        if (c.get_string(svc_.section(), "chpass_provider") == "ldap" && password_auth_ == nullptr) {
            auto auth = ldap::AuthSettings::from_config(c, domain);
            if (!auth) return std::move(auth).error();
            password_auth_ = std::make_unique<ldap::PasswordAuth>(svc_.loop(), std::move(*auth));
        }
        if (c.get_string(svc_.section(), "chpass_provider") == "ldap") {
            directory.change_password = [this](const sysdb::CachedUser &user, const Secret &old_pw,
                                               const Secret &new_pw, PamHandler::Directory::ChangeDone done) {
                password_auth_->change_password(user.record.original_dn, old_pw, new_pw,
                                                [done](ldap::ChangeAnswer a) {
                                                    done(online_change(a.outcome), a.message, {});
                                                });
            };
            directory.reset_password = [this](const sysdb::CachedUser &user, const Secret &new_pw,
                                              PamHandler::Directory::ChangeDone done) {
                password_auth_->reset_password(user.record.original_dn, new_pw,
                                               [done](ldap::ChangeAnswer a) {
                                                   done(online_change(a.outcome), a.message, {});
                                               });
            };
        }
        access_ = std::make_unique<access::AccessChecker>(
            *access_settings_, *cache_,
            [this](ldap::SearchSpec spec, access::AccessChecker::SearchDone done) {
                id_->search_directory(std::move(spec), std::move(done));
            },
            [this](std::uint32_t gid, std::function<void()> then) {
                id_->fetch(dp_iface::Lookup::group_by_gid, std::to_string(gid),
                           [then](dp_iface::Outcome, const std::string &) { then(); });
            });
        directory.access = [this](const sysdb::CachedUser &user, std::function<void(PamVerdict)> done) {
            access_->check(user.record.name, [done](access::AccessDecision d) {
                PamVerdict v;
                switch (d.kind) {
                case access::AccessDecision::Kind::permit: v.result = VIGIL_PAM_SUCCESS; break;
                case access::AccessDecision::Kind::deny:
                    v.result = d.account_expired ? VIGIL_PAM_ACCT_EXPIRED : VIGIL_PAM_PERM_DENIED;
                    v.error(d.account_expired ? "Your account has expired." : "Access denied.");
                    VLOG(info, "access denied: %s", d.reason.c_str());
                    break;
                case access::AccessDecision::Kind::unavailable:
                    v.result = VIGIL_PAM_AUTHINFO_UNAVAIL;
                    VLOG(minor, "access cannot be decided: %s", d.reason.c_str());
                    break;
                }
                done(std::move(v));
            });
        };
        if (c.get_string(svc_.section(), "ldap_pwd_policy") == "shadow") {
            directory.password_policy = [](const sysdb::CachedUser &user) {
                const auto attrs = ldap::ShadowAttributes::from_attributes(user.record.extra);
                const auto verdict = ldap::check_shadow(attrs, ldap::days_since_epoch(std::time(nullptr)));
                PamVerdict v;
                v.result = VIGIL_PAM_SUCCESS;
                switch (verdict.status) {
                case ldap::ShadowStatus::ok: break;
                case ldap::ShadowStatus::warn_expiring:
                    v.info("Your password will expire in " + std::to_string(verdict.days_left) + " day(s).");
                    break;
                case ldap::ShadowStatus::password_expired:
                    v.result = VIGIL_PAM_NEW_AUTHTOK_REQD;
                    v.error("Your password has expired: change it now.");
                    break;
                case ldap::ShadowStatus::account_expired:
                    v.result = VIGIL_PAM_ACCT_EXPIRED;
                    v.error("Your account has expired.");
                    break;
                case ldap::ShadowStatus::malformed:
                    v.result = VIGIL_PAM_PERM_DENIED;
                    VLOG(error, "acct_mgmt %s: %s", user.record.name.c_str(), verdict.reason.c_str());
                    break;
                }
                return v;
            };
        }
        pam_ = std::make_unique<PamHandler>(*cache_, std::move(directory), offline_.get());
        return {};
    }

    // auth_provider or chpass_provider = krb5: each in a vigil_krb5_child.
    Status start_krb5(const Config &c, const std::string &domain, PamHandler::Directory &directory)
    {
        const char *dir = secure_getenv("VIGIL_LIBEXEC_DIR"); // tests run the build tree
        auto settings = krb5::Krb5Settings::from_config(c, domain, dir && *dir ? dir : VIGIL_LIBEXEC_DIR);
        if (!settings) return std::move(settings).error();
        krb5_auth_ = std::make_unique<krb5::Krb5Auth>(svc_.loop(), std::move(*settings));
        Status st = krb5_auth_->write_profile();
        if (!st) return st;
        krb5::plug_into(*krb5_auth_, c.get_string(svc_.section(), "auth_provider") == "krb5",
                        c.get_string(svc_.section(), "chpass_provider") == "krb5", directory);
        // The first login's child, waiting for it.
        krb5_auth_->keep_spare();
        return {};
    }

    // org.vigil.DataProvider.pam (dp_iface.hpp)
    void pam(sbus::Request req)
    {
        sbus::Args &a = req.args();
        PamCall call;
        call.command = sbus::get<std::uint32_t>(a, 0);
        call.user = sbus::get<std::string>(a, 1);
        call.service = sbus::get<std::string>(a, 2);
        call.tty = sbus::get<std::string>(a, 3);
        call.ruser = sbus::get<std::string>(a, 4);
        call.rhost = sbus::get<std::string>(a, 5);
        call.flags = sbus::get<std::uint32_t>(a, 6);
        call.pid = sbus::get<std::uint32_t>(a, 7);
        const std::uint32_t present = sbus::get<std::uint32_t>(a, 8);
        if (present & 1u) call.authtok = from_hex(sbus::get<std::string>(a, 9));
        if (present & 2u) call.new_authtok = from_hex(sbus::get<std::string>(a, 10));
        call.by_root = (present & 4u) != 0;
        const bool hex_ok =
            (!call.authtok || call.authtok->reveal().size() * 2 == sbus::get<std::string>(a, 9).size()) &&
            (!call.new_authtok || call.new_authtok->reveal().size() * 2 == sbus::get<std::string>(a, 10).size());
        // The request's copies of the tokens go now; the Secrets wipe theirs.
        for (std::size_t i = 9; i <= 10; ++i) {
            if (auto *s = std::get_if<std::string>(&a[i]); s && !s->empty()) explicit_bzero(s->data(), s->size());
        }
        if (!hex_ok) {
            req.fail(Error{Errc::invalid_argument, "a token that is not hex"});
            return;
        }
        auto shared = std::make_shared<sbus::Request>(std::move(req));
        pam_->handle(std::move(call), [shared](PamVerdict v) {
            shared->reply({static_cast<std::uint32_t>(v.result), std::move(v.messages), std::move(v.env)});
        });
    }

    std::vector<sbus::Method> methods()
    {
        const char *iface = dp_iface::interface;
        return {
            {iface, "getAccountInfo", "us", "us", [this](sbus::Request req) { account_info(std::move(req)); }},
            {iface, "domainStatus", "", "as", [this](sbus::Request req) { domain_status(std::move(req)); }},
            {iface, "expireCache", "ss", "", [this](sbus::Request req) { expire_cache(std::move(req)); }},
            // Registered once this runs: the reply tells the caller so.
            {iface, "watch", "", "", [](sbus::Request req) { req.reply({}); }},
            {iface, dp_iface::pam, "usssssuuuss", "uasas", [this](sbus::Request req) { pam(std::move(req)); }},
        };
    }

    void account_info(sbus::Request req)
    {
        const auto lookup = static_cast<dp_iface::Lookup>(sbus::get<std::uint32_t>(req.args(), 0));
        const std::string key = sbus::get<std::string>(req.args(), 1);
        if (lookup < dp_iface::Lookup::user_by_name || lookup > dp_iface::Lookup::initgroups) {
            req.fail(Error{Errc::invalid_argument, "unknown lookup " + std::to_string(static_cast<unsigned>(lookup))});
            return;
        }
        auto shared = std::make_shared<sbus::Request>(std::move(req));
        id_->fetch(lookup, key, [shared](dp_iface::Outcome outcome, const std::string &message) {
            shared->reply({static_cast<std::uint32_t>(outcome), message});
        });
    }

    // vigilctl cache-expire: "user" NAME, "group" NAME or "everything".
    void expire_cache(sbus::Request req)
    {
        const std::string &kind = sbus::get<std::string>(req.args(), 0);
        const std::string &name = sbus::get<std::string>(req.args(), 1);
        expiring_ = true;
        Status st = kind == "everything" ? cache_->expire_all()
                  : kind == "user"       ? cache_->expire_user(name)
                  : kind == "group"      ? cache_->expire_group(name)
                                         : Status(Error{Errc::invalid_argument, "expire what? '" + kind + "'"});
        // Committed: the responders may take these entries as expired without
        // reading them; otherwise they only learn that timestamps may have changed.
        expiring_ = false;
        if (expiry_) emit_changes(*expiry_, st.ok());
        expiry_.reset();
        if (!st) {
            req.fail(st.error());
            return;
        }
        VLOG(config, "cache: expired %s%s%s (vigilctl)", kind.c_str(), name.empty() ? "" : " ", name.c_str());
        req.reply({});
    }

    // The cacheChanged signal for one committed write (dp_iface.hpp).
    // `expired`: a vigilctl expiry, committed (its timestamps say expired).
    void emit_changes(const sysdb::Changes &changes, bool expired)
    {
        // One string of lines: a refresh of a user in 500 groups is one
        // string to marshal and read, not 501.
        std::string lines;
        if (changes.everything) {
            lines = !changes.only_timestamps ? dp_iface::everything_changed
                  : expired                  ? dp_iface::everything_expired
                                             : dp_iface::every_timestamp_changed;
        } else {
            lines.reserve(changes.entries.size() * 32);
            using Kind = dp_iface::CacheChange::Kind;
            for (const auto &change : changes.entries) {
                const Kind kind = !change.timestamps_only ? Kind::entry : expired ? Kind::expired : Kind::timestamps;
                // D-Bus carries UTF-8 only, and a TAB or newline would break
                // the line: a name like that (the directory's) says "everything".
                if (!is_valid_utf8(change.name) ||
                    !dp_iface::append_change(lines, {change.user, change.name, change.id, change.old_id, kind})) {
                    lines = dp_iface::everything_changed;
                    break;
                }
            }
        }
        sbus::StringList list;
        if (!lines.empty()) list.push_back(std::move(lines));
        server_->emit_all(dp_iface::interface, dp_iface::cache_changed, {std::move(list)});
    }

    void domain_status(sbus::Request req)
    {
        const DomainState &s = id_->state();
        sbus::StringList lines;
        lines.push_back(std::string("domain\t") + svc_.domain());
        lines.push_back(std::string("state\t") + (s.online() ? "online" : "offline"));
        if (s.online()) {
            lines.push_back("server\t" + (s.server().empty() ? std::string("(not connected yet)") : s.server()));
        } else {
            auto in = std::chrono::duration_cast<std::chrono::seconds>(s.next_probe() - DomainState::Clock::now());
            lines.push_back("reason\t" + s.reason());
            if (s.refused())
                lines.push_back("logins\tasking the directory (a server answered and refused this host's connection)");
            lines.push_back("next_probe_in\t" + std::to_string(std::max<long long>(0, in.count())) + " s");
        }
        lines.push_back("searches_sent\t" + std::to_string(id_->searches_sent()));
        if (host_tgt_) lines.push_back("host_tgts_obtained\t" + std::to_string(host_tgt_->obtained()));
        const auto &e = id_->enumeration();
        if (e.running || e.completed > 0 || !e.last_error.empty()) {
            lines.push_back("enumerations\t" + std::to_string(e.completed) + (e.running ? " (one running)" : ""));
            if (e.last_completed > 0) lines.push_back("last_enumeration\t" + std::to_string(e.last_completed));
            if (!e.last_error.empty()) lines.push_back("enumeration_error\t" + e.last_error);
        }
        req.reply({std::move(lines)});
    }

    Service &svc_;
    std::unique_ptr<sysdb::Sysdb> cache_;
    std::unique_ptr<ldap::IdProvider> id_;
    std::unique_ptr<creds::CredentialStore> creds_store_;
    std::unique_ptr<creds::HashWorker> hash_worker_;
    std::unique_ptr<creds::OfflineAuthenticator> offline_;
    std::optional<access::AccessSettings> access_settings_;
    std::unique_ptr<access::AccessChecker> access_;
    std::unique_ptr<ldap::PasswordAuth> password_auth_;
    std::unique_ptr<krb5::Krb5Auth> krb5_auth_;
    std::unique_ptr<krb5::HostTgt> host_tgt_;
    std::unique_ptr<PamHandler> pam_;
    std::unique_ptr<sbus::Server> server_;
    // While vigilctl's expiry is written: the changes it committed, if it did.
    bool expiring_ = false;
    std::optional<sysdb::Changes> expiry_;
};

Status setup(Service &svc)
{
    auto provider = std::make_shared<Provider>(svc);
    svc.keep(provider);
    return provider->start();
}

} // namespace

int main(int argc, char **argv)
{
    const int status = run_service(info, argc, argv, setup);
    // No worker may still be inside libldap or the TLS library while the
    // process tears them down; vigild's stop bound is 5 s.
    vigil::ldap::wait_for_connection_workers(std::chrono::seconds(3));
    return status;
}
