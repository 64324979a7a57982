// ldap_search: the provider's LDAP connection code, driven from the command
// line so that the integration tests can point it at a real slapd (or at a
// server that misbehaves) and read what it did.
//
//   ldap_search [OPTIONS] URI BASE FILTER
//     --cacert FILE --reqcert never|allow|try|demand|hard --starttls
//     --bind-dn DN (password on stdin, first line)   --page-size N
//     --network-timeout S --opt-timeout S --search-timeout S
//     --attrs a,b,c      --parallel N (N copies of the search at once)
//     --equality CLASS ATTR VALUE (FILTER built with escaping; pass "" as FILTER)
//     --then-wait        (after the search, wait for a line on stdin, search again)
//     --max-entries N    (SearchSpec::max_entries)
//     --values           (after the DNs, each entry's attributes: "DN\tNAME\tVALUE", bytes
//                         outside printable ASCII as \xHH)
// Prints "pages N", "entries N", then the DNs sorted; errors as
// "error ERRC: message" with exit status 1.
#include "providers/ldap/ldap_conn.hpp"
#include "providers/ldap/ldap_filter.hpp"
#include "util/log.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

using namespace vigil;
using namespace vigil::ldap;

namespace {

int usage()
{
    std::fprintf(stderr, "usage: ldap_search [OPTIONS] URI BASE FILTER (see the source)\n");
    return 2;
}

std::vector<std::string> split(const std::string &s, char sep)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t end = s.find(sep, start);
        if (end == std::string::npos) end = s.size();
        if (end > start) out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

bool show_values = false;

std::string escaped(const std::string &v)
{
    std::string out;
    for (unsigned char c : v) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    return out;
}

bool print_result(const Result<SearchResult> &r)
{
    if (!r) {
        std::printf("error %s: %s\n", errc_name(r.error().code), r.error().message.c_str());
        return false;
    }
    std::vector<std::string> dns;
    for (const LdapEntry &e : r->entries) dns.push_back(e.dn);
    std::sort(dns.begin(), dns.end());
    std::printf("pages %d\nentries %zu\n", r->pages, dns.size());
    for (const std::string &dn : dns) std::printf("%s\n", dn.c_str());
    if (show_values)
        for (const LdapEntry &e : r->entries)
            for (const auto &[name, values] : e.attributes)
                for (const std::string &v : values)
                    std::printf("%s\t%s\t%s\n", escaped(e.dn).c_str(), escaped(name).c_str(), escaped(v).c_str());
    return true;
}

} // namespace

int main(int argc, char **argv)
{
    log::set_identity("ldap_search", "");
    log::set_level(2);
    LdapSettings settings;
    settings.network_timeout = std::chrono::seconds(3);
    settings.opt_timeout = std::chrono::seconds(3);
    settings.search_timeout = std::chrono::seconds(10);
    SearchSpec spec;
    spec.what = "the test search";
    int parallel = 1;
    bool then_wait = false;
    std::vector<std::string> equality;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) std::exit(usage());
            return argv[++i];
        };
        if (a == "--cacert") settings.tls_cacert = next();
        else if (a == "--reqcert") {
            std::string v = next();
            settings.tls_reqcert = v == "never" ? ReqCert::never : v == "allow" ? ReqCert::allow
                                 : v == "try" ? ReqCert::try_ : v == "demand" ? ReqCert::demand : ReqCert::hard;
        } else if (a == "--starttls") settings.start_tls = true;
        else if (a == "--bind-dn") settings.bind_dn = next();
        else if (a == "--page-size") settings.page_size = std::atoi(next().c_str());
        else if (a == "--network-timeout") settings.network_timeout = std::chrono::seconds(std::atoi(next().c_str()));
        else if (a == "--opt-timeout") settings.opt_timeout = std::chrono::seconds(std::atoi(next().c_str()));
        else if (a == "--search-timeout") settings.search_timeout = std::chrono::seconds(std::atoi(next().c_str()));
        else if (a == "--attrs") spec.attributes = split(next(), ',');
        else if (a == "--parallel") parallel = std::atoi(next().c_str());
        else if (a == "--then-wait") then_wait = true;
        else if (a == "--values") show_values = true;
        else if (a == "--max-entries") spec.max_entries = static_cast<std::size_t>(std::atol(next().c_str()));
        else if (a == "--equality") {
            for (int k = 0; k < 3; ++k) equality.push_back(next());
        } else positional.push_back(a);
    }
    if (positional.size() != 3) return usage();
    if (!settings.bind_dn.empty()) {
        std::string line;
        std::getline(std::cin, line);
        settings.bind_password = Secret(line);
    }
    spec.base = positional[1];
    spec.filter = equality.empty() ? positional[2] : equality_filter(equality[0], equality[1], equality[2]);
    if (!equality.empty()) std::printf("filter %s\n", spec.filter.c_str());

    auto loop = EventLoop::create();
    if (!loop) return 1;
    Connector::Done on_connected;
    std::shared_ptr<LdapConnection> conn;
    std::vector<SearchHandle> handles;
    int waiting = 0;
    bool ok = true;
    std::function<void()> run_searches = [&] {
        for (int i = 0; i < parallel; ++i) {
            auto h = conn->search(spec, [&](Result<SearchResult> r) {
                ok = print_result(r) && ok;
                if (--waiting > 0) return;
                if (!then_wait) {
                    (*loop)->quit(0);
                    return;
                }
                then_wait = false;
                std::string line;
                std::printf("waiting\n");
                std::fflush(stdout);
                std::getline(std::cin, line);
                // The server may be gone by now: learn it from the connection.
                run_searches();
            });
            if (!h) {
                ok = print_result(std::move(h).error());
                (*loop)->quit(0);
                return;
            }
            handles.push_back(std::move(*h));
            ++waiting;
        }
    };
    auto connector = Connector::start(**loop, settings, positional[0], [&](Result<Connected> c) {
        if (!c) {
            std::printf("error %s: %s\n", errc_name(c.error().code), c.error().message.c_str());
            ok = false;
            (*loop)->quit(0);
            return;
        }
        std::printf("paging %s\n", c->info.supports_paging ? "yes" : "no");
        auto adopted = LdapConnection::adopt(**loop, std::move(*c), positional[0], settings);
        if (!adopted) {
            ok = false;
            (*loop)->quit(0);
            return;
        }
        conn = *adopted;
        run_searches();
    });
    if (!connector) {
        std::printf("error %s: %s\n", errc_name(connector.error().code), connector.error().message.c_str());
        return 1;
    }
    (*loop)->run();
    handles.clear();
    conn.reset();
    std::fflush(stdout);
    return ok ? 0 : 1;
}
