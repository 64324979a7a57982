// One connected directory server, driven by the event loop: asynchronous
// searches with the paged results control, each with its own timeout, and
// the connection's end reported to its owner.
//
// libldap buffers what it reads: one readable event can carry several
// messages, and the fd will not signal again for those already buffered. So
// after every event the connection drains ldap_result() with a zero timeout
// until it has nothing more.
#pragma once

#include "providers/ldap/ldap_connect.hpp"
#include "util/event.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::ldap {

// One directory entry as plain values: the rest of vigil never sees libldap types.
struct LdapEntry {
    std::string dn;
    std::vector<std::pair<std::string, std::vector<std::string>>> attributes; // as the server named them

    // Attribute names compare case-insensitively, as LDAP's do; the first
    // attribute of that name.
    const std::vector<std::string> *values(std::string_view name) const;
    std::vector<std::string> *values(std::string_view name); // to move values out of an entry
    std::optional<std::string_view> first(std::string_view name) const;
};

enum class Scope { base, one_level, subtree };

struct SearchSpec {
    std::string base;
    Scope scope = Scope::subtree;
    std::string filter;
    std::vector<std::string> attributes; // empty: all user attributes
    std::string what;                    // for messages: "user alice", "groups of alice"
    // More entries than this and the search is abandoned as an error: a
    // server (or a filter) gone wrong cannot fill the provider's memory.
    std::size_t max_entries = 200000;
    // The whole search's bound; zero: ldap_search_timeout. (An enumeration
    // of a large directory takes longer than one lookup may.)
    std::chrono::seconds timeout{0};
    // With the paged results control (when ldap_page_size > 0 and the server
    // pages). A lookup of one name or id is not paged: OpenLDAP keeps one
    // paged search per connection, and a lookup must not wait for another's.
    bool paged = true;
};

struct SearchResult {
    std::vector<LdapEntry> entries;
    int pages = 0;
};

class LdapConnection;

// A search in flight. Destroying it (or cancel()) abandons the search on the
// server; its callback will not run.
class SearchHandle {
public:
    SearchHandle() = default;
    SearchHandle(SearchHandle &&) noexcept = default;
    SearchHandle &operator=(SearchHandle &&other) noexcept;
    ~SearchHandle() { cancel(); }
    void cancel() noexcept;

private:
    friend class LdapConnection;
    SearchHandle(std::weak_ptr<LdapConnection> conn, std::uint64_t id) : conn_(std::move(conn)), id_(id) {}
    std::weak_ptr<LdapConnection> conn_;
    std::uint64_t id_ = 0;
};

class LdapConnection : public std::enable_shared_from_this<LdapConnection> {
public:
    using SearchDone = std::function<void(Result<SearchResult>)>;

    static Result<std::shared_ptr<LdapConnection>> adopt(EventLoop &loop, Connected connected, std::string uri,
                                                         const LdapSettings &settings);
    // Abandons the searches in flight without their callbacks: owners that
    // have callers waiting use close() first.
    ~LdapConnection();
    LdapConnection(const LdapConnection &) = delete;
    LdapConnection &operator=(const LdapConnection &) = delete;

    // Runs `spec`, page by page when the server supports paging and
    // ldap_page_size > 0, all within ldap_search_timeout. `done` runs once.
    Result<SearchHandle> search(SearchSpec spec, SearchDone done);

    // False once the server closed the connection or it broke.
    bool usable() const { return handle_ != nullptr; }
    const std::string &uri() const { return uri_; }
    const ServerInfo &server_info() const { return info_; }
    std::size_t searches_in_flight() const { return ops_.size(); }

    // Runs once when the connection breaks (after every search was failed).
    void on_broken(std::function<void(const Error &)> handler) { on_broken_ = std::move(handler); }

    // Gives up on the connection: every search in flight is answered with
    // `why` (nobody is left waiting), then the socket is closed.
    void close(const Error &why) { if (handle_) broken(why); }

private:
    struct Op;
    LdapConnection(EventLoop &loop, Connected connected, std::string uri, const LdapSettings &settings);

    Status send_page(Op &op);
    void drain();
    void handle_message(LDAPMessage *msg);
    void finish(std::uint64_t id, Result<SearchResult> result);
    void cancel(std::uint64_t id);
    void broken(const Error &error);

    EventLoop &loop_;
    LdapHandle handle_;
    ServerInfo info_;
    std::string uri_;
    int page_size_;
    std::chrono::seconds search_timeout_;
    Watch readable_;
    Timer drain_later_;
    Timer broken_later_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, std::unique_ptr<Op>> ops_; // by our id: a paged search changes msgid
    std::map<int, std::uint64_t> by_msgid_;
    // OpenLDAP keeps the state of one paged search per connection: another
    // paged search started meanwhile makes the first one's cookie invalid
    // ("paged results cookie is invalid"). So paged searches run one at a
    // time on a connection; the others wait here, their timeouts running.
    std::uint64_t paged_running_ = 0; // its id; 0: none
    std::deque<std::uint64_t> paged_waiting_;
    void paged_done(std::uint64_t id);
    std::function<void(const Error &)> on_broken_;

    friend class SearchHandle;
};

} // namespace vigil::ldap
