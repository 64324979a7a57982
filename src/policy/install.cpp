#include "policy/install.hpp"

#include "policy/policy_xml.hpp"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace vigil::policy {

namespace {

struct Owner {
    mode_t mode;
    uid_t uid;
    gid_t gid;
};

Status write_all(int fd, std::string_view text, const std::string &path)
{
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("write " + path, errno);
        done += static_cast<std::size_t>(n);
    }
    return {};
}

Status fsync_dir(const std::string &dir)
{
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("open directory " + dir, errno);
    int rc = ::fsync(fd);
    int saved = errno;
    ::close(fd);
    if (rc != 0) return sys_error("fsync directory " + dir, saved);
    return {};
}

// The label (SELinux context) of the file being replaced goes onto its
// replacement, so that confined programs (sudo) may still read it. A file
// without one, or a file system without labels, leaves the default.
Status copy_label(const std::string &from, int to_fd, const std::string &temp, const std::string &xattr)
{
    if (xattr.empty()) return {};
    char value[4096];
    ssize_t n = ::lgetxattr(from.c_str(), xattr.c_str(), value, sizeof value);
    if (n < 0) {
        if (errno == ENOENT || errno == ENODATA || errno == ENOTSUP) return {};
        return sys_error("read the label " + xattr + " of " + from, errno);
    }
    if (::fsetxattr(to_fd, xattr.c_str(), value, static_cast<std::size_t>(n), 0) != 0) {
        return sys_error("set the label " + xattr + " on " + temp, errno);
    }
    return {};
}

// Writes `content` to DIR/NAME through a temp file in DIR: fsync, optional
// check of the temp file, rename, fsync DIR. The temp file's name starts
// with '.', so sudo's includedir never reads it, even after a crash.
Status replace_file(const std::string &dir, const std::string &name, std::string_view content, const Owner &owner,
                    const std::vector<std::string> &check_command, const ChildLimits &limits,
                    const std::string &label_xattr = {})
{
    const std::string path = dir + "/" + name;
    std::string temp = dir + "/." + name + ".vigil-XXXXXX";
    int fd = mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) return sys_error("create a temp file in " + dir, errno);
    auto fail = [&](Error error) -> Status {
        ::close(fd);
        ::unlink(temp.c_str());
        return error;
    };
    if (::fchmod(fd, owner.mode) != 0) return fail(sys_error("chmod " + temp, errno));
    if (geteuid() == 0 && ::fchown(fd, owner.uid, owner.gid) != 0) return fail(sys_error("chown " + temp, errno));
    if (auto labelled = copy_label(path, fd, temp, label_xattr); !labelled) return fail(std::move(labelled).error());
    if (auto written = write_all(fd, content, temp); !written) return fail(std::move(written).error());
    if (::fsync(fd) != 0) return fail(sys_error("fsync " + temp, errno));
    if (::close(fd) != 0) {
        fd = -1;
        ::unlink(temp.c_str());
        return sys_error("close " + temp, errno);
    }
    if (!check_command.empty()) {
        std::vector<std::string> argv = check_command;
        argv.push_back(temp);
        auto checked = run_child(argv, {}, limits);
        if (!checked || !checked->succeeded()) {
            ::unlink(temp.c_str());
            std::string reason = checked ? checked->describe() : checked.error().message;
            // visudo names the temp file; name the file it stands for.
            return Error{Errc::invalid_argument, path + ": " + check_command[0] + " refused the new content (" +
                                                     reason + "); nothing was installed"};
        }
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        int saved = errno;
        ::unlink(temp.c_str());
        return sys_error("rename " + temp + " to " + path, saved);
    }
    return fsync_dir(dir);
}

} // namespace

Status make_dirs(const std::string &dir, mode_t mode)
{
    // Parents first; each may exist already.
    for (std::size_t slash = dir.find('/', 1); ; slash = dir.find('/', slash + 1)) {
        std::string part = dir.substr(0, slash);
        if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) return sys_error("mkdir " + part, errno);
        if (slash == std::string::npos) return {};
    }
}

Status write_file_durably(const std::string &dir, const std::string &name, std::string_view content, mode_t mode)
{
    const Owner owner{mode, ::geteuid(), ::getegid()};
    return replace_file(dir, name, content, owner, {}, {});
}

PolicyInstaller::PolicyInstaller(InstallTarget target) : target_(std::move(target))
{
    std::size_t slash = target_.path.rfind('/');
    dir_ = slash == 0 ? "/" : target_.path.substr(0, slash);
    name_ = target_.path.substr(slash + 1);
}

