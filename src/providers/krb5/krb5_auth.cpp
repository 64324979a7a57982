#include "providers/krb5/krb5_auth.hpp"

#include "util/log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vigil::krb5 {
namespace {

Error invalid(std::string message) { return Error{Errc::invalid_config, std::move(message)}; }

// What may stand in a profile line unquoted: a realm or host[:port] that
// cannot open a section, start a comment or end a line.
bool profile_safe(const std::string &text)
{
    if (text.empty()) return false;
    for (char c : text) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
        if (!ok) return false;
    }
    return true;
}

Result<std::uint32_t> duration_option(const Config &config, const std::string &section, const char *name)
{
    const std::string text = config.get_string(section, name);
    if (text.empty()) return 0u;
    auto seconds = krb5opt::parse_duration(text);
    if (!seconds) return invalid(std::string(name) + ": " + seconds.error().message);
    return static_cast<std::uint32_t>(*seconds);
}

// "host", "host:88", "[::1]:88" -> the host part.
std::string host_of(const std::string &server)
{
    if (server.starts_with('[')) {
        const auto close = server.find(']');
        return close == std::string::npos ? server : server.substr(0, close + 1);
    }
    const auto colon = server.find(':');
    if (colon != std::string::npos && server.find(':', colon + 1) == std::string::npos) return server.substr(0, colon);
    return server;
}

} // namespace

Result<Krb5Settings> Krb5Settings::from_config(const Config &config, const std::string &domain,
                                               const std::string &libexec_dir)
{
    const std::string section = "domain/" + domain;
    Krb5Settings s;
    s.realm = config.get_string(section, "krb5_realm");
    if (!profile_safe(s.realm)) return invalid("krb5_realm '" + s.realm + "' is not a realm name");
    s.servers = config.get_list(section, "krb5_server");
    s.backup_servers = config.get_list(section, "krb5_backup_server");
    s.kpasswd_servers = config.get_list(section, "krb5_kpasswd");
    for (const auto *list : {&s.servers, &s.backup_servers, &s.kpasswd_servers}) {
        for (const std::string &server : *list) {
            if (!profile_safe(server)) return invalid("krb5 server '" + server + "' is not host[:port]");
        }
    }
    if (s.servers.empty() && !s.backup_servers.empty())
        return invalid("krb5_backup_server without krb5_server: name the primary KDCs first");
    auto lifetime = duration_option(config, section, "krb5_lifetime");
    if (!lifetime) return std::move(lifetime).error();
    s.lifetime = *lifetime;
    auto renewable = duration_option(config, section, "krb5_renewable_lifetime");
    if (!renewable) return std::move(renewable).error();
    s.renewable_lifetime = *renewable;
    s.validate = config.get_bool(section, "krb5_validate");
    s.keytab = config.get_string(section, "krb5_keytab");
    s.ccname_template = config.get_string(section, "krb5_ccname_template");
    Status st = krb5opt::check_ccname_template(s.ccname_template);
    if (!st) return std::move(st).error();
    s.ccachedir = config.get_string(section, "krb5_ccachedir");
    s.auth_timeout = std::chrono::seconds(config.get_int(section, "krb5_auth_timeout"));
    s.store_password_if_offline = config.get_bool(section, "krb5_store_password_if_offline");
    s.offline_retry = std::chrono::seconds(config.get_int(section, "offline_timeout"));
    s.base_config = krb5opt::base_profile();
    s.profile_path = krb5opt::generated_profile_path(config.get_string("vigil", "state_dir"), domain);
    s.child_path = libexec_dir + "/vigil_krb5_child";
    s.principal_attribute = config.get_string(section, "ldap_user_principal");
    return s;
}

std::string generated_profile(const Krb5Settings &s)
{
    std::string text = "# Written by vigil_be for its Kerberos logins; rewritten at every start.\n"
                       "# The KDCs of " + s.realm + " in failover order (krb5_server, then\n"
                       "# krb5_backup_server). The realm section is final: no later file adds KDCs.\n";
    if (s.servers.empty()) return text;
    text += "[realms]\n    " + s.realm + " = {\n";
    for (const auto *list : {&s.servers, &s.backup_servers}) {
        for (const std::string &server : *list) text += "        kdc = " + server + "\n";
    }
    // The section is final, so the base profile's kpasswd_server is not
    // seen: without krb5_kpasswd, the KDCs' hosts on kpasswd's port.
    if (!s.kpasswd_servers.empty()) {
        for (const std::string &server : s.kpasswd_servers) text += "        kpasswd_server = " + server + "\n";
    } else {
        for (const auto *list : {&s.servers, &s.backup_servers}) {
            for (const std::string &server : *list) text += "        kpasswd_server = " + host_of(server) + "\n";
        }
    }
    text += "    }*\n";
    return text;
}

