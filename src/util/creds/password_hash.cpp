#include "util/creds/password_hash.hpp"

#include <cerrno>
#include <crypt.h>
#include <cstring>
#include <memory>
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

Result<std::string> hash_password(const Secret &password)
{
    Error last{Errc::internal, "no password hashing method is available"};
    for (const char *prefix : preferred_hash_prefixes) {
        auto hashed = hash_password_with(password, prefix, 0);
        if (hashed || hashed.error().code == Errc::invalid_argument) return hashed;
        last = std::move(hashed).error();
    }
    return last;
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
