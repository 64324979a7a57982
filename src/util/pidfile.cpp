#include "util/pidfile.hpp"

#include "util/log.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vigil {

namespace {

// The previous holder unlinks the file as it exits. Between our open() and
// our lock it may have done so: we would then hold a lock on a file nobody can
// find, and the next instance would create a new one. A few retries settle it.
constexpr int max_attempts = 10;

bool same_file(int fd, const std::string &path)
{
    struct stat by_fd;
    struct stat by_path;
    if (fstat(fd, &by_fd) != 0 || stat(path.c_str(), &by_path) != 0) return false;
    return by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

Status write_pid(int fd, const std::string &path)
{
    std::string text = std::to_string(static_cast<long>(getpid())) + "\n";
    if (ftruncate(fd, 0) != 0) return sys_error("truncate pid file " + path, errno);
    ssize_t n;
    do {
        n = pwrite(fd, text.data(), text.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return sys_error("write pid file " + path, errno);
    if (static_cast<std::size_t>(n) != text.size())
        return Error{Errc::io, "write pid file " + path + ": short write"};
    // A crash right after start must not leave an empty pid file behind.
    if (fsync(fd) != 0) return sys_error("fsync pid file " + path, errno);
    return {};
}

} // namespace

Result<PidFile> PidFile::acquire(const std::string &path)
{
    for (int attempt = 0; attempt < max_attempts; ++attempt) {
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0) return sys_error("open pid file " + path, errno);
        PidFile file(path, fd); // closes fd on every return below

        struct flock lock {};
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;
        lock.l_start = 0;
        lock.l_len = 0; // the whole file
        if (fcntl(fd, F_OFD_SETLK, &lock) != 0) {
            int err = errno;
            if (err != EAGAIN && err != EACCES) return sys_error("lock pid file " + path, err);
            pid_t holder = read_pid(path);
            std::string pid_text = holder > 0 ? "pid " + std::to_string(static_cast<long>(holder)) : "pid unknown";
            return Error{Errc::exists, "another instance is running (" + pid_text + ", pid file " + path + ")"};
        }
        if (!same_file(fd, path)) continue; // unlinked or replaced under us: try the new one

        Status written = write_pid(fd, path);
        if (!written) return std::move(written).error();
        file.owner_ = getpid();
        return file;
    }
    return Error{Errc::io, "pid file " + path + " keeps being replaced while it is being locked"};
}

PidFile::PidFile(PidFile &&other) noexcept : path_(std::move(other.path_)), fd_(other.fd_), owner_(other.owner_)
{
    other.fd_ = -1;
    other.owner_ = 0;
}

PidFile &PidFile::operator=(PidFile &&other) noexcept
{
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        fd_ = other.fd_;
        owner_ = other.owner_;
        other.fd_ = -1;
        other.owner_ = 0;
    }
    return *this;
}

PidFile::~PidFile() { release(); }

void PidFile::release() noexcept
{
    if (fd_ < 0) return;
    // Unlink while the lock is still held, so no new instance can have
    // locked (and then lose) the file we remove.
    if (owner_ == getpid() && same_file(fd_, path_) && unlink(path_.c_str()) != 0)
        VLOG(minor, "cannot remove pid file %s: %s", path_.c_str(), std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    owner_ = 0;
}

Status PidFile::rewrite()
{
    if (fd_ < 0) return Error{Errc::internal, "rewrite of a released pid file"};
    Status written = write_pid(fd_, path_);
    if (!written) return written;
    owner_ = getpid();
    return {};
}

pid_t PidFile::read_pid(const std::string &path)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return 0;
    char text[32];
    ssize_t n;
    do {
        n = ::read(fd, text, sizeof text - 1);
    } while (n < 0 && errno == EINTR);
    ::close(fd);
    if (n <= 0) return 0;
    text[n] = '\0';
    char *end = nullptr;
    errno = 0;
    long pid = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || (*end != '\n' && *end != '\0') || pid <= 0 || pid > 0x7fffffffL) return 0;
    return static_cast<pid_t>(pid);
}

} // namespace vigil
