#include "policy/render.hpp"

namespace vigil::policy {

Result<std::string> render_in_child(const RenderRequest &request, std::string_view merged_xml)
{
    auto outcome = run_child({request.render_program, "--schema", request.schema_path, request.template_path},
                             merged_xml, request.limits);
    if (!outcome) {
        return Error{outcome.error().code, "rendering with " + request.template_path + ": " + outcome.error().message};
    }
    if (!outcome->succeeded()) {
        return Error{Errc::invalid_argument, "rendering with " + request.template_path + " failed: " + outcome->describe()};
    }
    return std::move(outcome->out);
}

} // namespace vigil::policy
