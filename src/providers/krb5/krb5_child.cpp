// vigil_krb5_child: one Kerberos password login for vigil_be, in a process
// of its own so that libkrb5's blocking network calls never stall the
// provider's event loop (doc/krb5.md). Or, for the GSSAPI-bound identity
// connection, the host's TGT from the keytab (host_tgt, see host_tgt()).
//
// It reads one request (krb5_child_protocol.hpp) from stdin, writes one
// answer to stdout and exits 0; anything on stderr is for the log. Steps:
//   1. as root: the AS exchange (krb5_get_init_creds_password) with
//      KRB5_CONFIG from the request, and the TGT validated against the host
//      keytab when asked (the keytab is root's);
//   2. then for good: setgroups(0), setresgid, setresuid to the user;
//   3. as the user: the ccache written (a FILE one to a temp name, then
//      renamed over the old one; a DIR one in the user's collection,
//      reusing the principal's cache there and made primary).
// No core dumps, not traceable; the provider bounds its run time and kills
// it by PID when that runs out.
//
// `vigil_krb5_child --warm KRB5_CONFIG`: before it reads the request, the
// child makes its libkrb5 context with that profile and loads the
// preauthentication plug-ins (and the libraries they need) with it, work
// that needs no request. vigil_be starts its spare child so, ahead of the
// login that will use it; a request for another profile gets a new
// context as without --warm, and so does one whose profile files changed
// while the child waited.
#include "providers/krb5/krb5_child_protocol.hpp"

#include <krb5.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace {

using namespace vigil;
using namespace vigil::krb5;

// ---- plumbing ------------------------------------------------------------------

bool read_exactly(int fd, char *buffer, std::size_t size)
{
    std::size_t got = 0;
    while (got < size) {
        ssize_t n = ::read(fd, buffer + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += static_cast<std::size_t>(n);
    }
    return true;
}

void write_all(int fd, const std::string &bytes)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + sent, bytes.size() - sent);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; // the provider went away: nobody to tell
        sent += static_cast<std::size_t>(n);
    }
}

int answer(ChildResult result, std::string message, std::string ccname = {}, std::uint64_t tgt_end = 0)
{
    write_all(1, encode_answer(ChildAnswer{result, std::move(ccname), std::move(message), tgt_end}));
    return 0;
}

void limit_self()
{
    // A core file or a debugger would see the password.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    const rlimit files{64, 64};
    setrlimit(RLIMIT_NOFILE, &files);
    const rlimit cpu{30, 30};
    setrlimit(RLIMIT_CPU, &cpu);
    const rlimit file_size{8u << 20, 8u << 20}; // a ccache holds a handful of tickets
    setrlimit(RLIMIT_FSIZE, &file_size);
}

// libkrb5's context, principal, options and credentials, freed in order.
struct Krb5 {
    krb5_context ctx = nullptr;
    krb5_principal client = nullptr;
    krb5_get_init_creds_opt *options = nullptr;
    krb5_creds creds{};
    bool have_creds = false;

    ~Krb5()
    {
        if (have_creds) krb5_free_cred_contents(ctx, &creds);
        if (options) krb5_get_init_creds_opt_free(ctx, options);
        if (client) krb5_free_principal(ctx, client);
        if (ctx) krb5_free_context(ctx);
    }

    std::string error_text(krb5_error_code code) const
    {
        const char *text = krb5_get_error_message(ctx, code);
        std::string out = text ? text : "unknown error " + std::to_string(code);
        krb5_free_error_message(ctx, text);
        return out;
    }
};

// ---- step 1: the AS exchange ----------------------------------------------------------

ChildResult classify(krb5_error_code code)
{
    switch (code) {
    case 0: return ChildResult::ok;
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY: return ChildResult::wrong_password;
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN: return ChildResult::unknown_principal;
    case KRB5KDC_ERR_KEY_EXP: return ChildResult::password_expired;
    case KRB5KRB_AP_ERR_SKEW:
    case KRB5_KDCREP_SKEW: return ChildResult::clock_skew;
    case KRB5_KDC_UNREACH:
    case KRB5_REALM_CANT_RESOLVE: return ChildResult::kdc_unreachable;
    case KRB5KDC_ERR_CLIENT_REVOKED: return ChildResult::account_locked;
    default: return ChildResult::error;
    }
}

