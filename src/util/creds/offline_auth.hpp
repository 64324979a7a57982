// Offline logins for one domain, as vigil_pam will drive them: the rules of
// offline_policy.hpp carried out against the CredentialStore, with every
// hash computed in the HashWorker.
//
// What the caller decides, not this class: an offline attempt is made only
// with cache_credentials = true and only while the directory is unreachable
// (a server that answered "wrong password" is never overridden by the
// cache); remember() only after the directory accepted the password.
//
// Attempts for one user run one after another: each reads the record the
// previous one wrote, so parallel guesses cannot share one counter value.
#pragma once

#include "util/creds/canonical_name.hpp"
#include "util/creds/credential_store.hpp"
#include "util/creds/hash_worker.hpp"
#include "util/creds/offline_policy.hpp"
#include "util/result.hpp"
#include "util/secret.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace vigil::creds {

// What `vigilctl user-show` may print: never the hash.
struct CredentialSummary {
    WallTime stored_at;
    unsigned failed_attempts = 0;
    std::optional<WallTime> locked_until;
};

class OfflineAuthenticator {
public:
    using Clock = std::function<WallTime()>;
    static WallTime system_now();

    struct Outcome {
        OfflineVerdict verdict;
        std::optional<WallTime> locked_until; // locked, or wrong_password that locked
    };
    using AuthDone = std::function<void(Result<Outcome>)>;
    using StoreDone = std::function<void(Status)>;

    // All three must outlive this object; `clock` is injected for tests.
    // Destroying it drops the answers of attempts still being hashed.
    OfflineAuthenticator(CredentialStore &store, HashWorker &worker, DomainNaming naming, OfflineSettings settings,
                         Clock clock = system_now);
    ~OfflineAuthenticator();
    OfflineAuthenticator(const OfflineAuthenticator &) = delete;
    OfflineAuthenticator &operator=(const OfflineAuthenticator &) = delete;

    // A name not of this domain, or too many attempts already waiting for
    // this user, fail here and `done` never runs; otherwise `done` runs
    // exactly once, in the loop (a refusal that needs no hash, such as a
    // lockout, may run it before this returns). Do not destroy the
    // authenticator from `done`.
    Status authenticate(std::string_view name, Secret password, AuthDone done);
    // After an online login: a fresh hash, stored now, counter and lock reset.
    // Hashed and stored (a durable commit) in the worker, off the loop.
    Status remember(std::string_view name, Secret password, StoreDone done);
    // The directory says the account is disabled: the hash is dropped.
    Status forget(std::string_view name);
    Result<std::optional<CredentialSummary>> summary(std::string_view name);

private:
    // Attempts waiting behind the running one, per user: a flood of guesses
    // for one name is refused rather than queued without bound.
    static constexpr std::size_t max_waiting_per_user = 8;
    using Step = std::function<void()>;
    Result<std::string> canonical(std::string_view name) const;
    // Runs `step` now if nothing runs for `user`, else after what is queued.
    Status serialise(const std::string &user, Step step);
    void next(const std::string &user);

    void start_attempt(const std::string &user, const std::shared_ptr<Secret> &password, const AuthDone &done);
    void finish_attempt(const std::string &user, const std::string &compared_hash, Result<bool> matched,
                        const AuthDone &done);
    void start_remember(const std::string &user, const std::shared_ptr<Secret> &password, const StoreDone &done);

    CredentialStore &store_;
    HashWorker &worker_;
    DomainNaming naming_;
    OfflineSettings settings_;
    Clock clock_;
    std::map<std::string, std::deque<Step>> waiting_; // key present: an operation runs for that user
    std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

} // namespace vigil::creds
