#include "policy/refresh.hpp"

#include "policy/install.hpp"
#include "policy/policy_entry.hpp"
#include "policy/policy_xml.hpp"
#include "policy/render.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace vigil::policy {

namespace {

constexpr const char *roles_source_name = "sudoRole";

std::string rendered_dir(const PolicySettings &s) { return s.state_dir + "/rendered"; }

std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = 1469598103934665603ULL)
{
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 1099511628211ULL;
    }
    return hash;
}

// What was last rendered for a type: the input's fingerprint (the merged
// document and the template) and when it was installed. The same input and
// an installed file equal to the copy kept means there is nothing to do:
// no render child, no visudo.
struct RenderedState {
    std::uint64_t input = 0;
    std::time_t installed_at = 0;
};

RenderedState read_state(const PolicySettings &s, std::string_view type)
{
    RenderedState state;
    auto text = read_text_file(rendered_dir(s) + "/" + std::string(type) + ".state", 256);
    if (!text) return state;
    unsigned long long input = 0;
    long long at = 0;
    if (std::sscanf(text->c_str(), "input %llx\ninstalled %lld", &input, &at) == 2) {
        state.input = input;
        state.installed_at = static_cast<std::time_t>(at);
    }
    return state;
}

Status write_state(const PolicySettings &s, std::string_view type, const RenderedState &state,
                   std::string_view rendered)
{
    const std::string dir = rendered_dir(s);
    if (auto made = make_dirs(dir, 0700); !made) return made;
    if (auto written = write_file_durably(dir, std::string(type), rendered, 0600); !written) return written;
    char text[96];
    std::snprintf(text, sizeof text, "input %016llx\ninstalled %lld\n", static_cast<unsigned long long>(state.input),
                  static_cast<long long>(state.installed_at));
    return write_file_durably(dir, std::string(type) + ".state", text, 0600);
}

struct Sources {
    std::vector<DocumentSource> documents;
    std::vector<std::string> described;
};

Result<Sources> sources_of(const PolicySettings &s, const PolicyType &type, const CacheIndex &index)
{
    PolicyStore store(s.cache_dir());
    Sources out;
    std::vector<std::pair<int, std::string>> order;
    for (const auto &d : index.documents) {
        if (d.type != type.name) continue;
        auto xml = store.read(d.type, d.file);
        if (!xml) return Error{xml.error().code, "policy '" + d.name + "' (" + d.dn + "): " + xml.error().message};
        out.documents.push_back(DocumentSource{d.name, d.priority, std::move(*xml)});
        out.described.push_back(std::to_string(d.priority) + " " + d.name + " (" + d.dn + ")");
        order.emplace_back(d.priority, d.name);
    }
    if (type.name == "sudo" && !index.roles_file.empty()) {
        auto xml = store.read("sudo", index.roles_file);
        if (!xml) return Error{xml.error().code, "the sudoRole entries: " + xml.error().message};
        out.documents.push_back(DocumentSource{roles_source_name, s.sudorole_priority, std::move(*xml)});
        out.described.push_back(std::to_string(s.sudorole_priority) + " " + roles_source_name + " (" +
                                std::to_string(index.roles.size()) + " sudoRole entries)");
        order.emplace_back(s.sudorole_priority, roles_source_name);
    }
    // Described in the order the merge writes them (doc/policy.md, "Merge rule").
    std::vector<std::size_t> by_merge(order.size());
    for (std::size_t i = 0; i < by_merge.size(); ++i) by_merge[i] = i;
    std::stable_sort(by_merge.begin(), by_merge.end(), [&](std::size_t a, std::size_t b) { return order[a] < order[b]; });
    std::vector<std::string> described;
    for (std::size_t i : by_merge) described.push_back(std::move(out.described[i]));
    out.described = std::move(described);
    return out;
}

Result<PolicyInstaller> installer_for(const PolicySettings &s, const PolicyType &type)
{
    return PolicyInstaller::create(target_for(type, s.target_path(type), s.backup_dir(type.name)));
}

// A check (visudo) names a line of the rendered file; the comment above
// each element says which policy wrote it: that name goes into the error.
std::string policy_at_fault(const std::string &message, const std::string &rendered)
{
    std::size_t mark = message.find(".vigil-");
    if (mark == std::string::npos) return {};
    std::size_t colon = message.find(':', mark);
    if (colon == std::string::npos) return {};
    char *end = nullptr;
    unsigned long line = std::strtoul(message.c_str() + colon + 1, &end, 10);
    if (end == message.c_str() + colon + 1 || *end != ':' || line == 0) return {};
    std::string found;
    std::size_t start = 0;
    for (unsigned long n = 1; n <= line && start < rendered.size(); ++n) {
        std::size_t stop = rendered.find('\n', start);
        if (stop == std::string::npos) stop = rendered.size();
        std::string_view text(rendered.data() + start, stop - start);
        std::size_t policy = text.rfind(" (policy ");
        if (text.starts_with("# ") && policy != std::string_view::npos) {
            std::string_view rest = text.substr(policy + 9);
            found = std::string(rest.substr(0, rest.find(", priority ")));
        }
        start = stop + 1;
    }
    return found;
}