// The password against the KDC; on an expired key, the password is proven
// with a ticket for kadmin/changepw (which the KDC issues for an expired
// key), so that "expired" never stands for an unchecked password.
std::pair<ChildResult, std::string> get_tgt(Krb5 &k, const ChildRequest &req)
{
    const char *password = req.password.reveal().c_str();
    krb5_error_code rc = krb5_get_init_creds_password(k.ctx, &k.creds, k.client, password, nullptr, nullptr, 0,
                                                      nullptr, k.options);
    if (rc == 0) {
        k.have_creds = true;
        return {ChildResult::ok, "got a TGT"};
    }
    const std::string said = k.error_text(rc);
    if (rc != KRB5KDC_ERR_KEY_EXP) return {classify(rc), said};
    krb5_creds changepw{};
    krb5_error_code proof = krb5_get_init_creds_password(k.ctx, &changepw, k.client, password, nullptr, nullptr, 0,
                                                         "kadmin/changepw", k.options);
    if (proof == 0) {
        krb5_free_cred_contents(k.ctx, &changepw);
        return {ChildResult::password_expired, said + " (the password is right)"};
    }
    return {classify(proof), k.error_text(proof) + " (asking for kadmin/changepw after: " + said + ")"};
}

// With krb5_validate: the TGT checked with a key of the realm from the
// keytab. With no key of the realm there, libdefaults verify_ap_req_nofail
// decides (libkrb5's default: skip), and the message says so.
std::pair<ChildResult, std::string> validate(Krb5 &k, const ChildRequest &req)
{
    krb5_keytab keytab = nullptr;
    krb5_error_code rc = req.keytab.empty() ? krb5_kt_default(k.ctx, &keytab)
                                            : krb5_kt_resolve(k.ctx, req.keytab.c_str(), &keytab);
    if (rc != 0) return {ChildResult::validation_failed, "cannot open the keytab: " + k.error_text(rc)};
    char name[512] = "";
    krb5_kt_get_name(k.ctx, keytab, name, sizeof name);
    krb5_principal server = nullptr;
    krb5_kt_cursor cursor;
    if (krb5_kt_start_seq_get(k.ctx, keytab, &cursor) == 0) {
        krb5_keytab_entry entry;
        while (server == nullptr && krb5_kt_next_entry(k.ctx, keytab, &entry, &cursor) == 0) {
            const krb5_data &realm = entry.principal->realm;
            if (realm.length == req.realm.size() && std::memcmp(realm.data, req.realm.data(), realm.length) == 0)
                krb5_copy_principal(k.ctx, entry.principal, &server);
            krb5_free_keytab_entry_contents(k.ctx, &entry);
        }
        krb5_kt_end_seq_get(k.ctx, keytab, &cursor);
    }
    krb5_verify_init_creds_opt options;
    krb5_verify_init_creds_opt_init(&options);
    if (server != nullptr) {
        krb5_verify_init_creds_opt_set_ap_req_nofail(&options, 1);
    } else {
        // Keys of other realms do not count: libkrb5 sees an empty keytab
        // and applies verify_ap_req_nofail to that.
        krb5_kt_close(k.ctx, keytab);
        keytab = nullptr;
        rc = krb5_kt_resolve(k.ctx, "MEMORY:vigil-no-key-of-the-realm", &keytab);
        if (rc != 0) return {ChildResult::validation_failed, "krb5_kt_resolve MEMORY: " + k.error_text(rc)};
    }
    rc = krb5_verify_init_creds(k.ctx, &k.creds, server, keytab, nullptr, &options);
    std::string who = "no key of " + req.realm + " in " + name;
    if (server != nullptr) {
        char *text = nullptr;
        if (krb5_unparse_name(k.ctx, server, &text) == 0) {
            who = std::string("with ") + text + " from " + name;
            krb5_free_unparsed_name(k.ctx, text);
        }
        krb5_free_principal(k.ctx, server);
    }
    krb5_kt_close(k.ctx, keytab);
    if (rc != 0) return {ChildResult::validation_failed, "the TGT did not validate (" + who + "): " + k.error_text(rc)};
    return {ChildResult::ok, server != nullptr ? "TGT validated " + who
                                               : "TGT not validated: " + who + " (verify_ap_req_nofail decides)"};
}

