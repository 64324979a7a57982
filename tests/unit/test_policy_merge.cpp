// The merge writes sources in ascending priority (ties by name), so in a
// last-match-wins format the highest priority comes last and wins.
#include "policy_common.hpp"
#include "policy/policy_merge.hpp"

#include <libxml/tree.h>

using namespace vigil;
using namespace vigil::policy;
using test::contains;

namespace {

PolicySource source(const std::string &name, int priority, std::initializer_list<std::string> rules)
{
    auto doc = parse_document(test::sudo_policy(rules), name);
    if (!doc) fail_msg("%s", doc.error().message.c_str());
    return PolicySource{name, priority, std::move(*doc)};
}

// "rule@source@priority" for each element of the merged document, in order.
std::vector<std::string> written_order(xmlDoc *doc)
{
    std::vector<std::string> order;
    for (xmlNodePtr node = xmlDocGetRootElement(doc)->children; node; node = node->next) {
        if (node->type != XML_ELEMENT_NODE) continue;
        auto attr = [&](const char *name) {
            xmlChar *value = xmlGetProp(node, reinterpret_cast<const xmlChar *>(name));
            std::string text = value ? reinterpret_cast<const char *>(value) : "";
            xmlFree(value);
            return text;
        };
        order.push_back(attr("name") + "@" + attr("source") + "@" + attr("priority"));
    }
    return order;
}

std::string joined(const std::vector<std::string> &items)
{
    std::string text;
    for (const auto &item : items) text += (text.empty() ? "" : " ") + item;
    return text;
}

void sources_are_written_in_ascending_priority(void **)
{
    std::vector<PolicySource> sources;
    sources.push_back(source("lockdown", 90, {"deny"}));
    sources.push_back(source("base", 10, {"admins", "ops"}));
    sources.push_back(source("web", 50, {"deploy"}));
    auto merged = merge_by_priority("sudo", std::move(sources));
    assert_true(merged.ok());
    assert_string_equal(joined(written_order(merged->get())).c_str(),
                        "admins@base@10 ops@base@10 deploy@web@50 deny@lockdown@90");
}

void negative_priorities_come_before_zero(void **)
{
    std::vector<PolicySource> sources;
    sources.push_back(source("zero", 0, {"b"}));
    sources.push_back(source("minus", -5, {"a"}));
    auto merged = merge_by_priority("sudo", std::move(sources));
    assert_true(merged.ok());
    assert_string_equal(joined(written_order(merged->get())).c_str(), "a@minus@-5 b@zero@0");
}

void equal_priorities_are_ordered_by_name(void **)
{
    std::vector<PolicySource> sources;
    sources.push_back(source("beta", 20, {"second"}));
    sources.push_back(source("alpha", 20, {"first"}));
    sources.push_back(source("Zulu", 20, {"zeroth"}));  // byte order: upper case first
    auto merged = merge_by_priority("sudo", std::move(sources));
    assert_true(merged.ok());
    assert_string_equal(joined(written_order(merged->get())).c_str(),
                        "zeroth@Zulu@20 first@alpha@20 second@beta@20");
}

void two_sources_of_one_name_are_refused(void **)
{
    std::vector<PolicySource> sources;
    sources.push_back(source("same", 10, {"a"}));
    sources.push_back(source("same", 10, {"b"}));
    auto merged = merge_by_priority("sudo", std::move(sources));
    assert_false(merged.ok());
    assert_true(contains(merged.error().message, "two policies are named 'same'"));
}

void merged_document_passes_the_schema(void **)
{
    auto schema = test::sudo_schema();
    std::vector<PolicySource> sources;
    for (auto [name, priority] : {std::pair{"base.xml", 10}, {"web.xml", 50}, {"lockdown.xml", 90}}) {
        auto doc = read_valid_document(test::example(name), schema, name);
        assert_true(doc.ok());
        sources.push_back(PolicySource{name, priority, std::move(*doc)});
    }
    auto merged = merge_by_priority("sudo", std::move(sources));
    assert_true(merged.ok());
    auto valid = schema.validate(merged->get(), "merged");
    if (!valid) fail_msg("%s", valid.error().message.c_str());
    std::string text = serialize(merged->get());
    assert_true(contains(text, "<defaults source=\"base.xml\" priority=\"10\">"));
}

void no_sources_give_an_empty_policy(void **)
{
    auto merged = merge_by_priority("sudo", {});
    assert_true(merged.ok());
    assert_true(written_order(merged->get()).empty());
    assert_true(test::sudo_schema().validate(merged->get(), "empty").ok());
}

} // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sources_are_written_in_ascending_priority),
        cmocka_unit_test(negative_priorities_come_before_zero),
        cmocka_unit_test(equal_priorities_are_ordered_by_name),
        cmocka_unit_test(two_sources_of_one_name_are_refused),
        cmocka_unit_test(merged_document_passes_the_schema),
        cmocka_unit_test(no_sources_give_an_empty_policy),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
