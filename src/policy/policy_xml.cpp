#include "policy/policy_xml.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

namespace vigil::policy {

namespace {

// Nothing a policy or schema names is ever fetched, file or URL: the
// parser options forbid the network, this forbids the rest.
// libxml2 reports the failed load itself ("failed to load external entity").
xmlParserInputPtr refuse_external_entity(const char *, const char *, xmlParserCtxtPtr)
{
    return nullptr;
}

void init_libxml_once()
{
    static std::once_flag once;
    std::call_once(once, [] {
        xmlInitParser();
        xmlSetExternalEntityLoader(refuse_external_entity);
    });
}

std::string trimmed(const char *message)
{
    std::string text = message ? message : "unknown error";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

// Parser state reached from the SAX hook below.
struct ParseGuard {
    bool doctype_seen = false;
};

// Called when "<!DOCTYPE" is read, before its internal subset: stopping
// here means no entity declaration is ever processed.
void refuse_doctype(void *user_data, const xmlChar *, const xmlChar *, const xmlChar *)
{
    auto *ctxt = static_cast<xmlParserCtxtPtr>(user_data);
    static_cast<ParseGuard *>(ctxt->_private)->doctype_seen = true;
    xmlStopParser(ctxt);
}

// The first structured error libxml2 reports, with its line.
struct FirstError {
    std::string message;
    int line = 0;
    std::string node;
    std::string owner;   // name= of the nearest element that has one (the rule)
    bool owner_is_node = false;
    bool set = false;
};

void keep_first_error(void *data, xmlErrorPtr error)
{
    auto *first = static_cast<FirstError *>(data);
    if (first->set || error == nullptr) return;
    first->set = true;
    first->message = trimmed(error->message);
    first->line = error->line;
    if (error->node != nullptr) {
        auto *node = static_cast<xmlNodePtr>(error->node);
        if (node->name != nullptr) first->node = reinterpret_cast<const char *>(node->name);
        if (first->line == 0) first->line = static_cast<int>(xmlGetLineNo(node));
        for (xmlNodePtr up = node; up != nullptr && up->type == XML_ELEMENT_NODE; up = up->parent) {
            if (xmlChar *name = xmlGetProp(up, reinterpret_cast<const xmlChar *>("name"))) {
                first->owner = std::string(reinterpret_cast<const char *>(up->name)) + " '" +
                               reinterpret_cast<const char *>(name) + "'";
                xmlFree(name);
                first->owner_is_node = up == node;
                break;
            }
        }
    }
}

} // namespace

Result<XmlDoc> parse_document(std::string_view text, const std::string &what)
{
    init_libxml_once();
    if (text.size() > max_document_bytes) {
        return Error{Errc::invalid_argument, what + ": document of " + std::to_string(text.size()) +
                                                 " bytes is larger than the limit of " +
                                                 std::to_string(max_document_bytes)};
    }
    std::unique_ptr<xmlParserCtxt, decltype(&xmlFreeParserCtxt)> ctxt(xmlNewParserCtxt(), xmlFreeParserCtxt);
    if (!ctxt) return Error{Errc::internal, what + ": cannot allocate an XML parser"};
    ParseGuard guard;
    ctxt->_private = &guard;
    ctxt->sax->internalSubset = refuse_doctype;
    // Deliberately absent: XML_PARSE_NOENT (entity expansion), XML_PARSE_DTDLOAD,
    // XML_PARSE_DTDATTR, XML_PARSE_DTDVALID, XML_PARSE_HUGE (lifts size limits).
    const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
    XmlDoc doc(xmlCtxtReadMemory(ctxt.get(), text.data(), static_cast<int>(text.size()), nullptr, "UTF-8", options));
    if (guard.doctype_seen) {
        return Error{Errc::invalid_argument, what + ": a DOCTYPE is not allowed in a policy document "
                                                    "(no DTD, no entities)"};
    }
    if (!doc || !ctxt->wellFormed) {
        const xmlError *error = xmlCtxtGetLastError(ctxt.get());
        std::string reason = error ? trimmed(error->message) : "not well-formed";
        int line = error ? error->line : 0;
        return Error{Errc::invalid_argument,
                     what + ": malformed XML" + (line > 0 ? " at line " + std::to_string(line) : "") + ": " + reason};
    }
    if (doc->intSubset != nullptr || doc->extSubset != nullptr) {
        return Error{Errc::invalid_argument, what + ": a DOCTYPE is not allowed in a policy document"};
    }
    return doc;
}

std::string serialize(xmlDoc *doc)
{
    xmlChar *buffer = nullptr;
    int size = 0;
    xmlDocDumpMemoryEnc(doc, &buffer, &size, "UTF-8");
    std::string out(reinterpret_cast<const char *>(buffer), buffer ? static_cast<std::size_t>(size) : 0);
    xmlFree(buffer);
    return out;
}

Result<Schema> Schema::load(const std::string &path)
{
    init_libxml_once();
    auto text = read_text_file(path);
    if (!text) return std::move(text).error();
    std::unique_ptr<xmlRelaxNGParserCtxt, decltype(&xmlRelaxNGFreeParserCtxt)> ctxt(
        xmlRelaxNGNewMemParserCtxt(text->data(), static_cast<int>(text->size())), xmlRelaxNGFreeParserCtxt);
    if (!ctxt) return Error{Errc::internal, "schema " + path + ": cannot allocate a Relax NG parser"};
    FirstError first;
    xmlRelaxNGSetParserStructuredErrors(ctxt.get(), keep_first_error, &first);
    xmlRelaxNG *schema = xmlRelaxNGParse(ctxt.get());
    if (schema == nullptr) {
        return Error{Errc::invalid_config, "schema " + path + ": not a usable Relax NG schema" +
                                               (first.set ? ": " + first.message : std::string())};
    }
    return Schema(schema);
}

Status Schema::validate(xmlDoc *doc, const std::string &what) const
{
    std::unique_ptr<xmlRelaxNGValidCtxt, decltype(&xmlRelaxNGFreeValidCtxt)> ctxt(
        xmlRelaxNGNewValidCtxt(schema_.get()), xmlRelaxNGFreeValidCtxt);
    if (!ctxt) return Error{Errc::internal, what + ": cannot allocate a Relax NG validator"};
    FirstError first;
    xmlRelaxNGSetValidStructuredErrors(ctxt.get(), keep_first_error, &first);
    int rc = xmlRelaxNGValidateDoc(ctxt.get(), doc);
    if (rc == 0) return {};
    std::string where;
    if (first.line > 0) where += " at line " + std::to_string(first.line);
    if (first.owner_is_node) {
        where += " (" + first.owner + ")";
    } else if (!first.node.empty()) {
        where += " (element " + first.node + (first.owner.empty() ? "" : " in " + first.owner) + ")";
    }
    return Error{Errc::invalid_argument, what + ": does not match the policy schema" + where + ": " +
                                             (first.set ? first.message : "validation failed")};
}

Result<XmlDoc> read_valid_document(std::string_view text, const Schema &schema, const std::string &what)
{
    auto doc = parse_document(text, what);
    if (!doc) return doc;
    if (auto valid = schema.validate(doc->get(), what); !valid) return std::move(valid).error();
    return doc;
}

Result<std::string> read_text_file(const std::string &path, std::size_t max_bytes)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sys_error("open " + path, errno);
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int saved = errno;
            ::close(fd);
            return sys_error("read " + path, saved);
        }
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > max_bytes) {
            ::close(fd);
            return Error{Errc::invalid_argument, path + ": larger than " + std::to_string(max_bytes) + " bytes"};
        }
    }
    ::close(fd);
    return text;
}

} // namespace vigil::policy
