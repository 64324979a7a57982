// ldap_auth_call: the provider's password bind and change (ldap_auth.hpp),
// driven from the command line so that the integration tests can run them
// against a real slapd and read what happened.
//
//   ldap_auth_call [OPTIONS] auth DN     stdin: the password
//   ldap_auth_call [OPTIONS] change DN   stdin: the old password, then the new one
//   ldap_auth_call [OPTIONS] reset DN    stdin: [the --bind-dn password,] the new one
//
//   --config FILE --domain NAME   settings from a vigil.conf ([domain/NAME])
//   or: --uri URI (repeatable) --chpass-uri URI --cacert FILE --reqcert never|demand|hard
//       --starttls --no-tls-ok (ldap_auth_disable_tls_never_use_in_production)
//       --bind-dn DN --network-timeout S --opt-timeout S
//   --debug N                     log level (to stderr; 9 logs everything)
//   --parallel N                  auth only: N authentications at once (one outcome line each)
// Prints "outcome NAME", "message TEXT" and "elapsed_ms N"; exit status 0
// for ok, 1 for any other outcome, 2 for a usage or configuration error.
#include "providers/ldap/ldap_auth.hpp"
#include "util/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

using namespace vigil;
using namespace vigil::ldap;

namespace {

int usage()
{
    std::fprintf(stderr, "usage: ldap_auth_call [OPTIONS] auth|change|reset DN (see the source)\n");
    return 2;
}

Secret read_secret()
{
    std::string line;
    std::getline(std::cin, line);
    Secret s(line);
    explicit_bzero(line.data(), line.size());
    return s;
}

} // namespace

int main(int argc, char **argv)
{
    log::set_identity("ldap_auth_call", "");
    log::to_stderr();
    log::set_level(2);
    AuthSettings settings;
    settings.ldap.network_timeout = std::chrono::seconds(3);
    settings.ldap.opt_timeout = std::chrono::seconds(3);
    std::string config_path, domain;
    int parallel = 1;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) std::exit(usage());
            return argv[++i];
        };
        if (a == "--config") config_path = next();
        else if (a == "--domain") domain = next();
        else if (a == "--uri") settings.ldap.uris.push_back(next());
        else if (a == "--chpass-uri") settings.chpass_uris.push_back(next());
        else if (a == "--cacert") settings.ldap.tls_cacert = next();
        else if (a == "--reqcert") {
            std::string v = next();
            settings.ldap.tls_reqcert = v == "never" ? ReqCert::never : v == "demand" ? ReqCert::demand : ReqCert::hard;
        } else if (a == "--starttls") settings.ldap.start_tls = true;
        else if (a == "--no-tls-ok") settings.allow_without_tls = true;
        else if (a == "--bind-dn") settings.ldap.bind_dn = next();
        else if (a == "--network-timeout") settings.ldap.network_timeout = std::chrono::seconds(std::atoi(next().c_str()));
        else if (a == "--opt-timeout") settings.ldap.opt_timeout = std::chrono::seconds(std::atoi(next().c_str()));
        else if (a == "--debug") log::set_level(std::atoi(next().c_str()));
        else if (a == "--parallel") parallel = std::atoi(next().c_str());
        else positional.push_back(a);
    }
    if (positional.size() != 2) return usage();
    const std::string &command = positional[0];
    const std::string &dn = positional[1];
    if (!config_path.empty()) {
        auto config = read_config(config_path);
        if (!config) {
            std::printf("config error: %s\n", config.error().message.c_str());
            return 2;
        }
        auto s = AuthSettings::from_config(*config, domain);
        if (!s) {
            std::printf("config error: %s\n", s.error().message.c_str());
            return 2;
        }
        settings = std::move(*s);
    } else if (command == "reset" && !settings.ldap.bind_dn.empty()) {
        settings.ldap.bind_password = read_secret();
    }

    auto loop = EventLoop::create();
    if (!loop) return 2;
    PasswordAuth auth(**loop, settings);
    std::string outcome, message;
    bool ok = true;
    int waiting = 1;
    const auto started = EventLoop::now();
    auto on_auth = [&](AuthAnswer a) {
        if (!outcome.empty()) std::printf("outcome %s\n", outcome.c_str()); // an earlier one of --parallel
        outcome = auth_outcome_name(a.outcome);
        message = a.message;
        ok = ok && a.outcome == AuthOutcome::ok;
        if (--waiting == 0) (*loop)->quit(0);
    };
    auto on_change = [&](ChangeAnswer c) {
        outcome = change_outcome_name(c.outcome);
        message = c.message;
        ok = c.outcome == ChangeOutcome::ok;
        (*loop)->quit(0);
    };
    if (command == "auth") {
        Secret password = read_secret();
        waiting = parallel;
        for (int i = 0; i < parallel; ++i) auth.authenticate(dn, password, on_auth);
    } else if (command == "change") {
        Secret old_password = read_secret();
        auth.change_password(dn, std::move(old_password), read_secret(), on_change);
    } else if (command == "reset") {
        auth.reset_password(dn, read_secret(), on_change);
    } else {
        return usage();
    }
    (*loop)->run();
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(EventLoop::now() - started);
    std::printf("outcome %s\nmessage %s\nelapsed_ms %lld\n", outcome.c_str(), message.c_str(),
                static_cast<long long>(elapsed.count()));
    std::fflush(stdout);
    wait_for_connection_workers(std::chrono::milliseconds(100));
    return ok ? 0 : 1;
}
