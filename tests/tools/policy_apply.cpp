// Drives the policy pipeline from the command line for the integration
// tests (the daemon that does this on its own comes later):
//   policy_apply render  [options] NAME:PRIORITY:FILE...   rendered text on stdout
//   policy_apply merge   [options] NAME:PRIORITY:FILE...   merged XML on stdout
//   policy_apply install [options] NAME:PRIORITY:FILE...   render, then install --target
//   policy_apply rollback --target PATH --backup-dir DIR
// options: --data-dir DIR --render-program PATH --target PATH --backup-dir DIR
//          --check "PROG ARGS" (default: the type's) --sudoroles LDIF:PRIORITY
// Exit status 0 on success, 1 with one line on stderr otherwise.
#include "policy/pipeline.hpp"
#include "policy/policy_xml.hpp"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace vigil;
using namespace vigil::policy;

namespace {

int fail(const std::string &message)
{
    std::fprintf(stderr, "policy_apply: %s\n", message.c_str());
    return 1;
}

// sudoRole entries from plain LDIF (no base64, no change records).
Result<std::vector<SudoRole>> read_roles(const std::string &path)
{
    auto text = read_text_file(path);
    if (!text) return std::move(text).error();
    std::vector<SudoRole> roles;
    SudoRole current;
    std::size_t start = 0;
    auto flush = [&]() {
        if (!current.attributes.empty()) {
            auto cn = current.attributes.find("cn");
            current.name = cn == current.attributes.end() ? "" : cn->second.front();
            roles.push_back(std::move(current));
        }
        current = SudoRole{};
    };
    std::string line;
    auto take = [&](const std::string &whole) -> Status {
        if (whole.empty()) return {};
        std::size_t colon = whole.find(':');
        if (colon == std::string::npos) return Error{Errc::invalid_argument, path + ": bad line '" + whole + "'"};
        std::string attribute = whole.substr(0, colon);
        if (colon + 1 < whole.size() && whole[colon + 1] == ':') {
            return Error{Errc::invalid_argument, path + ": base64 values are not supported"};
        }
        std::string value = whole.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (attribute != "dn") current.attributes[attribute].push_back(value);
        return {};
    };
    while (start <= text->size()) {
        std::size_t end = text->find('\n', start);
        if (end == std::string::npos) end = text->size();
        std::string raw = text->substr(start, end - start);
        start = end + 1;
        if (!raw.empty() && raw.front() == ' ') {
            line += raw.substr(1);
            continue;
        }
        if (auto taken = take(line); !taken) return std::move(taken).error();
        line.clear();
        if (!raw.empty() && raw.front() == '#') continue;
        if (raw.empty()) {
            flush();
            continue;
        }
        line = raw;
    }
    if (auto taken = take(line); !taken) return std::move(taken).error();
    flush();
    return roles;
}

bool split_source(const std::string &arg, std::string &name, int &priority, std::string &file)
{
    std::size_t first = arg.find(':');
    std::size_t second = first == std::string::npos ? first : arg.find(':', first + 1);
    if (second == std::string::npos) return false;
    name = arg.substr(0, first);
    priority = std::atoi(arg.substr(first + 1, second - first - 1).c_str());
    file = arg.substr(second + 1);
    return true;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2) return fail("usage: policy_apply render|merge|install|rollback [options] NAME:PRIORITY:FILE...");
    const std::string command = argv[1];
    PipelineSettings settings;
    std::string target_path, backup_dir, check, roles_arg;
    bool check_set = false;
    std::vector<DocumentSource> documents;
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (arg == "--data-dir") settings.data_dir = value();
        else if (arg == "--render-program") settings.render_program = value();
        else if (arg == "--target") target_path = value();
        else if (arg == "--backup-dir") backup_dir = value();
        else if (arg == "--check") { check = value(); check_set = true; }
        else if (arg == "--sudoroles") roles_arg = value();
        else {
            DocumentSource source;
            std::string file;
            if (!split_source(arg, source.name, source.priority, file)) return fail("bad source '" + arg + "'");
            auto text = read_text_file(file);
            if (!text) return fail(text.error().message);
            source.xml = std::move(*text);
            documents.push_back(std::move(source));
        }
    }
    const PolicyType &type = *find_type("sudo");
    std::optional<SudoRoleSource> roles;
    if (!roles_arg.empty()) {
        std::size_t colon = roles_arg.rfind(':');
        if (colon == std::string::npos) return fail("--sudoroles wants LDIF:PRIORITY");
        auto read = read_roles(roles_arg.substr(0, colon));
        if (!read) return fail(read.error().message);
        roles = SudoRoleSource{"sudoRole", std::atoi(roles_arg.substr(colon + 1).c_str()), std::move(*read)};
    }

    if (command == "merge") {
        auto merged = merge_sources(type, settings, documents, roles);
        if (!merged) return fail(merged.error().message);
        std::fwrite(merged->xml.data(), 1, merged->xml.size(), stdout);
        return 0;
    }
    InstallTarget target = target_for(type, target_path, backup_dir);
    if (check_set) target.check_command = split_command(check);
    auto installer = PolicyInstaller::create(target);
    if (command == "rollback") {
        if (!installer) return fail(installer.error().message);
        auto rolled = installer->rollback();
        return rolled ? 0 : fail(rolled.error().message);
    }
    auto rendered = render_sources(type, settings, documents, roles);
    if (!rendered) return fail(rendered.error().message);
    if (command == "render") {
        std::fwrite(rendered->data(), 1, rendered->size(), stdout);
        return 0;
    }
    if (command != "install") return fail("unknown command '" + command + "'");
    if (!installer) return fail(installer.error().message);
    auto installed = installer->install(*rendered);
    if (!installed) return fail(installed.error().message);
    std::printf("%s\n", *installed == InstallOutcome::installed ? "installed" : "unchanged");
    return 0;
}
