#include "util/log.hpp"

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <mutex>
#include <sys/time.h>
#include <unistd.h>

namespace vigil::log {
namespace {

std::atomic<int> current_level{default_level};
// Identity and destination change only at start-up and on SIGHUP, but the
// log may be written from a worker thread, so they are guarded.
std::mutex sink_mutex;
std::string process_name = "vigil";
std::string domain_name;
std::string file_path;
int fd = STDERR_FILENO;

constexpr const char *level_names[] = {
    "fatal", "crit", "error", "minor", "config", "info", "trace", "internal", "debug", "all",
};

const char *level_name(Level l)
{
    int i = static_cast<int>(l);
    return (i >= 0 && i <= 9) ? level_names[i] : "?";
}

Result<int> open_log(const std::string &path)
{
    int f = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
    if (f < 0) return sys_error("open log file " + path, errno);
    return f;
}

} // namespace

void set_identity(const std::string &process, const std::string &domain)
{
    std::lock_guard lock(sink_mutex);
    process_name = process;
    domain_name = domain;
}

void to_stderr()
{
    std::lock_guard lock(sink_mutex);
    if (fd != STDERR_FILENO) ::close(fd);
    fd = STDERR_FILENO;
    file_path.clear();
}

Status to_file(const std::string &path)
{
    auto opened = open_log(path);
    if (!opened) return std::move(opened).error();
    std::lock_guard lock(sink_mutex);
    if (fd != STDERR_FILENO) ::close(fd);
    fd = *opened;
    file_path = path;
    return {};
}

Status reopen()
{
    std::string path;
    {
        std::lock_guard lock(sink_mutex);
        path = file_path;
    }
    if (path.empty()) return {};
    return to_file(path);
}

void set_level(int l)
{
    if (l < 0) l = 0;
    if (l > 9) l = 9;
    current_level.store(l, std::memory_order_relaxed);
}

int level() noexcept { return current_level.load(std::memory_order_relaxed); }

bool enabled(Level l) noexcept { return static_cast<int>(l) <= level(); }

std::string escape_controls(const char *text)
{
    std::string out;
    for (const unsigned char *p = reinterpret_cast<const unsigned char *>(text); *p; ++p) {
        if (*p < 0x20 || *p == 0x7f) {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", *p);
            out += hex;
        } else {
            out += static_cast<char>(*p);
        }
    }
    return out;
}

void write(Level l, const char *function, const char *format, ...)
{
    int saved_errno = errno;
    char message[2048];
    va_list ap;
    va_start(ap, format);
    int n = std::vsnprintf(message, sizeof message, format, ap);
    va_end(ap);
    if (n < 0) std::snprintf(message, sizeof message, "(unformattable log message)");

    struct timeval tv;
    gettimeofday(&tv, nullptr);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);

    std::string escaped = escape_controls(message);
    if (n >= static_cast<int>(sizeof message)) escaped += "...(truncated)";

    std::lock_guard lock(sink_mutex);
    std::string line;
    line.reserve(escaped.size() + 128);
    char head[128];
    std::snprintf(head, sizeof head, "%s.%06ld %s[%ld] ", stamp, static_cast<long>(tv.tv_usec),
                  process_name.c_str(), static_cast<long>(getpid()));
    line += head;
    if (!domain_name.empty()) line += "[" + domain_name + "] ";
    line += "(";
    line += level_name(l);
    line += ") ";
    line += function;
    line += ": ";
    line += escaped;
    line += '\n';
    // One write: lines stay whole even with O_APPEND from several processes.
    ssize_t ignored = ::write(fd, line.data(), line.size());
    (void)ignored;
    errno = saved_errno;
}

} // namespace vigil::log
