#include "policy/policy_daemon.hpp"

#include "policy/install.hpp"
#include "util/ini.hpp"
#include "util/log.hpp"
#include "util/service.hpp"
#include "util/sbus/monitor_iface.hpp"

#include <algorithm>
#include <random>
#include <unistd.h>

namespace vigil::policy {

namespace {

using namespace std::chrono_literals;

constexpr auto first_retry = 30s;

std::string utc(std::time_t t)
{
    if (t == 0) return "never";
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return text;
}

// One line of text from the directory's data: control characters (a NUL,
// a newline that would forge a status line, terminal escapes) become '?'.
std::string one_line(std::string text)
{
    for (char &c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return text;
}

// D-Bus carries UTF-8 only (libdbus aborts on anything else); the
// directory's bytes may not be.
std::string for_bus(std::string text)
{
    text = one_line(std::move(text));
    if (!is_valid_utf8(text)) {
        for (char &c : text) {
            if (static_cast<unsigned char>(c) >= 0x80) c = '?';
        }
    }
    return text;
}

std::chrono::seconds jittered(std::chrono::seconds base)
{
    static std::mt19937 random{std::random_device{}()};
    const auto spread = std::max<std::int64_t>(base.count() / 10, 1);
    return base + std::chrono::seconds(std::uniform_int_distribution<std::int64_t>(0, spread)(random));
}

} // namespace

PolicyDaemon::PolicyDaemon(EventLoop &loop, PolicySettings settings)
    : loop_(loop), settings_(std::move(settings)), downloader_(loop, settings_.download)
{
}

Result<std::unique_ptr<PolicyDaemon>> PolicyDaemon::start(EventLoop &loop, PolicySettings settings)
{
    std::unique_ptr<PolicyDaemon> daemon(new PolicyDaemon(loop, std::move(settings)));
    PolicyDaemon &d = *daemon;
    if (auto made = make_dirs(d.settings_.state_dir, 0700); !made) return std::move(made).error();
    std::string note;
    d.index_ = PolicyStore(d.settings_.cache_dir()).load(&note);
    if (!note.empty()) VLOG(minor, "%s", note.c_str());
    // One thread: refreshes and rollbacks never run at the same time.
    auto worker = WorkerPool::start(loop, "policy worker", {.threads = 1, .max_queued = 8});
    if (!worker) return std::move(worker).error();
    d.worker_ = std::move(*worker);
    const std::string run_dir = d.settings_.run_dir;
    if (Status st = ensure_private_dir(monitor_iface::private_dir(run_dir), 0700); !st) return std::move(st).error();
    std::vector<uid_t> allowed{0};
    if (::geteuid() != 0) allowed.push_back(::geteuid());
    auto server = sbus::Server::listen(loop, policy_iface::socket_path(run_dir), allowed, d.methods(), {});
    if (!server) return std::move(server).error();
    d.server_ = std::move(*server);
    d.next_refresh_ = loop.after(0ms, [&d] { d.refresh(false); });
    return daemon;
}

std::vector<sbus::Method> PolicyDaemon::methods()
{
    const char *iface = policy_iface::interface;
    return {
        {iface, "refresh", "", "bas", [this](sbus::Request req) {
             auto shared = std::make_shared<sbus::Request>(std::move(req));
             if (phase_ == Phase::idle) {
                 waiting_.push_back(std::move(shared));
                 refresh(true);
             } else {
                 // The refresh under way may have downloaded already: the caller gets the next one.
                 waiting_next_.push_back(std::move(shared));
                 again_ = again_explicit_ = true;
             }
         }},
        {iface, "rollback", "s", "bs", [this](sbus::Request req) { rollback(std::move(req)); }},
    };
}

void PolicyDaemon::refresh(bool explicit_request)
{
    if (phase_ != Phase::idle) {
        again_ = true;
        again_explicit_ = again_explicit_ || explicit_request;
        return;
    }
    next_refresh_.cancel();
    phase_ = Phase::resolving;
    const bool release = explicit_request;
    const PolicySettings *settings = &settings_;
    struct Prepared {
        std::string fqdn;
        CacheIndex index;
    };
    // The host name may take the resolver, and the cache is checked against
    // its files (a document gone from them is downloaded again): off the
    // loop, like everything slow.
    Status queued = worker_->run<Prepared>(
        [settings, release, index = index_]() -> Result<Prepared> {
            if (release) release_holds(*settings);
            auto fqdn = this_host_fqdn(settings->host_fqdn);
            if (!fqdn) return std::move(fqdn).error();
            return Prepared{std::move(*fqdn), PolicyStore(settings->cache_dir()).verified(index)};
        },
        [this, release](Result<Prepared> prepared) {
            if (release) {
                // The holds are gone; until this refresh installs, the status must not say "held".
                for (auto &t : types_) {
                    if (t.state != TypeState::held) continue;
                    t.state = TypeState::failed;
                    t.message = "hold released; not installed yet (the refresh did not get that far)";
                }
            }
            if (!prepared) {
                downloaded(std::move(prepared).error());
                return;
            }
            fqdn_ = std::move(prepared->fqdn);
            index_ = std::move(prepared->index);
            phase_ = Phase::downloading;
            downloader_.start(fqdn_, index_, [this](Result<Download> d) { downloaded(std::move(d)); });
        });
    if (!queued) finished(std::move(queued).error());
}

void PolicyDaemon::downloaded(Result<Download> download)
{
    if (!download) {
        finished(std::move(download).error());
        return;
    }
    phase_ = Phase::applying;
    last_download_ = *download;
    last_download_.policies.clear();
    last_download_.roles.reset();
    VLOG(info, "policy download from %s: %zu policies for %s, %zu host groups, %d searches",
         download->server.c_str(), download->policies.size(), download->fqdn.c_str(), download->group_dns.size(),
         download->searches);
    auto shared = std::make_shared<Download>(std::move(*download));
    const PolicySettings *settings = &settings_;
    const CacheIndex previous = index_;
    Status queued = worker_->run<RefreshReport>(
        [settings, shared, previous] { return apply_download(*settings, *shared, previous); },
        [this](Result<RefreshReport> report) { finished(std::move(report)); });
    if (!queued) finished(std::move(queued).error());
}

void PolicyDaemon::finished(Result<RefreshReport> report)
{
    last_refresh_ = std::time(nullptr);
    std::vector<std::string> lines;
    bool ok = static_cast<bool>(report);
    if (report) {
        index_ = std::move(report->index);
        for (const auto &note : report->notes) VLOG(minor, "policy: %s", note.c_str());
        for (auto &t : report->types) {
            t.checked_at = last_refresh_;
            const char *state = type_state_name(t.state);
            if (t.state == TypeState::failed) {
                // One line naming the policy (the message does); the installed file is as it was.
                VLOG(error, "policy type %s: %s; %s left as it was", t.type.c_str(), t.message.c_str(),
                     t.target.c_str());
                ok = false;
            } else if (t.state == TypeState::installed) {
                VLOG(config, "policy type %s: installed %s (%zu documents)", t.type.c_str(), t.target.c_str(),
                     t.documents.size());
            }
            lines.push_back(t.type + ": " + state + (t.message.empty() ? "" : ": " + t.message));
        }
        types_ = std::move(report->types);
        last_result_ = ok ? "ok" : "failed: see the types below";
    } else {
        VLOG(error, "policy refresh failed: %s; everything installed is left as it was",
             report.error().message.c_str());
        last_result_ = "failed: " + report.error().message;
        lines.push_back("refresh failed: " + report.error().message);
    }
    phase_ = Phase::idle;
    schedule_next(static_cast<bool>(report));
    write_status();
    for (auto &request : waiting_) {
        sbus::StringList answer;
        for (const auto &line : lines) answer.push_back(for_bus(line));
        request->reply({ok, std::move(answer)});
    }
    waiting_.clear();
    if (again_) {
        const bool explicit_request = again_explicit_;
        again_ = again_explicit_ = false;
        waiting_ = std::move(waiting_next_);
        waiting_next_.clear();
        refresh(explicit_request);
    }
}

void PolicyDaemon::schedule_next(bool succeeded)
{
    std::chrono::seconds delay = jittered(settings_.refresh_interval);
    if (succeeded) {
        failures_ = 0;
    } else {
        // The directory (or the host's name) failed: try again sooner, backing off.
        const int doublings = std::min(failures_++, 10);
        delay = std::min(delay, std::chrono::seconds(first_retry.count() << doublings));
    }
    next_at_ = std::time(nullptr) + delay.count();
    next_refresh_ = loop_.after(delay, [this] { refresh(false); });
}

void PolicyDaemon::write_status()
{
    std::string text;
    auto line = [&](const std::string &key, const std::string &value) { text += key + ": " + one_line(value) + "\n"; };
    line("host", fqdn_.empty() ? "(unknown)" : fqdn_);
    std::string groups;
    for (const auto &g : last_download_.group_dns) groups += (groups.empty() ? "" : "; ") + g;
    line("host groups", groups.empty() ? "(none)" : groups);
    line("server", last_download_.server.empty() ? "(none yet)" : last_download_.server);
    line("last refresh", utc(last_refresh_) + " (" + last_result_ + ")");
    line("searches", std::to_string(last_download_.searches));
    line("next refresh", utc(next_at_));
    for (const auto &t : types_) {
        text += "\n[" + t.type + "]\n";
        line("target", t.target);
        line("state", type_state_name(t.state));
        if (!t.message.empty()) line("message", t.message);
        line("last check", utc(t.checked_at));
        line("last change", utc(t.last_change));
        line("documents", std::to_string(t.documents.size()));
        for (const auto &d : t.documents) text += "  " + one_line(d) + "\n";
    }
    // Informational: a crash loses at most the last refresh's status.
    const std::string path = settings_.status_path();
    const std::string temp = path + ".new";
    if (FILE *f = std::fopen(temp.c_str(), "we")) {
        bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
        written = std::fclose(f) == 0 && written;
        if (written && std::rename(temp.c_str(), path.c_str()) == 0) return;
        ::unlink(temp.c_str());
    }
    VLOG(minor, "cannot write %s", path.c_str());
}

void PolicyDaemon::rollback(sbus::Request req)
{
    const std::string name = sbus::get<std::string>(req.args(), 0);
    const PolicyType *type = find_type(name);
    if (!type) {
        req.reply({false, for_bus("unknown policy type '" + name + "'")});
        return;
    }
    auto shared = std::make_shared<sbus::Request>(std::move(req));
    const PolicySettings *settings = &settings_;
    Status queued = worker_->run<bool>(
        [settings, type]() -> Result<bool> {
            if (auto rolled = rollback_type(*settings, *type); !rolled) return std::move(rolled).error();
            return true;
        },
        [this, shared, type](Result<bool> done) {
            if (!done) {
                VLOG(error, "policy rollback of %s failed: %s", std::string(type->name).c_str(),
                     done.error().message.c_str());
                shared->reply({false, for_bus(done.error().message)});
                return;
            }
            VLOG(config, "policy type %s rolled back; held until 'vigilctl policy refresh'",
                 std::string(type->name).c_str());
            for (auto &t : types_) {
                if (t.type == type->name) t.state = TypeState::held;
            }
            write_status();
            shared->reply({true, std::string("rolled back; held until 'vigilctl policy refresh'")});
        });
    if (!queued) shared->reply({false, for_bus(queued.error().message)});
}

} // namespace vigil::policy
