// Rendering a merged policy with its type's XSLT template, in a child
// process (vigil_policy_render): a template bug or a libxslt flaw costs a
// child, never the daemon, and the child runs with file writes and every
// load forbidden (see render_child.cpp).
#pragma once

#include "policy/child_process.hpp"
#include "util/result.hpp"

#include <string>
#include <string_view>

namespace vigil::policy {

struct RenderRequest {
    std::string render_program;   // $libexecdir/vigil/vigil_policy_render
    std::string template_path;    // data/policy/TYPE.xsl
    std::string schema_path;      // data/policy/TYPE.rng: the child checks its input again
    ChildLimits limits{};
};

// The rendered text, or an error naming the template and the child's reason.
// Blocks until the child exits (bounded by limits.timeout): call it from a
// worker or a child, never on an event loop.
Result<std::string> render_in_child(const RenderRequest &request, std::string_view merged_xml);

} // namespace vigil::policy
