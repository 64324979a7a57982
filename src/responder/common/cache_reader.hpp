// A responder's read-only handle on one domain's cache: opened when first
// needed (the provider creates the file), and opened again when the provider
// has moved a broken cache aside and started a new one.
#pragma once

#include "util/sysdb/sysdb.hpp"

#include <optional>
#include <string>

namespace vigil::responder {

// The open cache, or nullptr (none yet, or unreadable: logged). `replaced`
// (if given) says whether it was just reopened on a new file, so that what
// the caller keeps from the old one can go.
sysdb::Sysdb *open_cache_reader(std::optional<sysdb::Sysdb> &cache, const sysdb::SysdbPaths &paths,
                                const std::string &domain, bool *replaced = nullptr);

} // namespace vigil::responder