Status Krb5Auth::write_profile() const { return write_generated_profile(settings_); }

Status write_generated_profile(const Krb5Settings &settings)
{
    const std::string &path = settings.profile_path;
    const std::string dir = path.substr(0, path.rfind('/'));
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("mkdir " + dir, errno);
    // Readable by everyone (the child reads it after dropping to the user);
    // it holds host names only.
    chmod(dir.c_str(), 0755);
    const std::string temp = path + ".new";
    const std::string text = generated_profile(settings);
    int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return sys_error("open " + temp, errno);
    bool ok = fchmod(fd, 0644) == 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
              fsync(fd) == 0;
    const int err = errno;
    close(fd);
    if (!ok) return sys_error("write " + temp, err);
    if (rename(temp.c_str(), path.c_str()) != 0) return sys_error("rename " + temp, errno);
    return {};
}

void Krb5Auth::conclude_later(Krb5Answer answer, Done done)
{
    const std::uint64_t id = next_id_++;
    answering_[id] = loop_.after(std::chrono::milliseconds(-1), [this, id, answer, done] {
        auto keep = std::move(answering_[id]);
        answering_.erase(id);
        done(answer);
    });
}

void Krb5Auth::authenticate(const Krb5User &user, const Secret &password, Done done)
{
    if (password.empty()) {
        conclude_later({ChildResult::wrong_password, "an empty password is refused without asking the KDC", {}},
                       std::move(done));
        return;
    }
    ChildRequest request;
    request.command = ChildCommand::authenticate;
    request.password = password;
    const std::string name = user.name;
    run(user, std::move(request), [this, name, done](Krb5Answer a) {
        // A login that got its TGT makes a kept password pointless.
        if (a.result == ChildResult::ok) kept_.erase(name);
        done(std::move(a));
    });
}

void Krb5Auth::change_password(const Krb5User &user, const Secret &old_password, const Secret &new_password,
                               Done done)
{
    if (old_password.empty()) {
        conclude_later({ChildResult::wrong_password, "an empty old password is refused without asking the KDC", {}},
                       std::move(done));
        return;
    }
    if (new_password.empty()) {
        conclude_later({ChildResult::password_rejected, "the new password is empty", {}}, std::move(done));
        return;
    }
    ChildRequest request;
    request.command = ChildCommand::change_password;
    request.password = old_password;
    request.new_password = new_password;
    run(user, std::move(request), std::move(done));
}

void Krb5Auth::check_password(const Krb5User &user, const Secret &password, Done done)
{
    if (password.empty()) {
        conclude_later({ChildResult::wrong_password, "an empty password is refused without asking the KDC", {}},
                       std::move(done));
        return;
    }
    ChildRequest request;
    request.command = ChildCommand::check_password;
    request.password = password;
    run(user, std::move(request), std::move(done));
}

void Krb5Auth::keep_for_later(const Krb5User &user, const Secret &password)
{
    if (!settings_.store_password_if_offline || password.empty()) return;
    auto it = kept_.find(user.name);
    if (it == kept_.end()) {
        if (kept_.size() >= max_kept) {
            VLOG(minor, "krb5: %zu passwords kept for the KDC already; not keeping %s's", kept_.size(),
                 user.name.c_str());
            return;
        }
        it = kept_.emplace(user.name, Kept{user, password, false}).first;
    } else {
        it->second.user = user;
        it->second.password = password;
    }
    VLOG(info, "krb5: %s logged in offline; the TGT will be got when the KDC answers", user.name.c_str());
    if (!retry_timer_.pending()) retry_timer_ = loop_.after(settings_.offline_retry, [this] { retry_kept(); });
}

void Krb5Auth::retry_kept()
{
    for (auto &[name, kept] : kept_) {
        if (kept.trying) continue;
        kept.trying = true;
        ChildRequest request;
        request.command = ChildCommand::authenticate;
        request.password = kept.password;
        const std::string user_name = name;
        run(kept.user, std::move(request), [this, user_name](Krb5Answer a) {
            auto it = kept_.find(user_name);
            if (it == kept_.end()) return;
            if (a.result == ChildResult::kdc_unreachable) {
                it->second.trying = false;
                return;
            }
            // Got it, or the KDC said no (a password changed meanwhile): forget it.
            VLOG(info, "krb5: the kept password of %s: %s (%s)", user_name.c_str(), child_result_name(a.result),
                 a.message.c_str());
            kept_.erase(it);
        });
    }
    if (!kept_.empty()) retry_timer_ = loop_.after(settings_.offline_retry, [this] { retry_kept(); });
}

