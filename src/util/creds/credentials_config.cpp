#include "util/creds/credentials_config.hpp"

namespace vigil::creds {

CredentialsConfig credentials_config(const Config &config, const std::string &domain)
{
    // The schema bounds these (0..1000 attempts, 0..10080 minutes, 0..3650
    // days, hash cost 1..8), so the casts below cannot wrap.
    CredentialsConfig c;
    c.cache_credentials = config.get_bool("domain/" + domain, "cache_credentials");
    c.hash_cost = static_cast<unsigned>(config.get_int("domain/" + domain, "cache_credentials_hash_cost"));
    c.db_dir = config.get_string("vigil", "state_dir") + "/db";
    c.naming = DomainNaming{domain, false};
    c.settings.failed_login_attempts = static_cast<unsigned>(config.get_int("pam", "offline_failed_login_attempts"));
    c.settings.failed_login_delay = std::chrono::minutes(config.get_int("pam", "offline_failed_login_delay"));
    c.settings.credentials_expiration = std::chrono::days(config.get_int("pam", "offline_credentials_expiration"));
    return c;
}

} // namespace vigil::creds
