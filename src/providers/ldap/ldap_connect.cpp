#include "providers/ldap/ldap_connect.hpp"

#include "util/log.hpp"

#include <gssapi/gssapi_krb5.h>
#include <sasl/sasl.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace vigil::ldap {

namespace {

int reqcert_value(ReqCert r)
{
    switch (r) {
    case ReqCert::never: return LDAP_OPT_X_TLS_NEVER;
    case ReqCert::allow: return LDAP_OPT_X_TLS_ALLOW;
    case ReqCert::try_: return LDAP_OPT_X_TLS_TRY;
    case ReqCert::demand: return LDAP_OPT_X_TLS_DEMAND;
    case ReqCert::hard: return LDAP_OPT_X_TLS_HARD;
    }
    return LDAP_OPT_X_TLS_HARD;
}

timeval to_timeval(std::chrono::seconds s) { return timeval{static_cast<time_t>(s.count()), 0}; }

Error fail(LDAP *ld, int rc, const std::string &what) { return Error{classify(rc), describe(ld, rc, what)}; }

Status set_options(LDAP *ld, const LdapSettings &s)
{
    int version = LDAP_VERSION3;
    timeval net = to_timeval(s.network_timeout);
    timeval api = to_timeval(s.opt_timeout);
    int reqcert = reqcert_value(s.tls_reqcert);
    int new_ctx = 0; // a client context of this handle's own
    struct Opt {
        int option;
        const void *value;
        const char *name;
    };
    // Referrals are not chased: libldap would follow them synchronously, on
    // the loop thread, to servers nobody configured.
    const Opt opts[] = {
        {LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version"},
        {LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals"},
        {LDAP_OPT_NETWORK_TIMEOUT, &net, "ldap_network_timeout"},
        {LDAP_OPT_TIMEOUT, &api, "ldap_opt_timeout"},
        {LDAP_OPT_X_TLS_REQUIRE_CERT, &reqcert, "ldap_tls_reqcert"},
    };
    for (const Opt &o : opts) {
        int rc = ldap_set_option(ld, o.option, o.value);
        if (rc != LDAP_OPT_SUCCESS) return fail(ld, rc, std::string("cannot set ") + o.name);
    }
    if (!s.tls_cacert.empty()) {
        int rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, s.tls_cacert.c_str());
        if (rc != LDAP_OPT_SUCCESS) return fail(ld, rc, "cannot set ldap_tls_cacert " + s.tls_cacert);
    }
    // Last: the TLS options above only take effect in a new context.
    int rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &new_ctx);
    if (rc != LDAP_OPT_SUCCESS) return fail(ld, rc, "cannot create a TLS context (check ldap_tls_cacert)");
    return {};
}

Result<ServerInfo> read_root_dse(LDAP *ld, const LdapSettings &s)
{
    char controls_attr[] = "supportedControl";
    char contexts_attr[] = "namingContexts";
    char *attrs[] = {controls_attr, contexts_attr, nullptr};
    timeval limit = to_timeval(s.opt_timeout);
    LDAPMessage *raw = nullptr;
    int rc = ldap_search_ext_s(ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, nullptr, nullptr, &limit, 1,
                               &raw);
    MessagePtr res(raw);
    ServerInfo info;
    // Some servers hide their root DSE; that is no reason not to use them.
    if (rc == LDAP_NO_SUCH_OBJECT || rc == LDAP_INSUFFICIENT_ACCESS) return info;
    if (rc != LDAP_SUCCESS) return fail(ld, rc, "reading the root DSE");
    for (LDAPMessage *e = ldap_first_entry(ld, res.get()); e; e = ldap_next_entry(ld, e)) {
        berval **vals = ldap_get_values_len(ld, e, "supportedControl");
        for (berval **v = vals; v && *v; ++v)
            if (std::string_view((*v)->bv_val, (*v)->bv_len) == LDAP_CONTROL_PAGEDRESULTS) info.supports_paging = true;
        ldap_value_free_len(vals);
        vals = ldap_get_values_len(ld, e, "namingContexts");
        if (vals && vals[0]) info.naming_context.assign(vals[0]->bv_val, vals[0]->bv_len);
        ldap_value_free_len(vals);
    }
    return info;
}

// The SASL layer's bounds and the server's name, before the bind.
Status set_sasl_options(LDAP *ld, const SaslSettings &sasl)
{
    if (sasl.min_ssf >= 0) {
        ber_len_t min = static_cast<ber_len_t>(sasl.min_ssf);
        int rc = ldap_set_option(ld, LDAP_OPT_X_SASL_SSF_MIN, &min);
        if (rc != LDAP_OPT_SUCCESS) return fail(ld, rc, "cannot set ldap_sasl_minssf");
    }
    if (sasl.max_ssf >= 0) {
        ber_len_t max = static_cast<ber_len_t>(sasl.max_ssf);
        int rc = ldap_set_option(ld, LDAP_OPT_X_SASL_SSF_MAX, &max);
        if (rc != LDAP_OPT_SUCCESS) return fail(ld, rc, "cannot set ldap_sasl_maxssf");
    }
    // Not canonicalized: the service principal is ldap/<the URI's host>;
    // canonicalized: ldap/<the name reverse DNS gives the server's address>.
    int rc = ldap_set_option(ld, LDAP_OPT_X_SASL_NOCANON, sasl.canonicalize ? LDAP_OPT_OFF : LDAP_OPT_ON);
    if (rc != LDAP_OPT_SUCCESS) return fail(ld, rc, "cannot set ldap_sasl_canonicalize");
    return {};
}

// What libsasl asks during the bind. GSSAPI takes its credentials from the
// ccache; the authorization identity is left empty (the server maps the
// principal itself), the realm is ldap_sasl_realm.
int sasl_interact(LDAP *, unsigned, void *defaults, void *prompts)
{
    const auto *sasl = static_cast<const SaslSettings *>(defaults);
    for (auto *p = static_cast<sasl_interact_t *>(prompts); p->id != SASL_CB_LIST_END; ++p) {
        const char *value = "";
        if (p->id == SASL_CB_GETREALM) value = sasl->realm.c_str();
        else if (p->id == SASL_CB_AUTHNAME) value = sasl->authid.c_str();
        else if (p->id != SASL_CB_USER && p->defresult != nullptr) value = p->defresult;
        p->result = value;
        p->len = static_cast<unsigned>(std::strlen(value));
    }
    return LDAP_SUCCESS;
}

constexpr std::string_view credentials_suspect = "; the host's Kerberos credentials may be missing or expired";

// The SASL GSSAPI bind with the host's credentials.
Status bind_gssapi(LDAP *ld, const SaslSettings &sasl, const std::string &uri)
{
    Status st = set_sasl_options(ld, sasl);
    if (!st) return st;
    if (!sasl.ccache.empty()) {
        // The host ccache for this thread only. MIT keeps the name that
        // gss_krb5_ccache_name sets per thread, and each connection attempt
        // has a thread of its own (Workers below): no KRB5CCNAME in the
        // environment of a multithreaded process, no effect on other binds.
        OM_uint32 minor = 0;
        if (gss_krb5_ccache_name(&minor, sasl.ccache.c_str(), nullptr) != GSS_S_COMPLETE)
            return Error{Errc::internal, "gss_krb5_ccache_name " + sasl.ccache + " failed (minor " +
                                             std::to_string(minor) + ")"};
    }
    int rc = ldap_sasl_interactive_bind_s(ld, nullptr, "GSSAPI", nullptr, nullptr, LDAP_SASL_QUIET, sasl_interact,
                                          const_cast<SaslSettings *>(&sasl));
    if (rc == LDAP_SUCCESS) return {};
    const std::string who = sasl.authid.empty() ? "the host principal" : sasl.authid;
    const std::string where = sasl.ccache.empty() ? "the default ccache" : sasl.ccache;
    std::string what = "SASL GSSAPI bind to " + uri + " as " + who + " (credentials from " + where + ")";
    // The server's refusal and the client's lack of a mechanism, said as
    // what they are (libsasl's own words are terse).
    if (rc == LDAP_AUTH_METHOD_NOT_SUPPORTED || rc == LDAP_STRONG_AUTH_NOT_SUPPORTED || rc == LDAP_INAPPROPRIATE_AUTH)
        return Error{Errc::permission, describe(ld, rc, what + ": the server refuses GSSAPI")};
    if (rc == LDAP_AUTH_UNKNOWN)
        return Error{Errc::permission,
                     describe(ld, rc, what + ": libsasl has no usable GSSAPI mechanism (is "
                                             "libsasl2-modules-gssapi-mit installed? do ldap_sasl_minssf and "
                                             "ldap_sasl_maxssf allow one?)")};
    // No ccache, an expired ticket, a key the server cannot use: said so,
    // and gssapi_credentials_failed() knows it by these words.
    if (rc == LDAP_LOCAL_ERROR || rc == LDAP_INVALID_CREDENTIALS)
        return Error{classify(rc), describe(ld, rc, what) + std::string(credentials_suspect)};
    return fail(ld, rc, what);
}

// libldap reads a plain TCP connection message by message: two read(2)
// calls for each (its header, then the rest), and a poll(2) for each
// ldap_result. A buffer under the protocol layer takes what the socket
// holds in one read: an answer of 500 entries costs 2 reads, not 1,000.
// libldap asks the buffer before polling (LBER_SB_OPT_DATA_READY), which is
// also why the loop drains ldap_result until it is empty (ldap_conn.cpp).
// Not under TLS or a SASL security layer: those read whole records of
// their own already, and libldap's TLS layer over this buffer stalled on a
// 150 KB entry (tests/intg/test_nss.py, over TLS).
Status read_ahead(LDAP *ld)
{
    ber_len_t ssf = 0;
    if (ldap_tls_inplace(ld) != 0) return {};
    if (ldap_get_option(ld, LDAP_OPT_X_SASL_SSF, &ssf) == LDAP_OPT_SUCCESS && ssf > 0) return {};
    Sockbuf *sb = nullptr;
    if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == nullptr)
        return Error{Errc::internal, "libldap has no socket buffer for the connection"};
    if (ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER, nullptr) != 0)
        return Error{Errc::internal, "cannot add a read buffer to the LDAP connection"};
    ber_len_t size = 64 * 1024;
    if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_READAHEAD, &size) < 0)
        return Error{Errc::internal, "cannot size the LDAP connection's read buffer"};
    return {};
}

} // namespace

