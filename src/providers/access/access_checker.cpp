#include "providers/access/access_checker.hpp"

#include "util/log.hpp"

#include <ctime>

namespace vigil::access {

struct AccessChecker::Run {
    std::string name;
    sysdb::User user;
    std::size_t rule = 0; // the next of ldap_access_order
};

AccessChecker::AccessChecker(AccessSettings settings, sysdb::Sysdb &cache, Search search, FetchGroup fetch_group,
                             Clock clock)
    : settings_(std::move(settings)), cache_(cache), search_(std::move(search)), fetch_group_(std::move(fetch_group)),
      clock_(clock ? std::move(clock) : Clock([] { return static_cast<std::int64_t>(std::time(nullptr)); }))
{
}

AccessChecker::~AccessChecker() { *alive_ = false; }

void AccessChecker::check(const std::string &user, Done done)
{
    auto [it, first] = in_flight_.try_emplace(user);
    it->second.push_back(std::move(done));
    if (!first) return;
    switch (settings_.provider) {
    case ProviderKind::permit: finish(user, AccessDecision::permit()); return;
    case ProviderKind::deny: finish(user, AccessDecision::deny("access denied: access_provider = deny")); return;
    case ProviderKind::simple:
    case ProviderKind::ldap: break;
    }
    auto cached = cache_.user_by_name(user);
    if (!cached) {
        finish(user, AccessDecision::unavailable("cannot read the cache: " + cached.error().message));
        return;
    }
    if (!*cached) {
        finish(user, AccessDecision::unavailable("user '" + user + "' is not in the cache"));
        return;
    }
    auto run = std::make_shared<Run>(Run{user, (*cached)->record, 0});
    if (settings_.provider == ProviderKind::simple) simple(run);
    else next_rule(run);
}

void AccessChecker::simple(const std::shared_ptr<Run> &run)
{
    auto primary = cache_.group_by_gid(run->user.gid);
    if (primary && !*primary && fetch_group_) {
        std::weak_ptr<bool> alive = alive_;
        fetch_group_(run->user.gid, [this, alive, run] {
            if (!alive.expired()) simple_with_groups(run);
        });
        return;
    }
    simple_with_groups(run);
}

void AccessChecker::simple_with_groups(const std::shared_ptr<Run> &run)
{
    auto gids = cache_.groups_of_user(run->user.name, run->user.gid);
    if (!gids) {
        finish(run->name, AccessDecision::unavailable("cannot read the groups of " + run->name + ": " + gids.error().message));
        return;
    }
    std::vector<std::string> groups;
    for (std::uint32_t gid : gids->gids) {
        auto g = cache_.group_by_gid(gid);
        if (!g) {
            finish(run->name, AccessDecision::unavailable("cannot read group " + std::to_string(gid) + ": " + g.error().message));
            return;
        }
        if (*g) groups.push_back((*g)->record.name);
        else VLOG(minor, "access check for %s: group %u is not cached; not counted", run->name.c_str(), gid);
    }
    finish(run->name, simple_rule(settings_.simple, run->user.name, groups));
}

void AccessChecker::next_rule(const std::shared_ptr<Run> &run)
{
    const LdapAccessSettings &l = settings_.ldap;
    // The first rule that denies decides; all of them permitting permits.
    while (run->rule < l.order.size()) {
        LdapRule rule = l.order[run->rule++];
        AccessDecision d;
        switch (rule) {
        case LdapRule::filter: filter(run); return; // comes back here when answered
        case LdapRule::expire: d = expire_rule(run->user, l, clock_()); break;
        case LdapRule::host: d = host_rule(run->user, l.host_attr, l.fqdn); break;
        }
        if (!d.permitted()) {
            finish(run->name, d);
            return;
        }
    }
    finish(run->name, AccessDecision::permit());
}

void AccessChecker::filter(const std::shared_ptr<Run> &run)
{
    const std::string &filter = settings_.ldap.filter;
    auto offline = [this, run, filter](const std::string &why) {
        auto memo = cache_.access_filter_memo(run->name);
        if (!memo) {
            finish(run->name, AccessDecision::unavailable("cannot read the cache: " + memo.error().message));
            return;
        }
        VLOG(info, "access filter for %s: the directory cannot be asked (%s); going by the last answer", run->name.c_str(),
             why.c_str());
        AccessDecision d = filter_rule_offline(*memo, filter);
        if (d.permitted()) next_rule(run);
        else finish(run->name, d);
    };
    if (!search_ || run->user.original_dn.empty()) {
        offline(!search_ ? "no directory" : "the cached entry has no DN");
        return;
    }
    ldap::SearchSpec spec;
    spec.base = run->user.original_dn;
    spec.scope = ldap::Scope::base;
    spec.filter = access_filter(settings_.user_name_attr, run->user.name, filter);
    spec.attributes = {"1.1"}; // only whether it matches
    spec.what = "access filter for " + run->name;
    spec.max_entries = 10;
    std::weak_ptr<bool> alive = alive_;
    search_(std::move(spec), [this, alive, run, filter, offline](Result<ldap::SearchResult> r) {
        if (alive.expired()) return;
        if (!r) {
            if (r.error().code == Errc::unavailable || r.error().code == Errc::timeout) {
                offline(r.error().message);
                return;
            }
            // The server answered, but not the question (a bad filter, the DN
            // gone): nothing to go by, and nothing to keep.
            finish(run->name, AccessDecision::deny("access denied: ldap_access_filter could not be checked: " +
                                                   r.error().message));
            return;
        }
        const bool matched = !r->entries.empty();
        Status st = cache_.store_access_filter_memo(run->name, FilterMemo{matched, clock_(), filter_hash(filter)});
        if (!st) VLOG(minor, "cannot keep the access filter answer for %s: %s", run->name.c_str(), st.error().message.c_str());
        AccessDecision d = filter_rule_online(matched);
        if (d.permitted()) next_rule(run);
        else finish(run->name, d);
    });
}

void AccessChecker::finish(const std::string &user, const AccessDecision &decision)
{
    auto it = in_flight_.find(user);
    if (it == in_flight_.end()) return;
    auto dones = std::move(it->second);
    in_flight_.erase(it);
    VLOG(info, "access for %s: %s%s%s", user.c_str(), decision_name(decision.kind), decision.reason.empty() ? "" : ": ",
         decision.reason.c_str());
    for (auto &d : dones) d(decision);
}

} // namespace vigil::access