// A short-lived, single-use kadmin/changepw ticket with the password: the
// KDC issues it for an expired key too, so it proves the password either way.
krb5_error_code changepw_ticket(Krb5 &k, const Secret &password, krb5_creds &out)
{
    krb5_get_init_creds_opt *options = nullptr;
    krb5_error_code rc = krb5_get_init_creds_opt_alloc(k.ctx, &options);
    if (rc != 0) return rc;
    krb5_get_init_creds_opt_set_tkt_life(options, 300);
    krb5_get_init_creds_opt_set_renew_life(options, 0);
    krb5_get_init_creds_opt_set_forwardable(options, 0);
    krb5_get_init_creds_opt_set_proxiable(options, 0);
    krb5_get_init_creds_opt_set_change_password_prompt(options, 0);
    rc = krb5_get_init_creds_password(k.ctx, &out, k.client, password.reveal().c_str(), nullptr, nullptr, 0,
                                      "kadmin/changepw", options);
    krb5_get_init_creds_opt_free(k.ctx, options);
    return rc;
}

// kpasswd (RFC 3244) with a kadmin/changepw ticket got with the old
// password; a refusal comes back with the KDC's reason for the user.
std::pair<ChildResult, std::string> change_password(Krb5 &k, const ChildRequest &req)
{
    krb5_creds changepw{};
    krb5_error_code rc = changepw_ticket(k, req.password, changepw);
    if (rc != 0) return {classify(rc), "the old password: " + k.error_text(rc)};
    int result_code = 0;
    krb5_data code_string{}, result_string{};
    rc = krb5_change_password(k.ctx, &changepw, req.new_password.reveal().c_str(), &result_code, &code_string,
                              &result_string);
    krb5_free_cred_contents(k.ctx, &changepw);
    if (rc != 0) return {classify(rc), "kpasswd: " + k.error_text(rc)};
    std::string said(code_string.data ? code_string.data : "", code_string.length);
    char *reason = nullptr;
    if (result_code != KRB5_KPASSWD_SUCCESS && krb5_chpw_message(k.ctx, &result_string, &reason) == 0 &&
        reason != nullptr && *reason != '\0') {
        said = reason;
    }
    krb5_free_string(k.ctx, reason);
    krb5_free_data_contents(k.ctx, &code_string);
    krb5_free_data_contents(k.ctx, &result_string);
    switch (result_code) {
    case KRB5_KPASSWD_SUCCESS: return {ChildResult::ok, "password changed"};
    case KRB5_KPASSWD_SOFTERROR: return {ChildResult::password_rejected, said};
    default: return {ChildResult::error, "kpasswd refused the change (" + std::to_string(result_code) + "): " + said};
    }
}

// ---- step 2: the user --------------------------------------------------------------------

std::string drop_to(uid_t uid, gid_t gid)
{
    if (geteuid() != 0) {
        // Unprivileged set-ups (tests, the demo) store ccaches for themselves only.
        if (uid != geteuid()) return "not root: cannot store a ccache for uid " + std::to_string(uid);
        return {};
    }
    if (uid == 0 || gid == 0) return "refusing to store a ccache as root (uid or gid 0)";
    if (setgroups(0, nullptr) != 0) return std::string("setgroups: ") + std::strerror(errno);
    if (setresgid(gid, gid, gid) != 0) return std::string("setresgid: ") + std::strerror(errno);
    if (setresuid(uid, uid, uid) != 0) return std::string("setresuid: ") + std::strerror(errno);
    uid_t r, e, s;
    if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid || setuid(0) == 0)
        return "the privilege drop did not hold";
    return {};
}

// ---- step 3: the ccache, as the user ---------------------------------------------------------