// Merge, render and install one type from the cache.
TypeReport apply_type(const PolicySettings &s, const PolicyType &type, const CacheIndex &index)
{
    TypeReport report;
    report.type = std::string(type.name);
    report.target = s.target_path(type);
    RenderedState state = read_state(s, type.name);
    report.last_change = state.installed_at;
    auto fail = [&](const Error &error) {
        report.state = TypeState::failed;
        report.message = error.message;
        return report;
    };
    auto sources = sources_of(s, type, index);
    if (!sources) return fail(sources.error());
    report.documents = sources->described;
    if (is_held(s, type)) {
        report.state = TypeState::held;
        return report;
    }
    auto installer = installer_for(s, type);
    if (!installer) return fail(installer.error());
    // Nothing ever installed and nothing to install: the host's files stay untouched.
    if (sources->documents.empty() && !installer->has_original()) {
        report.state = TypeState::nothing_applies;
        return report;
    }
    // The input's fingerprint: every source (name, priority, bytes), the
    // schema and the template. Unchanged, with the installed file still what
    // was rendered last, there is nothing to merge, render or check.
    std::uint64_t input = fnv1a(type.name);
    for (const auto &d : sources->documents) {
        input = fnv1a(d.xml, fnv1a(std::to_string(d.priority) + '\n', fnv1a(d.name + '\n', input)));
    }
    for (auto file : {type.schema_file, type.template_file}) {
        auto text = read_text_file(data_path(s.pipeline.data_dir, file));
        if (!text) return fail(text.error());
        input = fnv1a(*text, input);
    }
    auto kept = read_text_file(rendered_dir(s) + "/" + std::string(type.name), max_document_bytes * 4);
    if (state.input == input && kept && installer->is_installed(*kept)) {
        report.state = TypeState::unchanged;
        return report;
    }
    auto merged = merge_sources(type, s.pipeline, sources->documents, std::nullopt);
    if (!merged) return fail(merged.error());
    RenderRequest request{
        .render_program = s.pipeline.render_program,
        .template_path = data_path(s.pipeline.data_dir, type.template_file),
        .schema_path = data_path(s.pipeline.data_dir, type.schema_file),
        .limits = s.pipeline.render_limits,
    };
    auto rendered = render_in_child(request, merged->xml);
    if (!rendered) return fail(rendered.error());
    auto outcome = installer->install(*rendered);
    if (!outcome) {
        std::string culprit = policy_at_fault(outcome.error().message, *rendered);
        if (culprit.empty()) return fail(outcome.error());
        return fail(Error{outcome.error().code, "policy '" + culprit + "': " + outcome.error().message});
    }
    report.state = *outcome == InstallOutcome::installed ? TypeState::installed : TypeState::unchanged;
    if (report.state == TypeState::installed || state.installed_at == 0) state.installed_at = std::time(nullptr);
    state.input = input;
    report.last_change = state.installed_at;
    if (auto written = write_state(s, type.name, state, *rendered); !written) {
        // The install stands; the next refresh renders again.
        report.message = "installed, but the rendered copy was not kept: " + written.error().message;
    }
    return report;
}

} // namespace

const char *type_state_name(TypeState state)
{
    switch (state) {
    case TypeState::installed: return "installed";
    case TypeState::unchanged: return "unchanged";
    case TypeState::nothing_applies: return "nothing applies";
    case TypeState::held: return "held after a rollback";
    case TypeState::failed: return "failed";
    }
    return "?";
}

