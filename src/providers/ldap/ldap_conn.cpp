#include "providers/ldap/ldap_conn.hpp"

#include "util/log.hpp"

#include <cerrno>
#include <fcntl.h>
#include <strings.h>
#include <utility>

namespace vigil::ldap {

namespace {

// Messages handled per readable event before the loop gets a turn: a huge
// answer must not starve every other client of the provider.
constexpr int drain_batch = 2000;

int scope_value(Scope s)
{
    switch (s) {
    case Scope::base: return LDAP_SCOPE_BASE;
    case Scope::one_level: return LDAP_SCOPE_ONELEVEL;
    case Scope::subtree: return LDAP_SCOPE_SUBTREE;
    }
    return LDAP_SCOPE_SUBTREE;
}

// The DN, names and values are read in place (ldap_get_dn_ber,
// ldap_get_attribute_ber): libldap allocates one array per attribute, not a
// copy of each value, and each value is copied once, into its string. A
// 10,000-member group is 10,000 values. A decoding error ends the entry
// where it happened, as ldap_next_attribute() did.
LdapEntry parse_entry(LDAP *ld, LDAPMessage *msg, std::size_t expected_attributes)
{
    LdapEntry entry;
    entry.attributes.reserve(expected_attributes);
    BerElement *ber = nullptr;
    berval dn{0, nullptr};
    if (ldap_get_dn_ber(ld, msg, &ber, &dn) != LDAP_SUCCESS) {
        if (ber) ber_free(ber, 0);
        return entry;
    }
    if (dn.bv_val) entry.dn.assign(dn.bv_val, dn.bv_len);
    berval attr{0, nullptr};
    BerVarray vals = nullptr;
    while (ldap_get_attribute_ber(ld, msg, ber, &attr, &vals) == LDAP_SUCCESS && attr.bv_val) {
        std::size_t count = 0;
        while (vals && vals[count].bv_val) ++count;
        auto &[name, values] = entry.attributes.emplace_back(std::string(attr.bv_val, attr.bv_len),
                                                             std::vector<std::string>());
        values.reserve(count);
        for (std::size_t i = 0; i < count; ++i) values.emplace_back(vals[i].bv_val, vals[i].bv_len);
        ber_memfree(vals);
        vals = nullptr;
    }
    ber_memfree(vals);
    ber_free(ber, 0);
    return entry;
}

} // namespace

const std::vector<std::string> *LdapEntry::values(std::string_view name) const
{
    for (const auto &[attr, vals] : attributes)
        if (attr.size() == name.size() && strncasecmp(attr.data(), name.data(), name.size()) == 0) return &vals;
    return nullptr;
}

std::vector<std::string> *LdapEntry::values(std::string_view name)
{
    return const_cast<std::vector<std::string> *>(std::as_const(*this).values(name));
}

std::optional<std::string_view> LdapEntry::first(std::string_view name) const
{
    const auto *vals = values(name);
    if (!vals || vals->empty()) return std::nullopt;
    return std::string_view(vals->front());
}

struct LdapConnection::Op {
    std::uint64_t id = 0;
    SearchSpec spec;
    SearchDone done;
    SearchResult result;
    int msgid = -1;
    bool paged = false;
    std::string cookie; // the server's paged results cookie; empty: first page or done
    Timer deadline;
};

SearchHandle &SearchHandle::operator=(SearchHandle &&other) noexcept
{
    if (this != &other) {
        cancel();
        conn_ = std::move(other.conn_);
        id_ = other.id_;
        other.id_ = 0;
    }
    return *this;
}

void SearchHandle::cancel() noexcept
{
    if (id_ == 0) return;
    if (auto conn = conn_.lock()) conn->cancel(id_);
    id_ = 0;
}

LdapConnection::LdapConnection(EventLoop &loop, Connected connected, std::string uri, const LdapSettings &settings)
    : loop_(loop), handle_(std::move(connected.handle)), info_(connected.info), uri_(std::move(uri)),
      page_size_(settings.page_size), search_timeout_(settings.search_timeout)
{
}

Result<std::shared_ptr<LdapConnection>> LdapConnection::adopt(EventLoop &loop, Connected connected, std::string uri,
                                                              const LdapSettings &settings)
{
    int fd = -1;
    if (ldap_get_option(connected.handle.get(), LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0)
        return Error{Errc::internal, "the connection to " + uri + " has no socket"};
    // From here on nothing may wait on the socket: libldap reads what is
    // there and keeps partial messages for the next event.
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return sys_error("fcntl O_NONBLOCK", errno);
    std::shared_ptr<LdapConnection> conn(new LdapConnection(loop, std::move(connected), std::move(uri), settings));
    std::weak_ptr<LdapConnection> weak = conn;
    auto watch = loop.on_readable(fd, [weak] {
        if (auto c = weak.lock()) c->drain();
    });
    if (!watch) return std::move(watch).error();
    conn->readable_ = std::move(*watch);
    return conn;
}

LdapConnection::~LdapConnection()
{
    readable_.reset(); // before the socket goes with the handle
    if (handle_)
        for (auto &[id, op] : ops_)
            if (op->msgid >= 0) ldap_abandon_ext(handle_.get(), op->msgid, nullptr, nullptr);
}

Result<SearchHandle> LdapConnection::search(SearchSpec spec, SearchDone done)
{
    if (!handle_) return Error{Errc::unavailable, "the connection to " + uri_ + " is closed"};
    auto op = std::make_unique<Op>();
    op->id = next_id_++;
    op->spec = std::move(spec);
    op->done = std::move(done);
    op->paged = op->spec.paged && page_size_ > 0 && info_.supports_paging;
    if (op->paged && paged_running_ != 0) {
        paged_waiting_.push_back(op->id); // sent when the one running is done
    } else {
        Status sent = send_page(*op);
        if (!sent) return std::move(sent).error();
        if (op->paged) paged_running_ = op->id;
    }
    std::weak_ptr<LdapConnection> weak = shared_from_this();
    const std::uint64_t id = op->id;
    const bool own = op->spec.timeout.count() > 0;
    const std::chrono::seconds timeout = own ? op->spec.timeout : search_timeout_;
    const std::string bound = (own ? "" : "ldap_search_timeout = ") + std::to_string(timeout.count()) + " s";
    op->deadline = loop_.after(timeout, [weak, id, bound] {
        auto self = weak.lock();
        if (!self) return;
        auto it = self->ops_.find(id);
        if (it == self->ops_.end()) return;
        Error e{Errc::timeout, "no complete answer from " + self->uri_ + " within " + bound + " for " +
                                   it->second->spec.what};
        if (it->second->msgid >= 0) ldap_abandon_ext(self->handle_.get(), it->second->msgid, nullptr, nullptr);
        self->finish(id, std::move(e));
    });
    ops_.emplace(id, std::move(op));
    return SearchHandle(weak, id);
}

Status LdapConnection::send_page(Op &op)
{
    LDAPControl *page = nullptr;
    if (op.paged) {
        berval cookie{static_cast<ber_len_t>(op.cookie.size()), op.cookie.data()};
        int rc = ldap_create_page_control(handle_.get(), page_size_, op.cookie.empty() ? nullptr : &cookie, 0, &page);
        if (rc != LDAP_SUCCESS) return Error{Errc::internal, describe(handle_.get(), rc, "paged results control")};
    }
    LDAPControl *controls[] = {page, nullptr};
    std::vector<char *> attrs;
    for (std::string &a : op.spec.attributes) attrs.push_back(a.data());
    attrs.push_back(nullptr);
    const auto timeout = op.spec.timeout.count() > 0 ? op.spec.timeout : search_timeout_;
    timeval limit{static_cast<time_t>(timeout.count()), 0};
    int msgid = -1;
    int rc = ldap_search_ext(handle_.get(), op.spec.base.c_str(), scope_value(op.spec.scope), op.spec.filter.c_str(),
                             op.spec.attributes.empty() ? nullptr : attrs.data(), 0, page ? controls : nullptr,
                             nullptr, &limit, LDAP_NO_LIMIT, &msgid);
    if (page) ldap_control_free(page);
    if (rc != LDAP_SUCCESS) {
        Error e{classify(rc), describe(handle_.get(), rc, "searching " + uri_ + " for " + op.spec.what)};
        if (rc == LDAP_SERVER_DOWN) {
            // Not now: the caller has not got its handle yet. The next turn
            // tells everyone else; this caller learns it from the return.
            std::weak_ptr<LdapConnection> weak = weak_from_this();
            broken_later_ = loop_.after(std::chrono::milliseconds(-1), [weak, e] {
                if (auto self = weak.lock(); self && self->handle_) self->broken(e);
            });
        }
        return e;
    }
    op.msgid = msgid;
    by_msgid_[msgid] = op.id;
    return {};
}

void LdapConnection::drain()
{
    auto keep = shared_from_this(); // a callback may drop its owner's reference
    for (int handled = 0; handle_; ++handled) {
        if (handled == drain_batch) {
            // Give the loop a turn; libldap may hold more than the fd shows.
            std::weak_ptr<LdapConnection> weak = keep;
            drain_later_ = loop_.after(std::chrono::milliseconds(-1), [weak] {
                if (auto self = weak.lock()) self->drain();
            });
            return;
        }
        LDAPMessage *raw = nullptr;
        timeval zero{0, 0};
        int rc = ldap_result(handle_.get(), LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &raw);
        if (rc == 0) return;
        if (rc < 0) {
            int code = LDAP_SERVER_DOWN;
            ldap_get_option(handle_.get(), LDAP_OPT_RESULT_CODE, &code);
            broken(Error{Errc::unavailable, describe(handle_.get(), code, "the connection to " + uri_)});
            return;
        }
        MessagePtr msg(raw);
        handle_message(msg.get());
    }
}

void LdapConnection::handle_message(LDAPMessage *msg)
{
    const int msgid = ldap_msgid(msg);
    auto by = by_msgid_.find(msgid);
    if (by == by_msgid_.end()) return; // an abandoned search's leftovers
    const std::uint64_t id = by->second;
    Op &op = *ops_.at(id);
    switch (ldap_msgtype(msg)) {
    case LDAP_RES_SEARCH_ENTRY:
        if (op.result.entries.size() >= op.spec.max_entries) {
            ldap_abandon_ext(handle_.get(), msgid, nullptr, nullptr);
            by_msgid_.erase(by);
            op.msgid = -1;
            finish(id, Error{Errc::protocol, uri_ + " sent more than " + std::to_string(op.spec.max_entries) +
                                                 " entries for " + op.spec.what + "; the search was abandoned"});
            return;
        }
        // As many attributes as asked for, usually: one allocation for them.
        op.result.entries.push_back(
            parse_entry(handle_.get(), msg, op.spec.attributes.empty() ? 8 : op.spec.attributes.size()));
        return;
    case LDAP_RES_SEARCH_RESULT: break;
    default: return; // references: not chased (see ldap_connect.cpp)
    }
    by_msgid_.erase(by);
    op.msgid = -1;
    op.result.pages += 1;
    int code = LDAP_OTHER;
    char *diag = nullptr;
    LDAPControl **controls = nullptr;
    int rc = ldap_parse_result(handle_.get(), msg, &code, nullptr, &diag, nullptr, &controls, 0);
    std::string server_said = diag && *diag ? std::string(" (") + diag + ")" : "";
    ldap_memfree(diag);
    std::string cookie;
    if (rc == LDAP_SUCCESS && code == LDAP_SUCCESS && op.paged) {
        if (LDAPControl *ctrl = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, controls, nullptr)) {
            ber_int_t estimate = 0;
            berval c{0, nullptr};
            if (ldap_parse_pageresponse_control(handle_.get(), ctrl, &estimate, &c) == LDAP_SUCCESS && c.bv_val) {
                cookie.assign(c.bv_val, c.bv_len);
                ber_memfree(c.bv_val);
            }
        }
    }
    ldap_controls_free(controls);

    if (rc != LDAP_SUCCESS) {
        finish(id, Error{Errc::protocol, describe(handle_.get(), rc, "the answer from " + uri_ + " for " + op.spec.what)});
    } else if (code == LDAP_SIZELIMIT_EXCEEDED) {
        finish(id, Error{Errc::protocol, "the size limit of " + uri_ + " cut the answer for " + op.spec.what +
                                             " short after " + std::to_string(op.result.entries.size()) +
                                             " entries" + (op.paged ? "" : " (the server does not page, or ldap_page_size = 0)")});
    } else if (code != LDAP_SUCCESS) {
        finish(id, Error{classify(code), "searching " + uri_ + " for " + op.spec.what + ": " +
                                             ldap_err2string(code) + server_said});
    } else if (!cookie.empty()) {
        op.cookie = std::move(cookie);
        Status next = send_page(op);
        if (!next) finish(id, std::move(next).error());
    } else {
        finish(id, std::move(op.result));
    }
}

void LdapConnection::finish(std::uint64_t id, Result<SearchResult> result)
{
    auto it = ops_.find(id);
    if (it == ops_.end()) return;
    std::unique_ptr<Op> op = std::move(it->second);
    ops_.erase(it);
    if (op->msgid >= 0) by_msgid_.erase(op->msgid);
    paged_done(id);
    if (op->done) op->done(std::move(result));
}

void LdapConnection::paged_done(std::uint64_t id)
{
    if (id != paged_running_) return;
    paged_running_ = 0;
    while (!paged_waiting_.empty() && handle_) {
        const std::uint64_t next = paged_waiting_.front();
        paged_waiting_.pop_front();
        auto it = ops_.find(next);
        if (it == ops_.end()) continue; // timed out or cancelled while waiting
        Status sent = send_page(*it->second);
        if (sent) {
            paged_running_ = next;
            return;
        }
        finish(next, std::move(sent).error()); // and on to the next
        if (paged_running_ != 0) return;      // its callback started one
    }
}

void LdapConnection::cancel(std::uint64_t id)
{
    auto it = ops_.find(id);
    if (it == ops_.end()) return;
    if (it->second->msgid >= 0) {
        if (handle_) ldap_abandon_ext(handle_.get(), it->second->msgid, nullptr, nullptr);
        by_msgid_.erase(it->second->msgid);
    }
    ops_.erase(it);
    paged_done(id);
}

void LdapConnection::broken(const Error &error)
{
    VLOG(minor, "%s", error.message.c_str());
    readable_.reset();
    handle_.reset();
    by_msgid_.clear();
    paged_running_ = 0;
    paged_waiting_.clear();
    auto ops = std::move(ops_);
    ops_.clear();
    for (auto &[id, op] : ops)
        if (op->done) op->done(Error{Errc::unavailable, error.message + " (while searching for " + op->spec.what + ")"});
    if (auto handler = std::move(on_broken_)) handler(error);
}

} // namespace vigil::ldap
