// auth_provider = krb5: password logins against the realm's KDCs, each in
// a vigil_krb5_child run from the event loop (doc/krb5.md).
//
// The provider never calls libkrb5 itself. For each login it expands
// krb5_ccname_template for the user, sends the child one request (the
// password only in it, on a socket), and reads one answer; the child is
// killed by its pidfd when krb5_auth_timeout runs out, which counts as the
// KDC not answering (offline rules apply).
//
// A spare child: one vigil_krb5_child is kept started ahead of need,
// waiting for its request (AsyncChild::prepare), so that a login does not
// wait for the spawn, the exec, libkrb5's loading and its context (the
// child is run with --warm and the profile: it makes its context and loads
// libkrb5's plug-ins before it reads a request); each login takes it,
// and the next one starts on the loop's next turn, while that login's child
// waits for the KDC.
//
// KDCs: at start the provider writes a small profile,
// STATE_DIR/krb5/DOMAIN.conf (mode 0644, no secrets), whose realm section
// lists krb5_server then krb5_backup_server as `kdc` lines in that order
// and is marked final; the child runs with KRB5_CONFIG=that file:BASE,
// BASE being the provider's own KRB5_CONFIG (or /etc/krb5.conf). libkrb5
// tries the KDCs in order, so a backup is asked when the primaries do not
// answer; the kpasswd servers (krb5_kpasswd, else the KDCs' hosts) are
// listed there too; everything else (enctypes, default keytab, DNS) comes
// from BASE.
#pragma once

#include "providers/krb5/krb5_child_protocol.hpp"
#include "util/async_child.hpp"
#include "util/config.hpp"
#include "util/event.hpp"
#include "util/krb5_options.hpp"
#include "util/secret.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vigil::krb5 {

struct Krb5Settings {
    std::string realm;                       // krb5_realm
    std::vector<std::string> servers;        // krb5_server
    std::vector<std::string> backup_servers; // krb5_backup_server
    std::vector<std::string> kpasswd_servers; // krb5_kpasswd; empty: the KDCs' hosts, port 464
    std::uint32_t lifetime = 0;              // krb5_lifetime, seconds; 0: the profile's
    std::uint32_t renewable_lifetime = 0;    // krb5_renewable_lifetime
    bool validate = false;                   // krb5_validate
    std::string keytab;                      // krb5_keytab; empty: the profile's default
    std::string ccname_template;             // krb5_ccname_template
    std::string ccachedir;                   // krb5_ccachedir (%d)
    std::chrono::seconds auth_timeout{6};    // krb5_auth_timeout
    bool store_password_if_offline = false;  // krb5_store_password_if_offline
    std::chrono::seconds offline_retry{60};  // offline_timeout: how often a kept password is tried
    std::string base_config;                 // KRB5_CONFIG of vigil_be, or /etc/krb5.conf
    std::string profile_path;                // the generated profile
    std::string child_path;                  // vigil_krb5_child
    std::string principal_attribute;         // ldap_user_principal

    // `state_dir` holds the generated profile, `libexec_dir` the child.
    static Result<Krb5Settings> from_config(const Config &config, const std::string &domain,
                                            const std::string &libexec_dir);
};

// The generated profile's text (empty realm section: no krb5_server).
std::string generated_profile(const Krb5Settings &settings);
// Writes it to settings.profile_path (atomically, 0644): at start, for the
// krb5 provider and for the GSSAPI bind of the identity connection alike.
Status write_generated_profile(const Krb5Settings &settings);

// Who logs in: from the cache's user record.
struct Krb5User {
    std::string name;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::string home;
    std::string principal; // the directory's (ldap_user_principal); empty: name@krb5_realm
};

struct Krb5Answer {
    ChildResult result = ChildResult::error;
    std::string message; // for the log
    std::string ccname;  // result ok: KRB5CCNAME
};

class Krb5Auth {
public:
    using Done = std::function<void(Krb5Answer)>;

    Krb5Auth(EventLoop &loop, Krb5Settings settings) : loop_(loop), settings_(std::move(settings)) {}
    Krb5Auth(const Krb5Auth &) = delete;
    Krb5Auth &operator=(const Krb5Auth &) = delete;

    // Writes the generated profile (atomically); at start.
    Status write_profile() const;

    // `done` runs once, on the loop, never inside this call. Destroying the
    // Krb5Auth kills the children still running; their callbacks are dropped.
    void authenticate(const Krb5User &user, const Secret &password, Done done);
    // kpasswd with the old password, then a TGT with the new one (stored as
    // for a login). A refusal of the new password is password_rejected,
    // with the KDC's reason as the message.
    void change_password(const Krb5User &user, const Secret &old_password, const Secret &new_password, Done done);
    // The password proven with a kadmin/changepw ticket (expired or not);
    // nothing stored (chauthtok's PAM_PRELIM_CHECK).
    void check_password(const Krb5User &user, const Secret &password, Done done);

    // krb5_store_password_if_offline: a password that logged in from the
    // cached credentials while the KDC was unreachable is kept in memory
    // (never on disk) and tried every offline_timeout until the KDC answers;
    // then the TGT is stored as for a login and the password forgotten. A
    // KDC that refuses it (changed meanwhile) also forgets it. At most
    // max_kept users; a newer login replaces a user's kept password.
    void keep_for_later(const Krb5User &user, const Secret &password);
    std::size_t kept() const { return kept_.size(); }
    static constexpr std::size_t max_kept = 256;

    std::size_t in_flight() const { return running_.size(); }

    // Starts the spare child if none is waiting (at start; after each
    // child's start, on the loop's next turn). A failure is logged: logins
    // then start their own child.
    void keep_spare();
    // The spare's pid, or -1 (tests).
    pid_t spare_pid() const { return spare_ ? spare_->pid() : -1; }
    const Krb5Settings &settings() const { return settings_; }

private:
    void run(const Krb5User &user, ChildRequest request, Done done);
    void retry_kept();
    std::string child_krb5_config() const;       // KRB5_CONFIG for the child
    std::vector<std::string> child_argv() const; // the child, warmed with that profile
    void conclude_later(Krb5Answer answer, Done done);

    EventLoop &loop_;
    Krb5Settings settings_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, std::unique_ptr<AsyncChild>> running_;
    std::unique_ptr<AsyncChild> spare_;
    Timer spare_timer_;
    std::map<std::uint64_t, Timer> answering_; // refusals answered on the next turn
    struct Kept {
        Krb5User user;
        Secret password;
        bool trying = false;
    };
    std::map<std::string, Kept> kept_; // by user name
    Timer retry_timer_;
};

} // namespace vigil::krb5
