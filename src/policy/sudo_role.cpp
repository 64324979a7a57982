#include "policy/sudo_role.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <strings.h>
#include <string_view>

namespace vigil::policy {

namespace {

const xmlChar *xml(const std::string &text) { return reinterpret_cast<const xmlChar *>(text.c_str()); }

// sudoOption values that sudoers writes as command tags.
struct TagOption {
    std::string_view option;
    std::string_view tag;
};
constexpr std::array tag_options{
    TagOption{"authenticate", "PASSWD"},       TagOption{"!authenticate", "NOPASSWD"},
    TagOption{"noexec", "NOEXEC"},             TagOption{"!noexec", "EXEC"},
    TagOption{"setenv", "SETENV"},             TagOption{"!setenv", "NOSETENV"},
    TagOption{"log_input", "LOG_INPUT"},       TagOption{"!log_input", "NOLOG_INPUT"},
    TagOption{"log_output", "LOG_OUTPUT"},     TagOption{"!log_output", "NOLOG_OUTPUT"},
    TagOption{"mail_all_cmnds", "MAIL"},       TagOption{"!mail_all_cmnds", "NOMAIL"},
    TagOption{"sudoedit_follow", "FOLLOW"},    TagOption{"!sudoedit_follow", "NOFOLLOW"},
};

const std::vector<std::string> &values(const SudoRole &role, const std::string &attribute)
{
    static const std::vector<std::string> none;
    auto found = role.attributes.find(attribute);
    return found == role.attributes.end() ? none : found->second;
}

std::string trim(std::string_view text)
{
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return std::string(text);
}

struct OrderedRole {
    double order = 0;
    std::string order_text;
    const SudoRole *role = nullptr;
};

Result<OrderedRole> order_of(const SudoRole &role)
{
    OrderedRole ordered{0, {}, &role};
    const auto &orders = values(role, "sudoOrder");
    if (orders.empty()) return ordered;
    if (orders.size() > 1) return Error{Errc::invalid_argument, "sudoRole '" + role.name + "': more than one sudoOrder"};
    std::string text = trim(orders[0]);
    char *end = nullptr;
    double order = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(order)) {
        return Error{Errc::invalid_argument, "sudoRole '" + role.name + "': sudoOrder '" + text + "' is not a number"};
    }
    ordered.order = order;
    ordered.order_text = text;
    return ordered;
}

// Generalized time as sudoers takes it: YYYYMMDDHHMMSSZ (a fraction is dropped).
Result<std::string> sudoers_time(const SudoRole &role, const char *attribute, const std::string &value)
{
    std::string text = trim(value);
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    std::string_view rest(text);
    rest.remove_prefix(digits);
    if (!rest.empty() && (rest.front() == '.' || rest.front() == ',')) {
        rest.remove_prefix(1);
        while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') rest.remove_prefix(1);
    }
    if (digits != 14 || rest != "Z") {
        return Error{Errc::invalid_argument, "sudoRole '" + role.name + "': " + attribute + " '" + text +
                                                 "' is not a UTC generalized time (YYYYMMDDHHMMSSZ)"};
    }
    return text.substr(0, 14) + "Z";
}

// sudo-ldap uses the earliest sudoNotBefore and the latest sudoNotAfter.
// Fixed-width UTC times compare as strings.
Result<std::string> pick_time(const SudoRole &role, const char *attribute, bool earliest)
{
    std::string picked;
    for (const auto &value : values(role, attribute)) {
        auto time = sudoers_time(role, attribute, value);
        if (!time) return time;
        if (picked.empty() || (earliest ? *time < picked : *time > picked)) picked = *time;
    }
    return picked;
}

void add_option(xmlNodePtr parent, const std::string &raw)
{
    std::string text = trim(raw);
    xmlNodePtr option = xmlNewChild(parent, nullptr, xml("option"), nullptr);
    if (!text.empty() && text.front() == '!') {
        xmlNewProp(option, xml("name"), xml(trim(std::string_view(text).substr(1))));
        xmlNewProp(option, xml("negate"), xml("true"));
        return;
    }
    std::size_t eq = text.find('=');
    if (eq == std::string::npos) {
        xmlNewProp(option, xml("name"), xml(text));
        return;
    }
    std::string name = text.substr(0, eq);
    std::string op = "=";
    if (!name.empty() && (name.back() == '+' || name.back() == '-')) {
        op = std::string(1, name.back()) + "=";
        name.pop_back();
    }
    std::string value = trim(std::string_view(text).substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    xmlNewProp(option, xml("name"), xml(trim(name)));
    if (op != "=") xmlNewProp(option, xml("op"), xml(op));
    xmlNewProp(option, xml("value"), xml(value));
}

void add_values(xmlNodePtr rule, const char *element, const std::vector<std::string> &list)
{
    for (const auto &value : list) xmlNewTextChild(rule, nullptr, xml(element), xml(trim(value)));
}

bool is_defaults(const SudoRole &role) { return strcasecmp(role.name.c_str(), "defaults") == 0; }

Status add_rule(xmlNodePtr root, const OrderedRole &ordered)
{
    const SudoRole &role = *ordered.role;
    if (values(role, "sudoCommand").empty()) {
        return Error{Errc::invalid_argument, "sudoRole '" + role.name + "' has no sudoCommand"};
    }
    auto not_before = pick_time(role, "sudoNotBefore", true);
    if (!not_before) return std::move(not_before).error();
    auto not_after = pick_time(role, "sudoNotAfter", false);
    if (!not_after) return std::move(not_after).error();

    xmlNodePtr rule = xmlNewChild(root, nullptr, xml("rule"), nullptr);
    xmlNewProp(rule, xml("name"), xml(role.name));
    if (!ordered.order_text.empty()) xmlNewProp(rule, xml("order"), xml(ordered.order_text));
    add_values(rule, "user", values(role, "sudoUser"));
    add_values(rule, "host", values(role, "sudoHost"));
    // sudoRunAs is the old single attribute that sudoRunAsUser replaced.
    add_values(rule, "runas-user", values(role, "sudoRunAsUser"));
    add_values(rule, "runas-user", values(role, "sudoRunAs"));
    add_values(rule, "runas-group", values(role, "sudoRunAsGroup"));
    if (!not_before->empty()) xmlNewTextChild(rule, nullptr, xml("not-before"), xml(*not_before));
    if (!not_after->empty()) xmlNewTextChild(rule, nullptr, xml("not-after"), xml(*not_after));

    std::vector<std::string> plain_options;
    for (const auto &raw : values(role, "sudoOption")) {
        std::string option = trim(raw);
        auto tag = std::find_if(tag_options.begin(), tag_options.end(),
                                [&](const TagOption &t) { return t.option == option; });
        if (tag != tag_options.end()) {
            xmlNewTextChild(rule, nullptr, xml("tag"), xml(std::string(tag->tag)));
        } else {
            plain_options.push_back(option);
        }
    }
    for (const auto &option : plain_options) add_option(rule, option);
    add_values(rule, "command", values(role, "sudoCommand"));
    return {};
}

} // namespace

Result<ConvertedRoles> convert_sudo_roles(std::vector<SudoRole> roles)
{
    ConvertedRoles converted;
    converted.doc.reset(xmlNewDoc(xml("1.0")));
    xmlNodePtr root = xmlNewDocNode(converted.doc.get(), nullptr, xml("policy"), nullptr);
    xmlDocSetRootElement(converted.doc.get(), root);
    xmlNewProp(root, xml("type"), xml("sudo"));
    xmlNewProp(root, xml("version"), xml("1"));

    std::vector<OrderedRole> rules;
    for (const auto &role : roles) {
        if (is_defaults(role)) {
            const auto &options = values(role, "sudoOption");
            if (options.empty()) continue;
            xmlNodePtr defaults = xmlNewChild(root, nullptr, xml("defaults"), nullptr);
            for (const auto &option : options) add_option(defaults, option);
            continue;
        }
        if (values(role, "sudoUser").empty()) {
            converted.skipped.push_back("sudoRole '" + role.name + "': no sudoUser, applies to nobody");
            continue;
        }
        if (values(role, "sudoHost").empty()) {
            converted.skipped.push_back("sudoRole '" + role.name + "': no sudoHost, applies to no host");
            continue;
        }
        auto ordered = order_of(role);
        if (!ordered) return std::move(ordered).error();
        rules.push_back(*ordered);
    }
    std::sort(rules.begin(), rules.end(), [](const OrderedRole &a, const OrderedRole &b) {
        if (a.order != b.order) return a.order < b.order;
        return a.role->name < b.role->name;
    });
    for (const auto &rule : rules) {
        if (auto added = add_rule(root, rule); !added) return std::move(added).error();
    }
    return converted;
}

} // namespace vigil::policy
