#include "util/creds/offline_auth.hpp"

#include "util/log.hpp"

#include <variant>

namespace vigil::creds {

WallTime OfflineAuthenticator::system_now()
{
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

OfflineAuthenticator::OfflineAuthenticator(CredentialStore &store, HashWorker &worker, DomainNaming naming,
                                           OfflineSettings settings, Clock clock)
    : store_(store), worker_(worker), naming_(std::move(naming)), settings_(settings), clock_(std::move(clock))
{
}

// Callbacks still queued in the worker see alive_ expire and do nothing.
OfflineAuthenticator::~OfflineAuthenticator() = default;

Result<std::string> OfflineAuthenticator::canonical(std::string_view name) const
{
    return canonical_user_name(name, naming_);
}

Status OfflineAuthenticator::serialise(const std::string &user, Step step)
{
    auto [it, idle] = waiting_.try_emplace(user);
    if (!idle) {
        if (it->second.size() >= max_waiting_per_user)
            return Error{Errc::unavailable, "too many offline logins for " + user + " at once"};
        it->second.push_back(std::move(step));
        return {};
    }
    step();
    return {};
}

void OfflineAuthenticator::next(const std::string &user)
{
    auto it = waiting_.find(user);
    if (it == waiting_.end()) return;
    if (it->second.empty()) {
        waiting_.erase(it);
        return;
    }
    Step step = std::move(it->second.front());
    it->second.pop_front();
    step();
}

Status OfflineAuthenticator::authenticate(std::string_view name, Secret password, AuthDone done)
{
    if (!done) return Error{Errc::invalid_argument, "offline authentication without a callback"};
    auto user = canonical(name);
    if (!user) return std::move(user).error();
    auto secret = std::make_shared<Secret>(std::move(password));
    return serialise(*user, [this, u = *user, secret, done] { start_attempt(u, secret, done); });
}

// Step 1: the rules that need no hash. Only an Admitted record is compared.
void OfflineAuthenticator::start_attempt(const std::string &user, const std::shared_ptr<Secret> &password,
                                         const AuthDone &done)
{
    auto reply = [&](Result<Outcome> outcome) {
        done(std::move(outcome));
        next(user);
    };
    auto record = store_.find(user);
    if (!record) return reply(std::move(record).error());
    auto admission = admit(*record, clock_(), settings_);
    if (const auto *refused = std::get_if<Refused>(&admission)) {
        VLOG(info, "offline login of %s refused before comparing: %s", user.c_str(), verdict_name(refused->verdict));
        return reply(Outcome{refused->verdict, refused->locked_until});
    }
    std::string hash = std::get<Admitted>(admission).record().hash;
    std::weak_ptr<char> alive = alive_;
    Status queued = worker_.verify(std::move(*password), hash, [this, alive, user, hash, done](Result<bool> matched) {
        if (alive.expired()) return;
        finish_attempt(user, hash, std::move(matched), done);
    });
    if (!queued) reply(std::move(queued).error());
}

// Step 2, back in the loop with the comparison: the verdict, written first.
void OfflineAuthenticator::finish_attempt(const std::string &user, const std::string &compared_hash,
                                          Result<bool> matched, const AuthDone &done)
{
    auto reply = [&](Result<Outcome> outcome) {
        done(std::move(outcome));
        next(user);
    };
    if (!matched) return reply(std::move(matched).error());
    // Read again: forget() or a store by another process may have run meanwhile.
    auto record = store_.find(user);
    if (!record) return reply(std::move(record).error());
    const WallTime now = clock_();
    auto admission = admit(*record, now, settings_);
    if (const auto *refused = std::get_if<Refused>(&admission))
        return reply(Outcome{refused->verdict, refused->locked_until});
    const Admitted &admitted = std::get<Admitted>(admission);
    if (admitted.record().hash != compared_hash)
        return reply(Error{Errc::unavailable, "the cached credentials of " + user + " changed while they were checked"});

    Conclusion c = conclude(admitted, now, settings_, *matched);
    if (c.record_changed) {
        Status written = store_.put(user, c.record);
        // An uncounted failure would allow unlimited guesses: refuse instead.
        if (!written && c.verdict != OfflineVerdict::allowed) return reply(std::move(written).error());
        if (!written) VLOG(error, "offline login of %s: cannot reset the failure counter: %s", user.c_str(),
                           written.error().message.c_str());
    }
    VLOG(info, "offline login of %s: %s (%u failed attempts)", user.c_str(), verdict_name(c.verdict),
         c.record.failed_attempts);
    reply(Outcome{c.verdict, c.locked_until});
}

Status OfflineAuthenticator::remember(std::string_view name, Secret password, StoreDone done)
{
    if (!done) return Error{Errc::invalid_argument, "storing credentials without a callback"};
    auto user = canonical(name);
    if (!user) return std::move(user).error();
    auto secret = std::make_shared<Secret>(std::move(password));
    return serialise(*user, [this, u = *user, secret, done] { start_remember(u, secret, done); });
}

void OfflineAuthenticator::start_remember(const std::string &user, const std::shared_ptr<Secret> &password,
                                          const StoreDone &done)
{
    auto reply = [&](Status st) {
        done(std::move(st));
        next(user);
    };
    std::weak_ptr<char> alive = alive_;
    // Hashed and stored in the worker: the store is durable (an fsync) and
    // locks itself; the worker is joined before the store goes (vigil_be
    // declares them so), so `store` outlives the job.
    const WallTime now = clock_();
    Status queued = worker_.hash_and_keep(
        std::move(*password),
        [store = &store_, user, now](std::string hashed) { return store->put(user, fresh_record(std::move(hashed), now)); },
        [this, alive, user, done](Status st) {
            if (alive.expired()) return;
            if (st) VLOG(trace, "stored cached credentials of %s", user.c_str());
            done(std::move(st));
            next(user);
        });
    if (!queued) reply(std::move(queued).error());
}

Status OfflineAuthenticator::forget(std::string_view name)
{
    auto user = canonical(name);
    if (!user) return std::move(user).error();
    Status st = store_.remove(*user);
    if (st) VLOG(config, "dropped the cached credentials of %s (account disabled)", user->c_str());
    return st;
}

Result<std::optional<CredentialSummary>> OfflineAuthenticator::summary(std::string_view name)
{
    auto user = canonical(name);
    if (!user) return std::move(user).error();
    auto record = store_.find(*user);
    if (!record) return std::move(record).error();
    if (!record->has_value()) return std::optional<CredentialSummary>{};
    const CredentialRecord &r = **record;
    return std::optional<CredentialSummary>(CredentialSummary{r.stored_at, r.failed_attempts, r.locked_until});
}

} // namespace vigil::creds
