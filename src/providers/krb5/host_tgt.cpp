#include "providers/krb5/host_tgt.hpp"

#include "providers/krb5/krb5_child_protocol.hpp"
#include "util/log.hpp"

#include <algorithm>

namespace vigil::krb5 {
namespace {

Errc errc_of(ChildResult r)
{
    switch (r) {
    case ChildResult::ok: break;
    case ChildResult::kdc_unreachable: return Errc::unavailable;
    case ChildResult::keytab_failed: return Errc::invalid_config;
    case ChildResult::clock_skew:
    case ChildResult::wrong_password:
    case ChildResult::unknown_principal:
    case ChildResult::account_locked:
    case ChildResult::password_expired: return Errc::permission;
    case ChildResult::validation_failed:
    case ChildResult::ccache_failed:
    case ChildResult::bad_request:
    case ChildResult::password_rejected:
    case ChildResult::error: break;
    }
    return Errc::internal;
}

} // namespace

void HostTgt::ensure(bool renew, Done done)
{
    const auto now = Clock::now();
    if (!renew && now < good_until_) {
        if (now >= refresh_at_ && !child_) start_child(); // the timer's refresh failed: again
        done({});
        return;
    }
    waiting_.push_back(std::move(done));
    if (!child_) start_child();
}

void HostTgt::start_child()
{
    // The refresh timer stays: only a TGT got replaces it (a child that
    // fails must not leave nothing to try again).
    ChildRequest request;
    request.command = ChildCommand::host_tgt;
    request.realm = settings_.realm;
    request.principal = settings_.principal;
    request.keytab = settings_.keytab;
    request.ccname = settings_.ccname;
    request.krb5_config = settings_.krb5_config;
    request.lifetime = settings_.lifetime;
    AsyncChildLimits limits;
    limits.timeout = settings_.timeout;
    limits.max_output = header_size + max_body;
    limits.timeout_option = "krb5_auth_timeout";
    auto child = AsyncChild::start(loop_, {settings_.child_path}, encode_request(request), limits,
                                   [this](Result<AsyncChildOutcome> outcome) { child_done(std::move(outcome)); });
    if (!child) {
        conclude(Error{Errc::internal, "cannot run vigil_krb5_child for the host TGT: " + child.error().message});
        return;
    }
    VLOG(trace, "host TGT: vigil_krb5_child pid %d for %s into %s", static_cast<int>((*child)->pid()),
         settings_.principal.empty() ? "host/<FQDN>" : settings_.principal.c_str(), settings_.ccname.c_str());
    child_ = std::move(*child);
}

void HostTgt::child_done(Result<AsyncChildOutcome> outcome)
{
    // The child is gone; its handle goes once this returns.
    auto finished = std::move(child_);
    if (!outcome) {
        // A KDC that does not answer in time is as good as unreachable.
        const Errc code = outcome.error().code == Errc::timeout ? Errc::unavailable : Errc::internal;
        conclude(Error{code, "host TGT: vigil_krb5_child " + outcome.error().message});
        return;
    }
    auto answer = decode_answer(outcome->out);
    if (!answer) {
        conclude(Error{Errc::internal, "host TGT: vigil_krb5_child (exit status " + std::to_string(outcome->exit_code) +
                                           "): " + answer.error().message});
        return;
    }
    if (answer->result != ChildResult::ok) {
        conclude(Error{errc_of(answer->result),
                       std::string("host TGT: ") + child_result_name(answer->result) + ": " + answer->message});
        return;
    }
    // Refreshed at three quarters of its life, counted from now.
    const auto now = Clock::now();
    const auto end = Clock::time_point(std::chrono::seconds(answer->tgt_end));
    const auto life = end > now ? end - now : Clock::duration::zero();
    if (life < min_life) {
        // Ended already, or nearly: refreshing it at three quarters would
        // ask the KDC every second or so. A failure, tried again after
        // offline_timeout; the ccache holds it, so no TGT is good now.
        refresh_at_ = good_until_ = Clock::time_point{};
        conclude(Error{Errc::permission,
                       "host TGT: " + answer->message + ", but it has " +
                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(life).count()) +
                           " s of life left (under " + std::to_string(min_life.count()) +
                           " s): the principal's or krbtgt's maximum ticket life is too short, or this "
                           "host's clock is ahead of the KDC's"});
        return;
    }
    refresh_at_ = now + life * 3 / 4;
    good_until_ = now + life * 7 / 8;
    ++obtained_;
    VLOG(config, "host TGT: %s", answer->message.c_str());
    const auto in = std::chrono::duration_cast<std::chrono::milliseconds>(refresh_at_ - now);
    arm_refresh(std::max(in, std::chrono::milliseconds(1000)));
    conclude({});
}

void HostTgt::arm_refresh(std::chrono::milliseconds in)
{
    refresh_due_ = std::chrono::steady_clock::now() + in;
    refresh_timer_ = loop_.after(in, [this] {
        if (!child_) start_child();
    });
}

void HostTgt::conclude(const Status &status)
{
    if (!status) {
        VLOG(error, "%s", status.error().message.c_str());
        // Tried again after offline_timeout (sooner if the refresh timer
        // is due sooner), whether a bind waited for it or the timer started
        // it: vigil_policy only reads the ccache, so nothing else renews it.
        // Meanwhile the old TGT (in the ccache: a failed child leaves it)
        // serves.
        const auto retry = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.retry);
        if (!refresh_timer_.pending() || refresh_due_ > std::chrono::steady_clock::now() + retry) arm_refresh(retry);
    }
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto &done : waiting) done(status);
}

} // namespace vigil::krb5
