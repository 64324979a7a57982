// Policy documents as libxml2 trees, read safely: no network, no entity
// expansion, no DTD at all, and a Relax NG check before anything else reads
// them (doc/policy.md). Every refusal says what was refused and where.
#pragma once

#include "util/result.hpp"

#include <memory>
#include <string>
#include <string_view>

#include <libxml/tree.h>
#include <libxml/relaxng.h>

namespace vigil::policy {

struct XmlDocFree { void operator()(xmlDoc *doc) const noexcept { xmlFreeDoc(doc); } };
using XmlDoc = std::unique_ptr<xmlDoc, XmlDocFree>;

// Larger policy documents are refused before parsing (a sudo policy of
// 10,000 rules is under 4 MiB).
inline constexpr std::size_t max_document_bytes = 16u << 20;

// Parses `text` (named `what` in errors, e.g. "policy 'web' (cn=web,...)").
// Refused: malformed XML, any DOCTYPE (so no entity can be declared, let
// alone expanded), more than max_document_bytes. Nothing is fetched: the
// parser runs with XML_PARSE_NONET and an entity loader that refuses all.
Result<XmlDoc> parse_document(std::string_view text, const std::string &what);

// The document serialized as UTF-8 XML (for the render child and caches).
std::string serialize(xmlDoc *doc);

// A compiled Relax NG schema, read from a file we ship (data/policy/TYPE.rng).
class Schema {
public:
    static Result<Schema> load(const std::string &path);

    // Validates `doc`; the error names `what`, the line and libxml2's reason.
    Status validate(xmlDoc *doc, const std::string &what) const;

private:
    struct Free { void operator()(xmlRelaxNG *schema) const noexcept { xmlRelaxNGFree(schema); } };
    explicit Schema(xmlRelaxNG *schema) : schema_(schema) {}
    std::unique_ptr<xmlRelaxNG, Free> schema_;
};

// Parse and validate in one step: what every reader of a policy does.
Result<XmlDoc> read_valid_document(std::string_view text, const Schema &schema, const std::string &what);

// Reads a whole (small) file: schemas, templates, documents in tests.
Result<std::string> read_text_file(const std::string &path, std::size_t max_bytes = max_document_bytes);

} // namespace vigil::policy
