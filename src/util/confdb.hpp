// confdb: the validated configuration stored in an ldb (state_dir/db/config.ldb).
// vigild writes it after validation; every other process reads it, so a
// service never sees a configuration that vigild refused.
//
// Layout: cn=config (version, lastUpdate), one entry per section:
//   [vigil]       -> cn=vigil,cn=config
//   [domain/LDAP] -> cn=LDAP,cn=domain,cn=config
// each holding `section` (its name in the file) and one attribute per option set.
#pragma once

#include "util/config.hpp"
#include "util/ldb.hpp"
#include "util/result.hpp"

#include <string>

namespace vigil {

class Confdb {
public:
    static constexpr int format_version = 1;

    // state_dir/db/config.ldb for this configuration.
    static std::string path_for(const Config &config);

    static Result<Confdb> open(const std::string &path, Ldb::Mode mode);

    // Replaces the whole stored configuration in one transaction.
    Status write(const Config &config);

    // Reads it back; getters then apply the option table's defaults.
    Result<Config> read() const;

private:
    explicit Confdb(Ldb ldb) : ldb_(std::move(ldb)) {}
    Ldb ldb_;
};

} // namespace vigil
