#include "util/creds/password_hash.hpp"

#include <algorithm>
#include <cerrno>
#include <crypt.h>
#include <cstring>
#include <memory>
#include <string_view>
#include <strings.h>
#include <sys/random.h>

namespace vigil::creds {
namespace {

// crypt's scratch space (about 32 KiB): on the heap, and wiped afterwards
// because it holds intermediate state derived from the password.
struct CryptScratch {
    CryptScratch() : data(std::make_unique<crypt_data>()) { std::memset(data.get(), 0, sizeof(crypt_data)); }
    ~CryptScratch() { explicit_bzero(data.get(), sizeof(crypt_data)); }
    CryptScratch(const CryptScratch &) = delete;
    CryptScratch &operator=(const CryptScratch &) = delete;
    std::unique_ptr<crypt_data> data;
};

Status usable_password(const Secret &password)
{
    if (password.empty()) return Error{Errc::invalid_argument, "refusing to hash an empty password"};
    if (password.reveal().find('\0') != std::string::npos)
        return Error{Errc::invalid_argument, "refusing to hash a password that contains a NUL byte"};
    return {};
}

Result<std::string> random_setting(const char *prefix, unsigned long cost)
{
    unsigned char entropy[32];
    std::size_t have = 0;
    while (have < sizeof entropy) {
        ssize_t got = getrandom(entropy + have, sizeof entropy - have, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return sys_error("getrandom for a password salt", errno);
        }
        have += static_cast<std::size_t>(got);
    }
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    const char *made = crypt_gensalt_rn(prefix, cost, reinterpret_cast<const char *>(entropy),
                                        static_cast<int>(sizeof entropy), setting, static_cast<int>(sizeof setting));
    int saved = errno;
    explicit_bzero(entropy, sizeof entropy);
    if (made == nullptr)
        return sys_error(std::string("crypt_gensalt_rn for method ") + prefix + " cost " + std::to_string(cost), saved);
    return std::string(made);
}

// crypt_rn: NULL on failure. Some methods fail "safely" by returning a string
// starting with '*' instead: treat that as failure too.
Result<std::string> run_crypt(const Secret &password, const std::string &setting, CryptScratch &scratch)
{
    errno = 0;
    const char *out = crypt_rn(password.reveal().c_str(), setting.c_str(), scratch.data.get(),
                               static_cast<int>(sizeof(crypt_data)));
    if (out == nullptr || out[0] == '*') {
        int saved = errno != 0 ? errno : EINVAL;
        // The setting may be a stored hash: name its method only.
        std::string method = setting.substr(0, setting.find('$', 1) + 1);
        return sys_error("crypt with method " + method, saved);
    }
    return std::string(out);
}

bool constant_time_equal(const std::string &a, const std::string &b) noexcept
{
    if (a.size() != b.size()) return false; // the length of a hash is no secret
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    return diff == 0;
}

} // namespace

Result<std::string> hash_password_with(const Secret &password, const char *prefix, unsigned long cost)
{
    if (Status st = usable_password(password); !st) return std::move(st).error();
    auto setting = random_setting(prefix, cost);
    if (!setting) return std::move(setting).error();
    CryptScratch scratch;
    return run_crypt(password, *setting, scratch);
}

unsigned long sha512_rounds(unsigned cost) noexcept
{
    cost = std::clamp(cost, min_hash_cost, max_hash_cost);
    return cost == 1 ? 2500UL : 5000UL << (cost - 2);
}

Result<std::string> hash_password(const Secret &password, unsigned cost)
{
    if (cost < min_hash_cost || cost > max_hash_cost)
        return Error{Errc::invalid_argument, "password hash cost " + std::to_string(cost) + " is outside " +
                                                 std::to_string(min_hash_cost) + ".." + std::to_string(max_hash_cost)};
    Error last{Errc::internal, "no password hashing method is available"};
    for (const char *prefix : preferred_hash_prefixes) {
        const unsigned long parameter = std::string_view(prefix) == "$6$" ? sha512_rounds(cost) : cost;
        auto hashed = hash_password_with(password, prefix, parameter);
        if (hashed || hashed.error().code == Errc::invalid_argument) return hashed;
        last = std::move(hashed).error();
    }
    return last;
}

std::string describe_hash(const std::string &stored)
{
    // "$id$params$..." : the parameter field, without salt or hash.
    auto field = [&](std::size_t n) -> std::string_view {
        std::size_t start = 0;
        for (std::size_t i = 0; i < n; ++i) {
            start = stored.find('$', start);
            if (start == std::string::npos) return {};
            ++start;
        }
        const std::size_t end = stored.find('$', start);
        return end == std::string::npos ? std::string_view{} : std::string_view(stored).substr(start, end - start);
    };
    if (stored.starts_with("$y$")) {
        // yescrypt's parameters are libxcrypt's encoding: compare with the
        // setting it makes for each cost.
        const std::string_view params = field(2);
        for (unsigned cost = min_hash_cost; cost <= max_hash_cost; ++cost) {
            char setting[CRYPT_GENSALT_OUTPUT_SIZE];
            static const char zero_entropy[16] = {};
            if (crypt_gensalt_rn("$y$", cost, zero_entropy, sizeof zero_entropy, setting, sizeof setting) == nullptr)
                break;
            const std::string made(setting);
            if (made.substr(3, made.find('$', 3) - 3) == params) return "yescrypt, cost " + std::to_string(cost);
        }
        return "yescrypt, other parameters";
    }
    if (stored.starts_with("$6$")) {
        const std::string_view params = field(2);
        if (params.starts_with("rounds=")) return "SHA-512, " + std::string(params.substr(7)) + " rounds";
        return "SHA-512, 5000 rounds";
    }
    const std::size_t end = stored.find('$', 1);
    if (stored.starts_with("$") && end != std::string::npos) return "crypt method " + stored.substr(0, end + 1);
    return "not a crypt hash";
}

Result<bool> password_matches(const Secret &password, const std::string &stored)
{
    if (Status st = usable_password(password); !st) return std::move(st).error();
    if (stored.empty() || stored[0] != '$')
        return Error{Errc::invalid_argument, "the stored credential is not a crypt hash"};
    CryptScratch scratch;
    auto computed = run_crypt(password, stored, scratch);
    if (!computed) return std::move(computed).error();
    bool same = constant_time_equal(*computed, stored);
    explicit_bzero(computed->data(), computed->size());
    return same;
}

} // namespace vigil::creds