bool gssapi_credentials_failed(const Error &error)
{
    return error.message.starts_with("SASL GSSAPI bind to ") && error.message.ends_with(credentials_suspect);
}

Result<Connected> connect_blocking(const LdapSettings &s, const std::string &uri)
{
    LDAP *raw = nullptr;
    int rc = ldap_initialize(&raw, uri.c_str());
    if (rc != LDAP_SUCCESS) return fail(nullptr, rc, "bad ldap_uri " + uri);
    LdapHandle ld(raw);
    Status st = set_options(ld.get(), s);
    if (!st) return std::move(st).error();

    rc = ldap_connect(ld.get()); // TCP, and for ldaps:// the TLS handshake
    if (rc != LDAP_SUCCESS) return fail(ld.get(), rc, "cannot connect to " + uri);
    if (s.start_tls && uri.starts_with("ldap://")) {
        rc = ldap_start_tls_s(ld.get(), nullptr, nullptr);
        if (rc != LDAP_SUCCESS) return fail(ld.get(), rc, "StartTLS with " + uri);
    }
    if (s.bind_method == BindMethod::gssapi) {
        Status bound = bind_gssapi(ld.get(), s.sasl, uri);
        if (!bound) return std::move(bound).error();
    } else if (!s.bind_dn.empty()) {
        // An empty password would be an unauthenticated bind, which "succeeds".
        if (s.bind_password.empty())
            return Error{Errc::invalid_config, "refusing to bind as " + s.bind_dn + " with an empty password"};
        berval cred{static_cast<ber_len_t>(s.bind_password.reveal().size()),
                    const_cast<char *>(s.bind_password.reveal().data())};
        rc = ldap_sasl_bind_s(ld.get(), s.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
        if (rc != LDAP_SUCCESS) return fail(ld.get(), rc, "bind as " + s.bind_dn + " to " + uri);
    }
    Status buffered = read_ahead(ld.get());
    if (!buffered) return std::move(buffered).error();
    auto info = read_root_dse(ld.get(), s);
    if (!info) return std::move(info).error();
    return Connected{std::move(ld), *info};
}

namespace {

// The connection workers of this process: at most `limit` at once (a hung
// server must not pile up threads), each joined once it has finished, and
// all waited for at exit, so that none is still inside libldap or the TLS
// library while the process tears them down.
class Workers {
public:
    static Workers &get()
    {
        // Never destroyed: a std::thread still joinable at destruction would
        // terminate the process; wait_for_workers() settles them instead.
        static Workers *workers = new Workers();
        return *workers;
    }

    Status spawn(std::function<void()> work)
    {
        std::lock_guard lock(mutex_);
        reap_locked();
        if (running_ >= limit) {
            return Error{Errc::unavailable, "too many connection attempts under way (" + std::to_string(limit) +
                                                "); a server is not answering"};
        }
        auto it = threads_.emplace(threads_.end());
        it->done = false;
        ++running_;
        try {
            it->thread = std::thread([this, it, work = std::move(work)] {
                work();
                std::lock_guard done_lock(mutex_);
                it->done = true;
                --running_;
                finished_.notify_all();
            });
        } catch (const std::system_error &e) {
            --running_;
            threads_.erase(it);
            return Error{Errc::internal, std::string("cannot start a connection worker: ") + e.what()};
        }
        return {};
    }

    // Waits up to `bound` for every worker; joins those that ended and
    // returns how many are still running (detached, as the process ends).
    std::size_t settle(std::chrono::milliseconds bound)
    {
        std::unique_lock lock(mutex_);
        finished_.wait_for(lock, bound, [this] { return running_ == 0; });
        reap_locked();
        const std::size_t left = running_;
        for (Entry &e : threads_) e.thread.detach();
        threads_.clear();
        return left;
    }

    static constexpr std::size_t limit = 16;

private:
    struct Entry {
        std::thread thread;
        bool done = false;
    };

    void reap_locked()
    {
        for (auto it = threads_.begin(); it != threads_.end();) {
            if (!it->done) {
                ++it;
                continue;
            }
            // Its last act was to take this lock and let go of it: the join
            // waits for no more than the thread's exit.
            it->thread.join();
            it = threads_.erase(it);
        }
    }

    std::mutex mutex_;
    std::condition_variable finished_;
    std::list<Entry> threads_;
    std::size_t running_ = 0;
};

} // namespace

std::size_t wait_for_connection_workers(std::chrono::milliseconds bound)
{
    const std::size_t left = Workers::get().settle(bound);
    if (left > 0)
        VLOG(error, "%zu connection attempt(s) still under way after %lld ms: left to the end of the process", left,
             static_cast<long long>(bound.count()));
    return left;
}

// What the worker and the loop share. The worker fills `result` and pokes
// the socket; whoever is last frees the rest.
struct Connector::Shared {
    std::mutex mutex;
    bool abandoned = false;
    std::optional<Result<Connected>> result;
    int loop_fd = -1;   // the loop's end, closed by the Connector
    int worker_fd = -1; // the worker's end, closed by the worker
};

Result<std::unique_ptr<Connector>> Connector::start(EventLoop &loop, const LdapSettings &settings,
                                                    const std::string &uri, Done done)
{
    auto shared = std::make_shared<Shared>();
    int fds[2];
    // A socket pair rather than a pipe: send() with MSG_NOSIGNAL cannot raise
    // SIGPIPE when the Connector is gone.
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0)
        return sys_error("socketpair", errno);
    shared->loop_fd = fds[0];
    shared->worker_fd = fds[1];

    std::unique_ptr<Connector> c(new Connector());
    c->shared_ = shared;
    c->done_ = std::move(done);
    Connector *self = c.get();
    auto wake = loop.on_readable(shared->loop_fd, [self] { self->finish(); });
    if (!wake) {
        close(fds[1]);
        return std::move(wake).error();
    }
    c->wake_ = std::move(*wake);
    // libldap bounds each step; this bounds them all, should one not be.
    auto bound = settings.network_timeout * 2 + settings.opt_timeout * 3 + std::chrono::seconds(1);
    c->deadline_ = loop.after(bound, [self, uri, bound] {
        self->wake_.reset();
        {
            std::lock_guard lock(self->shared_->mutex);
            self->shared_->abandoned = true;
        }
        Done d = std::move(self->done_);
        if (d)
            d(Error{Errc::timeout, "connecting to " + uri + " took more than " + std::to_string(bound.count()) +
                                       " s (ldap_network_timeout, ldap_opt_timeout)"});
    });

    Status spawned = Workers::get().spawn([shared, settings, uri] {
        Result<Connected> r = connect_blocking(settings, uri);
        std::lock_guard lock(shared->mutex);
        if (!shared->abandoned) shared->result.emplace(std::move(r));
        // else: r's handle is unbound as it goes out of scope, here.
        char byte = 1;
        (void)send(shared->worker_fd, &byte, 1, MSG_NOSIGNAL);
        close(shared->worker_fd);
        shared->worker_fd = -1;
    });
    if (!spawned) {
        close(fds[1]);
        return std::move(spawned).error();
    }
    return c;
}

void Connector::finish()
{
    wake_.reset();
    deadline_.cancel();
    std::optional<Result<Connected>> result;
    {
        std::lock_guard lock(shared_->mutex);
        result = std::move(shared_->result);
        shared_->abandoned = true;
    }
    Done d = std::move(done_);
    if (!d) return;
    if (!result) d(Error{Errc::internal, "the connection worker ended without a result"});
    else d(std::move(*result));
}

Connector::~Connector()
{
    wake_.reset();
    if (shared_) {
        std::lock_guard lock(shared_->mutex);
        shared_->abandoned = true;
        // An unclaimed handle is freed with the shared state.
        close(shared_->loop_fd);
        shared_->loop_fd = -1;
    }
}

} // namespace vigil::ldap
