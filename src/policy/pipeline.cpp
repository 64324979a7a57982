#include "policy/pipeline.hpp"

#include "policy/policy_merge.hpp"

namespace vigil::policy {

Result<MergedPolicy> merge_sources(const PolicyType &type, const PipelineSettings &settings,
                                   const std::vector<DocumentSource> &documents,
                                   const std::optional<SudoRoleSource> &roles)
{
    auto schema = Schema::load(data_path(settings.data_dir, type.schema_file));
    if (!schema) return std::move(schema).error();
    MergedPolicy merged;
    std::vector<PolicySource> sources;
    for (const auto &document : documents) {
        auto doc = read_valid_document(document.xml, *schema, "policy '" + document.name + "'");
        if (!doc) return std::move(doc).error();
        sources.push_back(PolicySource{document.name, document.priority, std::move(*doc)});
    }
    if (roles) {
        if (type.name != "sudo") {
            return Error{Errc::invalid_argument, "sudoRole entries are a source of the sudo type only"};
        }
        auto converted = convert_sudo_roles(roles->roles);
        if (!converted) return std::move(converted).error();
        const std::string what = "policy '" + roles->name + "' (sudoRole entries)";
        if (auto valid = schema->validate(converted->doc.get(), what); !valid) return std::move(valid).error();
        merged.notes = std::move(converted->skipped);
        sources.push_back(PolicySource{roles->name, roles->priority, std::move(converted->doc)});
    }
    auto doc = merge_by_priority(std::string(type.name), std::move(sources));
    if (!doc) return std::move(doc).error();
    if (auto valid = schema->validate(doc->get(), "merged " + std::string(type.name) + " policy"); !valid) {
        return std::move(valid).error();
    }
    merged.xml = serialize(doc->get());
    return merged;
}

Result<std::string> render_sources(const PolicyType &type, const PipelineSettings &settings,
                                   const std::vector<DocumentSource> &documents,
                                   const std::optional<SudoRoleSource> &roles)
{
    auto merged = merge_sources(type, settings, documents, roles);
    if (!merged) return std::move(merged).error();
    RenderRequest request{
        .render_program = settings.render_program,
        .template_path = data_path(settings.data_dir, type.template_file),
        .schema_path = data_path(settings.data_dir, type.schema_file),
        .limits = settings.render_limits,
    };
    return render_in_child(request, merged->xml);
}

InstallTarget target_for(const PolicyType &type, const std::string &path, const std::string &backup_dir)
{
    return InstallTarget{
        .path = path,
        .backup_dir = backup_dir,
        .forbidden_name_chars = std::string(type.forbidden_name_chars),
        .check_command = split_command(type.check_command),
    };
}

} // namespace vigil::policy