Result<RefreshReport> apply_download(const PolicySettings &s, const Download &download, const CacheIndex &previous)
{
    RefreshReport report;
    PolicyStore store(s.cache_dir());
    const HostIdentity host{download.fqdn, download.group_dns};
    std::map<std::string, std::string> files;    // TYPE/FILE -> content
    std::map<std::string, Error> failed_types;   // type -> why
    CacheIndex &index = report.index;

    for (const ListedPolicy &listed : download.policies) {
        AttributeMap attributes = listed.attributes;
        const StoredDocument *cached = previous.find(listed.dn);
        if (!listed.fetched) {
            if (!cached) return Error{Errc::internal, "policy " + listed.dn + " neither downloaded nor cached"};
            auto xml = store.read(cached->type, cached->file);
            if (!xml) return Error{xml.error().code, "the cached document of " + listed.dn + ": " + xml.error().message};
            attributes["vigilPolicyDocument"] = {std::move(*xml)};
        }
        auto entry = policy_entry_from(listed.dn, attributes);
        if (!entry) {
            if (entry.error().code == Errc::not_found) {
                report.notes.push_back(entry.error().message + ": skipped (a type this vigil does not know)");
                continue;
            }
            // A refused entry fails its type: installing the others without
            // it could be less strict than what the directory says.
            auto type = attributes.find("vigilPolicyType");
            const PolicyType *known = type != attributes.end() && type->second.size() == 1
                                          ? find_type(type->second.front()) : nullptr;
            if (known) failed_types.emplace(std::string(known->name), entry.error());
            else report.notes.push_back(entry.error().message + ": skipped");
            continue;
        }
        if (!applies_to(*entry, host)) continue; // disabled, or not for this host: withdrawn
        StoredDocument stored{std::string(entry->type->name), listed.dn, entry->name, entry->priority, listed.stamp,
                              PolicyStore::file_for(entry->name, listed.dn, entry->document)};
        if (!cached || cached->file != stored.file || cached->type != stored.type) {
            files[stored.type + "/" + stored.file] = entry->document;
        }
        index.documents.push_back(std::move(stored));
    }

    if (!s.download.sudoroles) {
        // Not a source any more: nothing of it stays.
    } else if (!download.roles) {
        index.roles = previous.roles;
        index.roles_file = previous.roles_file;
    } else if (download.roles->empty()) {
        index.roles = download.role_stamps;
    } else {
        auto converted = convert_sudo_roles(*download.roles);
        if (converted) {
            for (auto &skipped : converted->skipped) report.notes.push_back("sudoRole " + skipped);
            std::string xml = serialize(converted->doc.get());
            index.roles_file = PolicyStore::file_for(roles_source_name, "sudoRole entries", xml);
            files["sudo/" + index.roles_file] = std::move(xml);
            index.roles = download.role_stamps;
        } else {
            // Kept as they were (so they are downloaded again next time);
            // the sudo type installs nothing this time.
            failed_types.emplace("sudo", converted.error());
            index.roles = previous.roles;
            index.roles_file = previous.roles_file;
        }
    }
    if (auto committed = store.commit(index, files); !committed) return std::move(committed).error();

    for (const PolicyType &type : all_types()) {
        auto failed = failed_types.find(std::string(type.name));
        if (failed == failed_types.end()) {
            report.types.push_back(apply_type(s, type, index));
            continue;
        }
        TypeReport t;
        t.type = std::string(type.name);
        t.target = s.target_path(type);
        t.state = TypeState::failed;
        t.message = failed->second.message;
        t.last_change = read_state(s, type.name).installed_at;
        if (auto sources = sources_of(s, type, index)) t.documents = sources->described;
        report.types.push_back(std::move(t));
    }
    return report;
}

RefreshReport apply_cache(const PolicySettings &s, const CacheIndex &index)
{
    RefreshReport report;
    report.index = index;
    for (const PolicyType &type : all_types()) report.types.push_back(apply_type(s, type, index));
    return report;
}

Result<std::string> render_from_cache(const PolicySettings &s, const PolicyType &type, const CacheIndex &index)
{
    auto sources = sources_of(s, type, index);
    if (!sources) return std::move(sources).error();
    return render_sources(type, s.pipeline, sources->documents, std::nullopt);
}

bool is_held(const PolicySettings &s, const PolicyType &type)
{
    struct stat st;
    return ::lstat(s.hold_path(type.name).c_str(), &st) == 0;
}

void release_holds(const PolicySettings &s)
{
    for (const PolicyType &type : all_types()) ::unlink(s.hold_path(type.name).c_str());
}

Status rollback_type(const PolicySettings &s, const PolicyType &type)
{
    auto installer = installer_for(s, type);
    if (!installer) return std::move(installer).error();
    if (!installer->has_original()) {
        return Error{Errc::not_found, installer->target().path + ": nothing installed by vigil, nothing to roll back"};
    }
    if (auto made = make_dirs(s.state_dir, 0700); !made) return made;
    // Held first: a refresh must not install again what is being rolled back.
    const bool was_held = is_held(s, type);
    if (auto held = write_file_durably(s.state_dir, "held-" + std::string(type.name), "held\n", 0600); !held) {
        return held;
    }
    if (auto rolled = installer->rollback(); !rolled) {
        // Not rolled back: refreshes go on installing what the directory says.
        if (!was_held) ::unlink(s.hold_path(type.name).c_str());
        return rolled;
    }
    // The next install renders again and keeps a new original.
    ::unlink((rendered_dir(s) + "/" + std::string(type.name) + ".state").c_str());
    return {};
}

} // namespace vigil::policy
