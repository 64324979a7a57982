// vigil_policy_render: renders one merged policy document with an XSLT
// template. Usage: vigil_policy_render --schema TYPE.rng TEMPLATE.xsl
// The document comes on stdin, the rendered text goes to stdout; on any
// error, one line on stderr and exit status 1 (2 for bad usage).
//
// The template may read nothing and write nothing: libxslt's security
// preferences forbid file and network access and directory creation, the
// document loader refuses every load (document(), xsl:include, xsl:import),
// the XML parser fetches nothing, and RLIMIT_FSIZE 0 stops any file write
// that got past all that. Any diagnostic from the template fails the render.
#include "policy/policy_xml.hpp"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxslt/documents.h>
#include <libxslt/security.h>
#include <libxslt/transform.h>
#include <libxslt/xslt.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/xsltutils.h>

using namespace vigil;
using namespace vigil::policy;

namespace {

constexpr rlim_t cpu_seconds = 20;

// Everything libxslt and libxml2 report while compiling and transforming.
std::string diagnostics;

__attribute__((format(printf, 2, 3))) void collect_diagnostic(void *, const char *format, ...)
{
    char buffer[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    diagnostics += buffer;
}

// Records what the template tried and stops the transformation.
int refuse_access(xsltSecurityPrefsPtr, xsltTransformContextPtr ctxt, const char *value)
{
    diagnostics += std::string("template tried to access '") + (value ? value : "") + "': refused\n";
    if (ctxt != nullptr) ctxt->state = XSLT_STATE_STOPPED;
    return 0;
}

xmlDocPtr refuse_load(const xmlChar *uri, xmlDictPtr, int, void *, xsltLoadType)
{
    diagnostics += std::string("template tried to load '") + reinterpret_cast<const char *>(uri) + "': refused\n";
    return nullptr;
}

Result<std::string> read_stdin()
{
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(0, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("read stdin", errno);
        if (n == 0) return text;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > max_document_bytes) {
            return Error{Errc::invalid_argument, "input larger than " + std::to_string(max_document_bytes) + " bytes"};
        }
    }
}

std::string first_line(const std::string &text)
{
    std::string line = text.substr(0, text.find('\n'));
    return line.empty() ? "unknown error" : line;
}

struct Prefs {
    xsltSecurityPrefsPtr prefs = xsltNewSecurityPrefs();
    ~Prefs() { xsltFreeSecurityPrefs(prefs); }
};

Status forbid_everything(xsltSecurityPrefsPtr prefs)
{
    for (auto option : {XSLT_SECPREF_READ_FILE, XSLT_SECPREF_WRITE_FILE, XSLT_SECPREF_CREATE_DIRECTORY,
                        XSLT_SECPREF_READ_NETWORK, XSLT_SECPREF_WRITE_NETWORK}) {
        if (xsltSetSecurityPrefs(prefs, option, refuse_access) != 0) {
            return Error{Errc::internal, "cannot set libxslt security preferences"};
        }
    }
    return {};
}

Result<std::string> render(const std::string &schema_path, const std::string &template_path)
{
    auto schema = Schema::load(schema_path);
    if (!schema) return std::move(schema).error();
    auto input = read_stdin();
    if (!input) return std::move(input).error();
    auto doc = read_valid_document(*input, *schema, "merged policy");
    if (!doc) return std::move(doc).error();

    Prefs prefs;
    if (prefs.prefs == nullptr) return Error{Errc::internal, "cannot allocate libxslt security preferences"};
    if (auto forbidden = forbid_everything(prefs.prefs); !forbidden) return std::move(forbidden).error();
    // Compilation (xsl:include, xsl:import) uses the defaults, transformation the context's.
    xsltSetDefaultSecurityPrefs(prefs.prefs);
    xsltSetLoaderFunc(refuse_load);
    xsltSetGenericErrorFunc(nullptr, collect_diagnostic);
    xmlSetGenericErrorFunc(nullptr, collect_diagnostic);

    auto template_text = read_text_file(template_path);
    if (!template_text) return std::move(template_text).error();
    auto template_doc = parse_document(*template_text, "template " + template_path);
    if (!template_doc) return std::move(template_doc).error();
    xsltStylesheetPtr style = xsltParseStylesheetDoc(template_doc->get());
    if (style == nullptr || style->errors != 0 || !diagnostics.empty()) {
        if (style != nullptr) {
            template_doc->release();  // owned by the stylesheet now
            xsltFreeStylesheet(style);
        }
        return Error{Errc::invalid_argument, "template " + template_path + " is not usable: " + first_line(diagnostics)};
    }
    template_doc->release();
    std::unique_ptr<xsltStylesheet, decltype(&xsltFreeStylesheet)> stylesheet(style, xsltFreeStylesheet);

    std::unique_ptr<xsltTransformContext, decltype(&xsltFreeTransformContext)> ctxt(
        xsltNewTransformContext(stylesheet.get(), doc->get()), xsltFreeTransformContext);
    if (!ctxt) return Error{Errc::internal, "cannot allocate an XSLT transformation"};
    if (xsltSetCtxtSecurityPrefs(prefs.prefs, ctxt.get()) != 0) {
        return Error{Errc::internal, "cannot apply libxslt security preferences"};
    }
    xsltSetTransformErrorFunc(ctxt.get(), nullptr, collect_diagnostic);
    XmlDoc result(xsltApplyStylesheetUser(stylesheet.get(), doc->get(), nullptr, nullptr, nullptr, ctxt.get()));
    if (!result || ctxt->state != XSLT_STATE_OK || !diagnostics.empty()) {
        return Error{Errc::invalid_argument, "template " + template_path + " failed: " + first_line(diagnostics)};
    }
    xmlChar *text = nullptr;
    int size = 0;
    if (xsltSaveResultToString(&text, &size, result.get(), stylesheet.get()) != 0) {
        return Error{Errc::internal, "cannot serialize the rendered output"};
    }
    std::string rendered(reinterpret_cast<const char *>(text), text ? static_cast<std::size_t>(size) : 0);
    xmlFree(text);
    return rendered;
}

Status write_all(int fd, const std::string &text)
{
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("write stdout", errno);
        done += static_cast<std::size_t>(n);
    }
    return {};
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 4 || std::strcmp(argv[1], "--schema") != 0) {
        std::fprintf(stderr, "usage: %s --schema TYPE.rng TEMPLATE.xsl < merged.xml > rendered\n", argv[0]);
        return 2;
    }
    // No file may grow, and a runaway template stops. Output must go to pipes
    // (as render_in_child gives it): RLIMIT_FSIZE would kill a write to a file.
    for (int fd : {1, 2}) {
        struct stat st;
        if (fstat(fd, &st) != 0 || S_ISREG(st.st_mode)) {
            std::fprintf(stderr, "%s: stdout and stderr must be pipes (file writes are forbidden here)\n", argv[0]);
            return 2;
        }
    }
    struct rlimit no_files = {0, 0};
    struct rlimit cpu = {cpu_seconds, cpu_seconds};
    if (setrlimit(RLIMIT_FSIZE, &no_files) != 0 || setrlimit(RLIMIT_CPU, &cpu) != 0) {
        std::fprintf(stderr, "vigil_policy_render: setrlimit: %s\n", std::strerror(errno));
        return 1;
    }
    auto rendered = render(argv[2], argv[3]);
    if (!rendered) {
        std::fprintf(stderr, "%s\n", rendered.error().message.c_str());
        return 1;
    }
    if (auto written = write_all(1, *rendered); !written) {
        std::fprintf(stderr, "%s\n", written.error().message.c_str());
        return 1;
    }
    return 0;
}
