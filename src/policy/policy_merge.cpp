#include "policy/policy_merge.hpp"

#include <algorithm>

namespace vigil::policy {

namespace {

const xmlChar *xml(const char *text) { return reinterpret_cast<const xmlChar *>(text); }

} // namespace

Status order_sources(std::vector<PolicySource> &sources)
{
    std::sort(sources.begin(), sources.end(), [](const PolicySource &a, const PolicySource &b) {
        if (a.priority != b.priority) return a.priority < b.priority;
        return a.name < b.name;
    });
    for (std::size_t i = 1; i < sources.size(); ++i) {
        if (sources[i].name == sources[i - 1].name) {
            return Error{Errc::invalid_argument, "two policies are named '" + sources[i].name +
                                                     "': the merge order would be undefined"};
        }
    }
    return {};
}

Result<XmlDoc> merge_by_priority(const std::string &type, std::vector<PolicySource> sources)
{
    if (auto ordered = order_sources(sources); !ordered) return std::move(ordered).error();
    XmlDoc merged(xmlNewDoc(xml("1.0")));
    if (!merged) return Error{Errc::internal, "merge: cannot allocate a document"};
    xmlNodePtr root = xmlNewDocNode(merged.get(), nullptr, xml("policy"), nullptr);
    xmlDocSetRootElement(merged.get(), root);
    xmlNewProp(root, xml("type"), xml(type.c_str()));
    xmlNewProp(root, xml("version"), xml("1"));

    for (const auto &source : sources) {
        xmlNodePtr source_root = xmlDocGetRootElement(source.doc.get());
        if (source_root == nullptr) return Error{Errc::invalid_argument, "policy '" + source.name + "' is empty"};
        const std::string priority = std::to_string(source.priority);
        for (xmlNodePtr child = source_root->children; child != nullptr; child = child->next) {
            if (child->type != XML_ELEMENT_NODE) continue;
            xmlNodePtr copy = xmlDocCopyNode(child, merged.get(), 1);
            if (copy == nullptr) return Error{Errc::internal, "merge: cannot copy an element of '" + source.name + "'"};
            xmlSetProp(copy, xml("source"), xml(source.name.c_str()));
            xmlSetProp(copy, xml("priority"), xml(priority.c_str()));
            xmlAddChild(root, copy);
        }
    }
    return merged;
}

} // namespace vigil::policy