Result<PolicyInstaller> PolicyInstaller::create(InstallTarget target)
{
    const std::string &path = target.path;
    std::size_t slash = path.rfind('/');
    if (path.empty() || path.front() != '/' || slash == std::string::npos || slash + 1 == path.size()) {
        return Error{Errc::invalid_config, "policy target '" + path + "' is not an absolute file path"};
    }
    std::string name = path.substr(slash + 1);
    if (name.find_first_of(target.forbidden_name_chars) != std::string::npos) {
        return Error{Errc::invalid_config, "policy target '" + path + "': the file name may not contain any of '" +
                                               target.forbidden_name_chars + "' (sudo skips such files)"};
    }
    if (target.backup_dir.empty() || target.backup_dir.front() != '/') {
        return Error{Errc::invalid_config, "policy backup directory '" + target.backup_dir + "' is not absolute"};
    }
    return PolicyInstaller(std::move(target));
}

std::string PolicyInstaller::original_path() const { return target_.backup_dir + "/" + name_ + ".original"; }
std::string PolicyInstaller::state_path() const { return target_.backup_dir + "/" + name_ + ".state"; }

bool PolicyInstaller::has_original() const
{
    struct stat st;
    return ::lstat(state_path().c_str(), &st) == 0;
}

// The state file is the commit point: it is written after the copy of the
// original is durable, so it never points at a missing or partial copy.
Status PolicyInstaller::keep_original()
{
    if (has_original()) return {};
    if (auto made = make_dirs(target_.backup_dir, 0700); !made) return made;
    const Owner private_file{0400, 0, 0};
    struct stat st;
    std::string state;
    if (::lstat(target_.path.c_str(), &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            return Error{Errc::invalid_argument, target_.path + " is not a regular file: refusing to replace it"};
        }
        auto original = read_text_file(target_.path, max_document_bytes * 4);
        if (!original) return std::move(original).error();
        if (auto kept = replace_file(target_.backup_dir, name_ + ".original", *original, private_file, {}, {}); !kept) {
            return kept;
        }
        state = "present " + std::to_string(st.st_mode & 07777) + " " + std::to_string(st.st_uid) + " " +
                std::to_string(st.st_gid) + "\n";
    } else if (errno == ENOENT) {
        state = "absent\n";
    } else {
        return sys_error("stat " + target_.path, errno);
    }
    return replace_file(target_.backup_dir, name_ + ".state", state, private_file, {}, {});
}

Result<InstallOutcome> PolicyInstaller::install(std::string_view content)
{
    // Never write through (or compare through) a symlink someone put there.
    struct stat st;
    if (::lstat(target_.path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        return Error{Errc::invalid_argument, target_.path + " is not a regular file: refusing to replace it"};
    }
    // Same content with a mode or owner someone changed is written again.
    if (is_installed(content)) return InstallOutcome::unchanged;
    if (auto kept = keep_original(); !kept) return std::move(kept).error();
    const Owner owner{target_.mode, 0, 0};
    if (auto replaced = replace_file(dir_, name_, content, owner, target_.check_command, target_.check_limits,
                                     target_.label_xattr);
        !replaced) {
        return std::move(replaced).error();
    }
    return InstallOutcome::installed;
}

bool PolicyInstaller::is_installed(std::string_view content) const
{
    struct stat st;
    if (::lstat(target_.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    if ((st.st_mode & 07777) != target_.mode) return false;
    if (::geteuid() == 0 && (st.st_uid != 0 || st.st_gid != 0)) return false;
    auto current = read_text_file(target_.path, max_document_bytes * 4);
    return current && *current == content;
}

Status PolicyInstaller::rollback()
{
    auto state = read_text_file(state_path(), 256);
    if (!state) {
        if (state.error().code == Errc::not_found) {
            return Error{Errc::not_found, target_.path + ": no original kept, nothing to roll back"};
        }
        return std::move(state).error();
    }
    unsigned mode = 0, uid = 0, gid = 0;
    if (std::sscanf(state->c_str(), "present %u %u %u", &mode, &uid, &gid) == 3) {
        auto original = read_text_file(original_path(), max_document_bytes * 4);
        if (!original) return std::move(original).error();
        const Owner owner{static_cast<mode_t>(mode), static_cast<uid_t>(uid), static_cast<gid_t>(gid)};
        if (auto restored = replace_file(dir_, name_, *original, owner, {}, {}, target_.label_xattr); !restored) {
            return restored;
        }
    } else if (*state == "absent\n") {
        if (::unlink(target_.path.c_str()) != 0 && errno != ENOENT) return sys_error("unlink " + target_.path, errno);
        if (auto synced = fsync_dir(dir_); !synced) return synced;
    } else {
        return Error{Errc::protocol, state_path() + ": not a vigil rollback state"};
    }
    // Forget the original: the next install keeps the state just restored.
    if (::unlink(state_path().c_str()) != 0) return sys_error("unlink " + state_path(), errno);
    ::unlink(original_path().c_str());
    return fsync_dir(target_.backup_dir);
}

} // namespace vigil::policy