std::string store_file(Krb5 &k, const std::string &path)
{
    // A new file next to the old one, renamed over it: a session reading the
    // old ccache never sees a half-written one, and in a sticky directory
    // another user's file at that name cannot be replaced.
    std::string temp = path + ".XXXXXX";
    int fd = mkstemp(temp.data()); // 0600, owned by the user
    if (fd < 0) return "cannot create " + temp + ": " + std::strerror(errno);
    close(fd);
    krb5_ccache cc = nullptr;
    const std::string temp_name = "FILE:" + temp;
    krb5_error_code rc = krb5_cc_resolve(k.ctx, temp_name.c_str(), &cc);
    if (rc == 0) rc = krb5_cc_initialize(k.ctx, cc, k.client);
    if (rc == 0) rc = krb5_cc_store_cred(k.ctx, cc, &k.creds);
    if (cc) krb5_cc_close(k.ctx, cc);
    if (rc != 0) {
        unlink(temp.c_str());
        return "cannot write " + temp_name + ": " + k.error_text(rc);
    }
    if (rename(temp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        unlink(temp.c_str());
        return "cannot rename the new ccache to " + path + ": " + std::strerror(err);
    }
    return {};
}

// A collection (DIR:, KEYRING:persistent:): the principal's cache in it is
// reused, else a new one is made; either way it becomes the primary.
std::string store_in_collection(Krb5 &k, const std::string &collection, const char *type)
{
    krb5_error_code rc = krb5_cc_set_default_name(k.ctx, collection.c_str());
    if (rc != 0) return "cannot use " + collection + ": " + k.error_text(rc);
    // The principal's cache in the collection is reused; else a new one.
    krb5_ccache cc = nullptr;
    rc = krb5_cc_cache_match(k.ctx, k.client, &cc);
    if (rc != 0) rc = krb5_cc_new_unique(k.ctx, type, nullptr, &cc);
    if (rc == 0) rc = krb5_cc_initialize(k.ctx, cc, k.client);
    if (rc == 0) rc = krb5_cc_store_cred(k.ctx, cc, &k.creds);
    if (rc == 0) rc = krb5_cc_switch(k.ctx, cc);
    if (cc) krb5_cc_close(k.ctx, cc);
    if (rc != 0) return "cannot store the TGT in " + collection + ": " + k.error_text(rc);
    return {};
}

std::string store_dir(Krb5 &k, const std::string &path)
{
    if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return "cannot create " + path + ": " + std::strerror(errno);
    struct stat st{};
    if (lstat(path.c_str(), &st) != 0) return "cannot stat " + path + ": " + std::strerror(errno);
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077) != 0)
        return path + " is not a private directory of the user's";
    return store_in_collection(k, "DIR:" + path, "DIR");
}

// ---- host_tgt: the host principal's TGT from the keytab, as root ---------------------------

