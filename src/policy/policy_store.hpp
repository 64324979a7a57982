// The file-system cache of what the directory holds for this host
// (STATE/policy/cache/): one file per policy document under TYPE/, the
// sudoRole entries converted into one document, and an index saying where
// each came from and its modify stamp, so that an unchanged policy is not
// downloaded again. The cache is disposable: an index it cannot read is an
// empty one, and everything is downloaded again.
#pragma once

#include "util/result.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::policy {

struct StoredDocument {
    std::string type;      // vigilPolicyType
    std::string dn;
    std::string name;      // cn
    int priority = 0;
    std::string stamp;     // entryCSN, else modifyTimestamp; "" is never "unchanged"
    std::string file;      // under cache/TYPE/
};

struct StoredRole {
    std::string dn;
    std::string stamp;
    bool operator==(const StoredRole &) const = default;
};

struct CacheIndex {
    std::vector<StoredDocument> documents;   // the policies that apply to this host
    std::vector<StoredRole> roles;           // the sudoRole entries converted into roles_file
    std::string roles_file;                  // under cache/sudo/; "" when there are none

    const StoredDocument *find(std::string_view dn) const;
};

class PolicyStore {
public:
    explicit PolicyStore(std::string cache_dir) : dir_(std::move(cache_dir)) {}

    // The index last committed. Missing: empty. Unreadable or of another
    // format version: empty, with the reason in `note`.
    CacheIndex load(std::string *note = nullptr) const;

    Result<std::string> read(std::string_view type, const std::string &file) const;

    // `index` without what its files no longer hold (removed, unreadable):
    // those documents (or the sudoRole entries) are downloaded again.
    CacheIndex verified(const CacheIndex &index) const;

    // Writes `files` (TYPE/FILE -> content) durably, then the index (its
    // rename is the commit), then removes the documents no longer indexed.
    // New content always comes in new files (file_for), so until the rename
    // the index in force reads what it always did.
    Status commit(const CacheIndex &index, const std::map<std::string, std::string> &files);

    // A document's file name: its cn made file-safe (bounded), and hashes of
    // its DN and content (a changed document is a new file).
    static std::string file_for(std::string_view name, std::string_view dn, std::string_view content);

    const std::string &dir() const { return dir_; }

private:
    std::string dir_;
};

// Field escaping of the index lines (TAB separated): '%', TAB, LF, CR as %XX.
std::string escape_field(std::string_view value);
Result<std::string> unescape_field(std::string_view value);

} // namespace vigil::policy
