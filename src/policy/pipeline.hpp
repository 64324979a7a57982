// One refresh of one policy type, from documents to an installed file:
// read and validate every source, merge by priority, render in the child,
// install. Each step refuses bad input with an error naming the policy, and
// nothing is installed unless every step succeeded.
#pragma once

#include "policy/install.hpp"
#include "policy/policy_types.hpp"
#include "policy/render.hpp"
#include "policy/sudo_role.hpp"
#include "util/result.hpp"

#include <optional>
#include <string>
#include <vector>

namespace vigil::policy {

// A policy document as it came from the directory (or policy/cache/TYPE/).
struct DocumentSource {
    std::string name;
    int priority = 0;
    std::string xml;
};

// sudoRole entries, merged as one more source of the sudo type.
struct SudoRoleSource {
    std::string name = "sudoRole";
    int priority = 0;
    std::vector<SudoRole> roles;
};

struct PipelineSettings {
    std::string data_dir;          // holds TYPE.rng and TYPE.xsl
    std::string render_program;    // vigil_policy_render
    ChildLimits render_limits{};
};

struct MergedPolicy {
    std::string xml;                  // the merged document
    std::vector<std::string> notes;   // what was skipped, for the log
};

// Validates every source against the type's schema and merges them.
Result<MergedPolicy> merge_sources(const PolicyType &type, const PipelineSettings &settings,
                                   const std::vector<DocumentSource> &documents,
                                   const std::optional<SudoRoleSource> &roles);

// merge_sources, then the render child: the text that would be installed.
Result<std::string> render_sources(const PolicyType &type, const PipelineSettings &settings,
                                   const std::vector<DocumentSource> &documents,
                                   const std::optional<SudoRoleSource> &roles);

// The install target of `type` at `path` with its backups in `backup_dir`.
InstallTarget target_for(const PolicyType &type, const std::string &path, const std::string &backup_dir);

} // namespace vigil::policy
