// libFuzzer target: the messages between vigil_be and vigil_krb5_child. The
// child reads requests; vigil_be reads answers from a process that runs as
// the user once it has dropped privileges. Every input must be decoded or
// refused with an error (never a crash or a sanitizer report), and what is
// decoded must encode back to a message that decodes to the same fields.
#include "providers/krb5/krb5_child_protocol.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace vigil;
using namespace vigil::krb5;

namespace {

void require(bool condition, const char *what)
{
    if (!condition) {
        std::fprintf(stderr, "fuzz_krb5_child: invariant broken: %s\n", what);
        std::abort();
    }
}

bool same(const ChildRequest &a, const ChildRequest &b)
{
    return a.command == b.command && a.user == b.user && a.realm == b.realm &&
           a.password.reveal() == b.password.reveal() && a.uid == b.uid && a.gid == b.gid && a.ccname == b.ccname &&
           a.krb5_config == b.krb5_config && a.lifetime == b.lifetime &&
           a.renewable_lifetime == b.renewable_lifetime && a.validate == b.validate && a.keytab == b.keytab &&
           a.new_password.reveal() == b.new_password.reveal() && a.principal == b.principal;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    // The same bytes as a request and as an answer, with either magic.
    for (const char *magic : {"VK5Q", "VK5A"}) {
        std::string message = input.size() >= 4 ? std::string(magic) + std::string(input.substr(4)) : std::string(input);
        if (auto request = decode_request(message)) {
            auto again = decode_request(encode_request(*request).reveal());
            require(again.ok(), "a decoded request encodes to one that decodes");
            require(same(*request, *again), "a request survives a round trip");
        }
        if (auto answer = decode_answer(message)) {
            require(static_cast<std::uint32_t>(answer->result) <= child_result_max, "a known result");
            auto again = decode_answer(encode_answer(*answer));
            require(again.ok(), "a decoded answer encodes to one that decodes");
            require(again->result == answer->result && again->ccname == answer->ccname &&
                        again->tgt_end == answer->tgt_end,
                    "an answer survives a round trip");
            // Messages are cut at 4096 bytes when encoded.
            require(again->message == answer->message.substr(0, 4096), "the message survives (bounded)");
        }
    }
    return 0;
}
