// Installing a rendered policy file (ultimate mode) and rolling it back.
//
// install(): the original file (or its absence) is kept once, before the
// first change; the new content is written to a temp file in the target's
// directory (a '.' name, which sudo's includedir skips), fsynced, checked
// (visudo -cf for sudoers), renamed over the target, and the directory
// fsynced. A failure at any step leaves the installed file as it was.
// rollback(): restores the original byte for byte (mode and owner too), or
// removes our file when there was none, then forgets the original.
#pragma once

#include "policy/child_process.hpp"
#include "util/result.hpp"

#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace vigil::policy {

struct InstallTarget {
    std::string path;                       // e.g. /etc/sudoers.d/vigil
    std::string backup_dir;                 // e.g. STATE_DIR/policy/backup
    std::string forbidden_name_chars;       // ".~" for sudoers.d
    std::vector<std::string> check_command; // argv; the temp file's path is appended; empty: none
    mode_t mode = 0440;
    ChildLimits check_limits{};
    // The extended attribute holding the file's label, carried over from the
    // file replaced to its replacement; "" none (tests use a user.* one).
    std::string label_xattr = "security.selinux";
};

// mkdir -p with `mode` for the directories it creates.
Status make_dirs(const std::string &dir, mode_t mode);

// DIR/NAME replaced atomically and durably (temp file, fsync, rename, fsync
// DIR), owned by the caller, with `mode`.
Status write_file_durably(const std::string &dir, const std::string &name, std::string_view content, mode_t mode);

enum class InstallOutcome { installed, unchanged };

class PolicyInstaller {
public:
    // Refuses a target whose file name sudo (or the type) would skip.
    static Result<PolicyInstaller> create(InstallTarget target);

    Result<InstallOutcome> install(std::string_view content);
    // The target holds exactly `content`, with the target's mode (and, as
    // root, owner root:root): nothing for install() to do.
    bool is_installed(std::string_view content) const;
    Status rollback();

    // Whether an original (or its absence) is kept for rollback.
    bool has_original() const;

    const InstallTarget &target() const { return target_; }

private:
    explicit PolicyInstaller(InstallTarget target);
    Status keep_original();
    std::string original_path() const;
    std::string state_path() const;

    InstallTarget target_;
    std::string dir_;
    std::string name_;
};

} // namespace vigil::policy
