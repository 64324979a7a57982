#include "util/creds/offline_policy.hpp"

namespace vigil::creds {

const char *verdict_name(OfflineVerdict verdict) noexcept
{
    switch (verdict) {
    case OfflineVerdict::allowed: return "allowed";
    case OfflineVerdict::wrong_password: return "wrong password";
    case OfflineVerdict::locked: return "locked";
    case OfflineVerdict::expired: return "expired";
    case OfflineVerdict::no_credentials: return "no cached credentials";
    }
    return "unknown";
}

std::variant<Refused, Admitted> admit(const std::optional<CredentialRecord> &stored, WallTime now,
                                      const OfflineSettings &settings)
{
    if (!stored || stored->hash.empty()) return Refused{OfflineVerdict::no_credentials, std::nullopt};
    // As for the cache (DESIGN.md): a time in the future means the clock was
    // stepped back since, and an age cannot be trusted. The next online login
    // stores a fresh hash.
    if (stored->stored_at > now) return Refused{OfflineVerdict::expired, std::nullopt};
    if (settings.credentials_expiration.count() > 0) {
        auto valid_until = stored->stored_at + std::chrono::duration_cast<std::chrono::seconds>(settings.credentials_expiration);
        if (now >= valid_until) return Refused{OfflineVerdict::expired, std::nullopt};
    }
    // A lock set under older settings still holds until it runs out: an admin
    // lowering the limit must not release everybody it caught.
    if (stored->locked_until && now < *stored->locked_until)
        return Refused{OfflineVerdict::locked, stored->locked_until};
    return Admitted(*stored);
}

Conclusion conclude(const Admitted &admitted, WallTime now, const OfflineSettings &settings, bool password_matched)
{
    CredentialRecord record = admitted.record();
    if (password_matched) {
        bool changed = record.failed_attempts != 0 || record.locked_until.has_value();
        record.failed_attempts = 0;
        record.locked_until.reset();
        return Conclusion{OfflineVerdict::allowed, std::nullopt, std::move(record), changed};
    }
    if (record.failed_attempts < std::numeric_limits<unsigned>::max()) ++record.failed_attempts;
    std::optional<WallTime> locked;
    if (settings.failed_login_attempts > 0 && record.failed_attempts >= settings.failed_login_attempts) {
        locked = settings.failed_login_delay.count() > 0
                     ? now + std::chrono::duration_cast<std::chrono::seconds>(settings.failed_login_delay)
                     : locked_until_online_login;
    }
    record.locked_until = locked;
    return Conclusion{OfflineVerdict::wrong_password, locked, std::move(record), true};
}

CredentialRecord fresh_record(std::string hash, WallTime now)
{
    return CredentialRecord{std::move(hash), now, 0, std::nullopt};
}

} // namespace vigil::creds
