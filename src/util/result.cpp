#include "util/result.hpp"

#include <cerrno>
#include <cstring>

namespace vigil {

const char *errc_name(Errc code) noexcept
{
    switch (code) {
    case Errc::invalid_argument: return "invalid argument";
    case Errc::invalid_config: return "invalid configuration";
    case Errc::io: return "I/O error";
    case Errc::not_found: return "not found";
    case Errc::exists: return "already exists";
    case Errc::timeout: return "timed out";
    case Errc::unavailable: return "unavailable";
    case Errc::protocol: return "protocol error";
    case Errc::permission: return "permission denied";
    case Errc::internal: return "internal error";
    }
    return "unknown error";
}

Error sys_error(std::string what, int errnum)
{
    char buf[256];
    // GNU strerror_r returns the message (maybe not in buf).
    const char *text = strerror_r(errnum, buf, sizeof buf);
    what += ": ";
    what += text;
    Errc code = Errc::io;
    if (errnum == ENOENT) code = Errc::not_found;
    else if (errnum == EACCES || errnum == EPERM) code = Errc::permission;
    else if (errnum == EEXIST) code = Errc::exists;
    return Error{code, std::move(what)};
}

} // namespace vigil