void Krb5Auth::run(const Krb5User &user, ChildRequest request, Done done)
{
    krb5opt::TemplateValues values{user.name, user.uid,
                                   user.principal.empty() ? krb5opt::principal_text(user.name, settings_.realm)
                                                          : user.principal,
                                   settings_.realm, user.home, settings_.ccachedir};
    auto ccname = krb5opt::expand_ccname_template(settings_.ccname_template, values);
    if (!ccname) {
        conclude_later(
            {ChildResult::error, "krb5_ccname_template for " + user.name + ": " + ccname.error().message, {}},
            std::move(done));
        return;
    }
    request.user = user.name;
    request.principal = user.principal;
    request.realm = settings_.realm;
    request.uid = user.uid;
    request.gid = user.gid;
    request.ccname = ccname->full();
    request.krb5_config = child_krb5_config();
    request.lifetime = settings_.lifetime;
    request.renewable_lifetime = settings_.renewable_lifetime;
    request.validate = settings_.validate;
    request.keytab = settings_.keytab;
    Secret message = encode_request(request);
    request.password.wipe();
    request.new_password.wipe();
    const char *what = request.command == ChildCommand::change_password  ? "password change"
                     : request.command == ChildCommand::check_password ? "password check"
                                                                       : "authentication";

    const std::uint64_t id = next_id_++;
    const std::string name = user.name;
    AsyncChildLimits limits;
    limits.timeout = settings_.auth_timeout;
    limits.max_output = header_size + max_body;
    limits.timeout_option = "krb5_auth_timeout";
    auto finished_child = [this, id, name, what, done](Result<AsyncChildOutcome> outcome) {
        // The child is gone (exited or killed); its handle goes after this.
        auto it = running_.find(id);
        std::unique_ptr<AsyncChild> finished;
        if (it != running_.end()) {
            finished = std::move(it->second);
            running_.erase(it);
        }
        Krb5Answer answer;
        const pid_t pid = finished ? finished->pid() : -1;
        if (!outcome) {
            // A KDC that does not answer in time is as good as unreachable.
            answer.result = outcome.error().code == Errc::timeout ? ChildResult::kdc_unreachable
                                                                   : ChildResult::error;
            answer.message = "vigil_krb5_child (pid " + std::to_string(pid) + ") " + outcome.error().message;
        } else if (auto decoded = decode_answer(outcome->out); !decoded) {
            answer.result = ChildResult::error;
            answer.message = "vigil_krb5_child (exit status " + std::to_string(outcome->exit_code) +
                             (outcome->signal ? ", signal " + std::to_string(outcome->signal) : std::string()) +
                             "): " + decoded.error().message;
        } else {
            answer.result = decoded->result;
            answer.message = std::move(decoded->message);
            answer.ccname = std::move(decoded->ccname);
        }
        VLOG(info, "krb5 %s of %s: %s (%s)", what, name.c_str(), child_result_name(answer.result),
             answer.message.c_str());
        done(std::move(answer));
    };
    // The spare if it is still waiting (this login skips the spawn, the
    // exec and the loading); else a child of its own. A spare gone
    // meanwhile (killed, or it could not run) is reaped here.
    std::unique_ptr<AsyncChild> spare = std::move(spare_);
    Result<std::unique_ptr<AsyncChild>> child = std::unique_ptr<AsyncChild>();
    if (spare && spare->idle()) {
        Status st = spare->begin(std::move(message), limits, finished_child);
        if (st) child = std::move(spare);
        else child = std::move(st).error();
    } else {
        spare.reset();
        child = AsyncChild::start(loop_, child_argv(), std::move(message), limits, finished_child);
    }
    if (!child) {
        conclude_later({ChildResult::error, "cannot run vigil_krb5_child: " + child.error().message, {}},
                       std::move(done));
        return;
    }
    VLOG(trace, "krb5 %s of %s: vigil_krb5_child pid %d, ccache %s", what, name.c_str(),
         static_cast<int>((*child)->pid()), request.ccname.c_str());
    running_.emplace(id, std::move(*child));
    // The next login's spare, on the loop's next turn (this request is
    // written first): it loads while this child talks to the KDC.
    spare_timer_ = loop_.after(std::chrono::milliseconds(-1), [this] { keep_spare(); });
}

std::string Krb5Auth::child_krb5_config() const { return settings_.profile_path + ":" + settings_.base_config; }

std::vector<std::string> Krb5Auth::child_argv() const
{
    // --warm: the child makes its context (and loads libkrb5's plug-ins)
    // before the request comes, which a spare does ahead of the login.
    return {settings_.child_path, "--warm", child_krb5_config()};
}

void Krb5Auth::keep_spare()
{
    if (spare_ && spare_->idle()) return;
    spare_.reset();
    auto child = AsyncChild::prepare(loop_, child_argv());
    if (!child) {
        VLOG(error, "krb5: cannot start a spare vigil_krb5_child: %s", child.error().message.c_str());
        return;
    }
    spare_ = std::move(*child);
}

} // namespace vigil::krb5
