// vigil_be: the data provider of one domain. It keeps the domain's cache
// (sysdb) up to date from the directory when a responder asks, and knows
// whether the directory can be reached.
#include "providers/access/access_rules.hpp"
#include "providers/ldap/ldap_id.hpp"
#include "util/log.hpp"
#include "util/sbus/dp_iface.hpp"
#include "util/sbus/monitor_iface.hpp"
#include "util/sbus/server.hpp"
#include "util/service.hpp"

#include <csignal>
#include <cstring>
#include <unistd.h>

namespace {

using namespace vigil;

const ServiceInfo info{
    .name = "vigil_be",
    .section = "domain",
    .summary = "The vigil data provider for one domain (LDAP and Kerberos into the cache).",
    .needs_domain = true,
};

class Provider {
public:
    explicit Provider(Service &svc) : svc_(svc) {}

    Status start()
    {
        const Config &c = svc_.config();
        const std::string &domain = svc_.domain();
        auto ldap_settings = ldap::LdapSettings::from_config(c, domain);
        if (!ldap_settings) return std::move(ldap_settings).error();
        auto id_settings = ldap::IdSettings::from_config(c, domain);
        if (!id_settings) return std::move(id_settings).error();
        // The access rules are run by the PAM path; a configuration they
        // refuse (a rule that would deny everyone) is refused at start.
        auto access_settings = access::AccessSettings::from_config(c, domain);
        if (!access_settings) return std::move(access_settings).error();
        auto cache = sysdb::Sysdb::open(sysdb::SysdbPaths::for_domain(c.get_string("vigil", "state_dir"), domain),
                                        sysdb::Sysdb::Role::writer);
        if (!cache) return std::move(cache).error();
        cache_ = std::make_unique<sysdb::Sysdb>(std::move(*cache));
        const std::string sec = svc_.section();
        DomainState::Timing timing{std::chrono::seconds(c.get_int(sec, "offline_timeout")),
                                   std::chrono::seconds(c.get_int(sec, "offline_timeout_max"))};
        id_ = std::make_unique<ldap::IdProvider>(svc_.loop(), std::move(*ldap_settings), std::move(*id_settings),
                                                 *cache_, timing);

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
            sbus::StringList list;
            if (changes.everything) {
                list.emplace_back(dp_iface::everything_changed);
            } else {
                list.reserve(changes.entries.size());
                for (const auto &change : changes.entries) {
                    // Names never hold a TAB (the cache refuses control
                    // characters); should one, say "everything".
                    if (change.name.find('\t') != std::string::npos) {
                        list.assign(1, dp_iface::everything_changed);
                        break;
                    }
                    list.push_back(std::string(change.user ? "u\t" : "g\t") + change.name + '\t' +
                                   std::to_string(change.id) + '\t' + std::to_string(change.old_id));
                }
            }
            server_->emit_all(dp_iface::interface, dp_iface::cache_changed, {std::move(list)});
        });

        id_->start_enumeration();
        st = svc_.on_signal(SIGUSR1, [this] { id_->force_offline(); });
        if (!st) return st;
        return svc_.on_signal(SIGUSR2, [this] { id_->force_online(); });
    }

private:
    std::vector<sbus::Method> methods()
    {
        const char *iface = dp_iface::interface;
        return {
            {iface, "getAccountInfo", "us", "us", [this](sbus::Request req) { account_info(std::move(req)); }},
            {iface, "domainStatus", "", "as", [this](sbus::Request req) { domain_status(std::move(req)); }},
            {iface, "expireCache", "ss", "", [this](sbus::Request req) { expire_cache(std::move(req)); }},
            // Registered once this runs: the reply tells the caller so.
            {iface, "watch", "", "", [](sbus::Request req) { req.reply({}); }},
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
        Status st = kind == "everything" ? cache_->expire_all()
                  : kind == "user"       ? cache_->expire_user(name)
                  : kind == "group"      ? cache_->expire_group(name)
                                         : Status(Error{Errc::invalid_argument, "expire what? '" + kind + "'"});
        if (!st) {
            req.fail(st.error());
            return;
        }
        VLOG(config, "cache: expired %s%s%s (vigilctl)", kind.c_str(), name.empty() ? "" : " ", name.c_str());
        req.reply({});
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
            lines.push_back("next_probe_in\t" + std::to_string(std::max<long long>(0, in.count())) + " s");
        }
        lines.push_back("searches_sent\t" + std::to_string(id_->searches_sent()));
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
    std::unique_ptr<sbus::Server> server_;
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