// host/<this host's FQDN>: gethostname, qualified by the resolver when it
// is a short name (this process may block; vigil_be may not).
std::string default_host_principal(const std::string &realm)
{
    char name[256] = "";
    if (gethostname(name, sizeof name - 1) != 0) return {};
    std::string host = name;
    if (host.find('.') == std::string::npos) {
        addrinfo hints{};
        hints.ai_flags = AI_CANONNAME;
        addrinfo *found = nullptr;
        if (getaddrinfo(name, nullptr, &hints, &found) == 0) {
            if (found->ai_canonname != nullptr) host = found->ai_canonname;
            freeaddrinfo(found);
        }
    }
    for (char &c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return "host/" + host + "@" + realm;
}

// Whether `wanted` has a key in the keytab; `listed` gets the principals
// it holds (the first few), for the message when it has none. An error
// other than the end of the keytab is returned, not taken for "absent".
// (MIT's FILE keytab itself reports a truncated or garbled entry as the
// end, so such a keytab still reads as the entries before it.)
krb5_error_code keytab_has(Krb5 &k, krb5_keytab keytab, krb5_principal wanted, bool &found, std::string &listed)
{
    found = false;
    krb5_kt_cursor cursor;
    krb5_error_code rc = krb5_kt_start_seq_get(k.ctx, keytab, &cursor);
    if (rc != 0) return rc;
    int shown = 0;
    krb5_keytab_entry entry;
    while ((rc = krb5_kt_next_entry(k.ctx, keytab, &entry, &cursor)) == 0) {
        if (krb5_principal_compare(k.ctx, entry.principal, wanted)) found = true;
        char *text = nullptr;
        if (shown < 8 && krb5_unparse_name(k.ctx, entry.principal, &text) == 0) {
            if (listed.find(text) == std::string::npos) {
                listed += (listed.empty() ? "" : ", ") + std::string(text);
                ++shown;
            }
            krb5_free_unparsed_name(k.ctx, text);
        }
        krb5_free_keytab_entry_contents(k.ctx, &entry);
    }
    krb5_kt_end_seq_get(k.ctx, keytab, &cursor);
    return rc == KRB5_KT_END ? 0 : rc;
}

// The TGT for ldap_sasl_authid (default host/FQDN@REALM) with its key from
// the keytab, stored in the FILE ccache the request names (root's, 0600:
// written to a temp name, then renamed over the old one, so a bind reading
// the old ccache never sees half a new one).
int host_tgt(Krb5 &k, const ChildRequest &req)
{
    std::string name = req.principal.empty() ? default_host_principal(req.realm) : req.principal;
    if (name.empty()) return answer(ChildResult::error, std::string("gethostname: ") + std::strerror(errno));
    if (name.find('@') == std::string::npos) name += "@" + req.realm;
    krb5_error_code rc = krb5_parse_name_flags(k.ctx, name.c_str(), KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, &k.client);
    if (rc != 0) return answer(ChildResult::error, "the principal " + name + ": " + k.error_text(rc));
    krb5_keytab keytab = nullptr;
    rc = req.keytab.empty() ? krb5_kt_default(k.ctx, &keytab) : krb5_kt_resolve(k.ctx, req.keytab.c_str(), &keytab);
    if (rc != 0) return answer(ChildResult::keytab_failed, "cannot open the keytab: " + k.error_text(rc));
    char keytab_name[512] = "";
    krb5_kt_get_name(k.ctx, keytab, keytab_name, sizeof keytab_name);
    const std::string where = std::string("the keytab ") + keytab_name;
    bool found = false;
    std::string listed;
    rc = keytab_has(k, keytab, k.client, found, listed);
    if (rc != 0 || !found) {
        krb5_kt_close(k.ctx, keytab);
        if (rc != 0) return answer(ChildResult::keytab_failed, "cannot read " + where + ": " + k.error_text(rc));
        return answer(ChildResult::keytab_failed, name + " is not in " + where + " (" +
                                                      (listed.empty() ? "it is empty" : "it holds " + listed) +
                                                      "; set ldap_sasl_authid)");
    }
    rc = krb5_get_init_creds_opt_alloc(k.ctx, &k.options);
    if (rc == 0) {
        if (req.lifetime != 0) krb5_get_init_creds_opt_set_tkt_life(k.options, static_cast<krb5_deltat>(req.lifetime));
        krb5_get_init_creds_opt_set_forwardable(k.options, 0);
        krb5_get_init_creds_opt_set_proxiable(k.options, 0);
        rc = krb5_get_init_creds_keytab(k.ctx, &k.creds, k.client, keytab, 0, nullptr, k.options);
    }
    krb5_kt_close(k.ctx, keytab);
    if (rc != 0) {
        const std::string said = "a TGT for " + name + " with its key from " + where + ": " + k.error_text(rc);
        const ChildResult result = classify(rc);
        // The KDC refused the keytab's key: a stale keytab, not a password.
        if (result == ChildResult::wrong_password)
            return answer(ChildResult::keytab_failed, said + " (the keytab's key is not the KDC's)");
        return answer(result, said);
    }
    k.have_creds = true;
    if (std::string failed = store_file(k, req.ccname.substr(5)); !failed.empty())
        return answer(ChildResult::ccache_failed, failed);
    return answer(ChildResult::ok, "got a TGT for " + name + " from " + where + "; stored in " + req.ccname,
                  req.ccname, ticket_time(k.creds.times.endtime));
}

// The context for a profile: the child's whole Kerberos configuration is
// vigil_be's generated profile (the realm's KDCs in failover order) first,
// then the base.
krb5_error_code make_context(const std::string &krb5_config, krb5_context *ctx)
{
    setenv("KRB5_CONFIG", krb5_config.c_str(), 1);
    // Validation is a local exchange with our own keytab: nothing to replay.
    setenv("KRB5RCACHETYPE", "none", 1);
    return krb5_init_context(ctx);
}

// --warm: a context made before the request, and libkrb5's preauth
// plug-ins loaded into it (an AS request made for a throwaway principal
// and dropped unsent: nothing leaves the process).
// What the profile's files were when the context read them: a spare waits
// for as long as no one logs in, and an admin may edit krb5.conf meanwhile
// (the context keeps some libdefaults from when it was made).
std::string profile_state(const std::string &krb5_config)
{
    std::string state;
    std::size_t at = 0;
    while (at <= krb5_config.size()) {
        std::size_t end = krb5_config.find(':', at);
        if (end == std::string::npos) end = krb5_config.size();
        struct stat st{};
        if (stat(krb5_config.substr(at, end - at).c_str(), &st) == 0) {
            state += std::to_string(st.st_dev) + "/" + std::to_string(st.st_ino) + "/" + std::to_string(st.st_size) +
                     "/" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
        }
        state += ";";
        at = end + 1;
    }
    return state;
}

struct Warm {
    std::string krb5_config;
    std::string files; // profile_state() when the context was made
    krb5_context ctx = nullptr;

    void start(const char *config)
    {
        files = profile_state(config);
        if (make_context(config, &ctx) != 0) {
            ctx = nullptr;
            return;
        }
        krb5_config = config;
        // The first AS request for a throwaway principal, made and dropped: making
        // it loads the preauth plug-ins; krb5_init_creds_step only returns
        // what to send, it sends nothing.
        krb5_principal warm_up = nullptr;
        krb5_init_creds_context creds = nullptr;
        if (krb5_build_principal(ctx, &warm_up, 4, "WARM", "warm", nullptr) == 0 &&
            krb5_init_creds_init(ctx, warm_up, nullptr, nullptr, 0, nullptr, &creds) == 0) {
            krb5_data in{}, out{}, realm{};
            unsigned int flags = 0;
            if (krb5_init_creds_step(ctx, creds, &in, &out, &realm, &flags) == 0) {
                krb5_free_data_contents(ctx, &out);
                krb5_free_data_contents(ctx, &realm);
            }
            krb5_init_creds_free(ctx, creds);
        }
        if (warm_up) krb5_free_principal(ctx, warm_up);
    }
    // The context if it was made for this profile, whose files have not
    // changed since (then it is the caller's).
    krb5_context take(const std::string &config)
    {
        if (ctx == nullptr || config != krb5_config || profile_state(config) != files) return nullptr;
        return std::exchange(ctx, nullptr);
    }
    ~Warm()
    {
        if (ctx) krb5_free_context(ctx);
    }
};

int run(ChildRequest &req, Warm &warm)
{
    Krb5 k;
    k.ctx = warm.take(req.krb5_config);
    krb5_error_code rc = k.ctx != nullptr ? 0 : make_context(req.krb5_config, &k.ctx);
    if (rc != 0) return answer(ChildResult::error, "krb5_init_context failed: error " + std::to_string(rc));
    if (req.command == ChildCommand::host_tgt) return host_tgt(k, req);
    if (!req.principal.empty()) {
        // The directory's principal for the user, in our realm only (the
        // KDC list is that realm's).
        rc = krb5_parse_name_flags(k.ctx, req.principal.c_str(), KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, &k.client);
        if (rc != 0) return answer(ChildResult::error, "the principal " + req.principal + ": " + k.error_text(rc));
        const krb5_data &realm = k.client->realm;
        if (realm.length != req.realm.size() || std::memcmp(realm.data, req.realm.data(), realm.length) != 0)
            return answer(ChildResult::error, "the principal " + req.principal + " is not in " + req.realm);
    } else {
        // One component, never parsed: a name with '/' or '@' stays a user name.
        rc = krb5_build_principal_ext(k.ctx, &k.client, static_cast<unsigned>(req.realm.size()), req.realm.data(),
                                      static_cast<unsigned>(req.user.size()), req.user.data(), 0);
        if (rc != 0) return answer(ChildResult::error, "cannot build the principal: " + k.error_text(rc));
    }
    rc = krb5_get_init_creds_opt_alloc(k.ctx, &k.options);
    if (rc != 0) return answer(ChildResult::error, "krb5_get_init_creds_opt_alloc: " + k.error_text(rc));
    krb5_get_init_creds_opt_set_change_password_prompt(k.options, 0);
    if (req.lifetime != 0) krb5_get_init_creds_opt_set_tkt_life(k.options, static_cast<krb5_deltat>(req.lifetime));
    if (req.renewable_lifetime != 0)
        krb5_get_init_creds_opt_set_renew_life(k.options, static_cast<krb5_deltat>(req.renewable_lifetime));

    if (req.command == ChildCommand::check_password) {
        krb5_creds changepw{};
        rc = changepw_ticket(k, req.password, changepw);
        req.password.wipe();
        if (rc != 0) return answer(classify(rc), k.error_text(rc));
        krb5_free_cred_contents(k.ctx, &changepw);
        return answer(ChildResult::ok, "the password is right (nothing stored)");
    }
    std::string changed;
    if (req.command == ChildCommand::change_password) {
        auto [result, said] = change_password(k, req);
        req.password.wipe();
        if (result != ChildResult::ok) return answer(result, said);
        // The new password gets the user a TGT at once.
        req.password = std::move(req.new_password);
        changed = said + "; ";
    }
    auto [result, message] = get_tgt(k, req);
    req.password.wipe();
    message = changed + message;
    // After a change, whatever fails next, the change itself stands: the
    // answer is ok, without a ccache.
    auto failure = [&](ChildResult r, const std::string &why) {
        if (!changed.empty()) return answer(ChildResult::ok, message + "; but no ccache: " + why);
        return answer(r, why);
    };
    if (result != ChildResult::ok) return failure(result, message);
    if (req.validate) {
        auto [validated, said] = validate(k, req);
        if (validated != ChildResult::ok) return failure(validated, said);
        message += "; " + said;
    }

    if (std::string failed = drop_to(req.uid, req.gid); !failed.empty())
        return failure(ChildResult::ccache_failed, failed);
    std::string failed;
    std::string path;
    if (req.ccname.starts_with("FILE:")) {
        path = req.ccname.substr(5);
        failed = store_file(k, path);
    } else if (req.ccname.starts_with("DIR:")) {
        path = req.ccname.substr(4);
        failed = store_dir(k, path);
    } else if (req.ccname == "KEYRING:persistent:" + std::to_string(req.uid)) {
        // The user's own persistent keyring only (the kernel would refuse
        // another uid's after the drop anyway).
        failed = store_in_collection(k, req.ccname, "KEYRING");
    } else {
        failed = "unsupported ccache name " + req.ccname;
    }
    if (!failed.empty()) return failure(ChildResult::ccache_failed, failed);
    return answer(ChildResult::ok, message + "; stored in " + req.ccname, req.ccname,
                  ticket_time(k.creds.times.endtime));
}

} // namespace

int main(int argc, char **argv)
{
    limit_self();
    // Only stdin, stdout and stderr, whatever the parent left open.
    close_range(3, ~0u, 0);
    Warm warm;
    if (argc == 3 && std::strcmp(argv[1], "--warm") == 0) warm.start(argv[2]);

    char header[header_size];
    if (!read_exactly(0, header, sizeof header))
        return answer(ChildResult::bad_request, "no request on stdin"), 1;
    auto length = body_length(std::string_view(header, sizeof header), true);
    if (!length) return answer(ChildResult::bad_request, length.error().message), 1;
    std::string message(header_size + *length, '\0');
    std::memcpy(message.data(), header, header_size);
    if (!read_exactly(0, message.data() + header_size, *length)) {
        explicit_bzero(message.data(), message.size());
        return answer(ChildResult::bad_request, "the request was cut short"), 1;
    }
    auto request = decode_request(message);
    explicit_bzero(message.data(), message.size()); // held the password
    if (!request) return answer(ChildResult::bad_request, request.error().message), 1;
    return run(*request, warm);
}
