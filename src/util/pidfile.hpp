// The pid file of vigild: one running instance per run_dir.
//
// The lock, not the file's existence, says whether an instance runs: a file
// left by a killed process is simply taken over. The lock is an
// open-file-description lock (F_OFD_SETLK), so a second acquire in the same
// process is refused too (POSIX record locks would silently succeed there),
// and it is inherited across fork() with the descriptor: after daemonizing,
// the child holds it once the parent is gone.
#pragma once

#include "util/result.hpp"

#include <string>
#include <sys/types.h>

namespace vigil {

class PidFile {
public:
    // Errc::exists with "another instance is running (pid N, pid file PATH)"
    // when a live process holds the lock.
    static Result<PidFile> acquire(const std::string &path);

    PidFile(PidFile &&other) noexcept;
    PidFile &operator=(PidFile &&other) noexcept;
    PidFile(const PidFile &) = delete;
    PidFile &operator=(const PidFile &) = delete;
    // Removes the file if this process still owns it, then releases the lock.
    ~PidFile();

    // Writes the current pid again (after daemonizing it has changed); the
    // calling process becomes the one that removes the file at the end.
    Status rewrite();

    const std::string &path() const noexcept { return path_; }

    // The pid written in `path`, or 0 if there is none (no file, no number).
    // Says nothing about whether that process still runs.
    static pid_t read_pid(const std::string &path);

private:
    PidFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    void release() noexcept;

    std::string path_;
    int fd_ = -1;
    pid_t owner_ = 0; // the process that wrote the file; a forked child that unwinds must not remove it
};

} // namespace vigil
