// What the configuration says about cached credentials for one domain:
// [domain/NAME] cache_credentials, and the [pam] offline_* options, read
// through the option table so the defaults live in config_schema.cpp only.
#pragma once

#include "util/config.hpp"
#include "util/creds/canonical_name.hpp"
#include "util/creds/offline_policy.hpp"

#include <string>

namespace vigil::creds {

struct CredentialsConfig {
    bool cache_credentials = false; // false: no hash is stored and offline logins are refused
    unsigned hash_cost = 0;         // cache_credentials_hash_cost (creds/password_hash.hpp)
    std::string db_dir;             // state_dir/db, beside the cache files
    DomainNaming naming;
    OfflineSettings settings;
};

CredentialsConfig credentials_config(const Config &config, const std::string &domain);

} // namespace vigil::creds
