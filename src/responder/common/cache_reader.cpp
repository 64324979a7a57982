#include "responder/common/cache_reader.hpp"

#include "util/log.hpp"

namespace vigil::responder {

sysdb::Sysdb *open_cache_reader(std::optional<sysdb::Sysdb> &cache, const sysdb::SysdbPaths &paths,
                                const std::string &domain, bool *replaced)
{
    if (replaced != nullptr) *replaced = false;
    if (cache) {
        auto reopened = cache->reopen_if_replaced();
        if (!reopened) {
            VLOG(minor, "domain %s: %s", domain.c_str(), reopened.error().message.c_str());
            cache.reset();
        } else if (*reopened && replaced != nullptr) {
            *replaced = true;
        }
    }
    if (!cache) {
        auto opened = sysdb::Sysdb::open(paths, sysdb::Sysdb::Role::reader);
        if (!opened) {
            VLOG(minor, "domain %s: no cache yet: %s", domain.c_str(), opened.error().message.c_str());
            return nullptr;
        }
        cache.emplace(std::move(*opened));
    }
    return &*cache;
}

} // namespace vigil::responder
