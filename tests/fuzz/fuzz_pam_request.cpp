// libFuzzer target: PAM request bodies as any local process could send them
// to vigil_pam. Every input is parsed or refused with a protocol error (never
// a crash or a sanitizer report); what parses has a user within the limits,
// tokens within the limits and only known flags. The input's first two bytes
// pick the command. Any broken invariant aborts.
#include "responder/pam/pam_message.hpp"

#include <cstdio>
#include <cstdlib>

using namespace vigil::responder;

namespace {

void require(bool condition, const char *what)
{
    if (!condition) {
        std::fprintf(stderr, "fuzz_pam_request: invariant broken: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    const std::uint32_t command = 0x1000u + (static_cast<std::uint32_t>(data[0]) << 8 | data[1]) % 9u;
    auto parsed = parse_pam_request(command, std::span<const std::uint8_t>(data + 2, size - 2));
    if (!parsed) {
        require(parsed.error().code == vigil::Errc::protocol, "a refusal that is not a protocol error");
        return 0;
    }
    require(is_pam_command(command), "a command that is not PAM accepted");
    require(!parsed->user.empty() && parsed->user.size() <= VIGIL_MAX_NAME_LEN, "a user outside the limits");
    for (const auto *tok : {&parsed->authtok, &parsed->new_authtok})
        require(!*tok || (*tok)->reveal().size() <= VIGIL_MAX_AUTHTOK_LEN, "a token outside the limits");
    require((parsed->flags & ~0x7fu) == 0, "an unknown flag accepted");
    return 0;
}
