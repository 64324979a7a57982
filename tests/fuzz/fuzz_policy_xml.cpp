// libFuzzer target: policy documents as the directory could send them.
// Every input must be parsed or refused with an error (never a crash or a
// sanitizer report), and every document the schema accepts must survive a
// merge with itself: the merged document is valid again, and re-reading its
// serialized form gives the same text. Any broken invariant aborts.
#include "policy/policy_merge.hpp"
#include "policy/policy_xml.hpp"

#include <cstdio>
#include <cstdlib>
#include <optional>

using namespace vigil::policy;

namespace {

std::optional<Schema> schema;

void require(bool condition, const char *what)
{
    if (!condition) {
        std::fprintf(stderr, "fuzz_policy_xml: invariant broken: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    auto loaded = Schema::load(VIGIL_POLICY_SCHEMA);
    if (!loaded) {
        std::fprintf(stderr, "fuzz_policy_xml: %s\n", loaded.error().message.c_str());
        std::abort();
    }
    schema.emplace(std::move(*loaded));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    auto doc = read_valid_document(text, *schema, "fuzz");
    if (!doc) {
        require(!doc.error().message.empty(), "a refusal has a message");
        return 0;
    }
    auto copy = parse_document(serialize(doc->get()), "copy");
    require(copy.ok(), "a valid document serializes to parseable XML");
    std::vector<PolicySource> sources;
    sources.push_back(PolicySource{"b", 2, std::move(*doc)});
    sources.push_back(PolicySource{"a", 1, std::move(*copy)});
    auto merged = merge_by_priority("sudo", std::move(sources));
    require(merged.ok(), "valid documents merge");
    require(schema->validate(merged->get(), "merged").ok(), "the merge of valid documents is valid");
    std::string once = serialize(merged->get());
    auto again = read_valid_document(once, *schema, "merged again");
    require(again.ok(), "the serialized merge reads back");
    require(serialize(again->get()) == once, "serialization is stable");
    return 0;
}
