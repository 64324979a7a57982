// Shared by the unit tests: CMocka's include prerequisites and a temp dir.
#pragma once

// Standard headers first: cmocka.h defines a fail() macro that breaks them.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <csetjmp>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
// cmocka.h (1.1) has no extern "C" of its own.
extern "C" {
#include <cmocka.h>
}


#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace test {

// A directory under $TMPDIR removed (with everything in it) at scope exit.
class TempDir {
public:
    TempDir()
    {
        const char *base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/vigil-unit-XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr) std::abort();
        path_ = tmpl;
    }
    ~TempDir()
    {
        std::string cmd = "rm -rf '" + path_ + "'";
        if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "cannot remove %s\n", path_.c_str());
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    const std::string &path() const { return path_; }
    std::string operator/(const std::string &name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Writes `text` to `path` with `mode` (applied after creation, so the umask
// does not interfere).
inline void write_file(const std::string &path, const std::string &text, mode_t mode = 0600)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    assert_int_equal(::fchmod(fd, mode), 0);
    ::close(fd);
}

} // namespace test
