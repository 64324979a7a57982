#include "util/ini.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vigil {
namespace {

constexpr std::size_t max_file_size = 1024 * 1024;

std::string_view trim(std::string_view s)
{
    const char *ws = " \t";
    std::size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    std::size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

bool is_section_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '/';
}

bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

template <typename Pred>
bool all_of(std::string_view s, Pred pred)
{
    for (char c : s)
        if (!pred(c)) return false;
    return true;
}

class Parser {
public:
    Parser(const std::string &path, std::vector<Problem> &problems)
        : problems_(problems) { file_.path = path; }

    void line(std::string_view raw, int number)
    {
        number_ = number;
        if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
        if (raw.size() > ini_max_line) return fail("line is longer than 4096 bytes");
        if (raw.find('\0') != std::string_view::npos) return fail("line contains a NUL byte");
        if (!is_valid_utf8(raw)) return fail("line is not valid UTF-8");

        std::string_view text = trim(raw);
        if (text.empty() || text.front() == '#' || text.front() == ';') return;
        if (text.front() == '[') return header(text);
        return option(text);
    }

    IniFile take() { return std::move(file_); }

private:
    void fail(std::string message) { problems_.push_back({file_.path, number_, std::move(message)}); }

    void header(std::string_view text)
    {
        // A broken header still opens a section (named "") so that the options
        // below it are not also reported as being outside of any section.
        std::size_t close = text.find(']');
        if (close == std::string_view::npos) {
            fail("section header is missing the closing ']'");
            return open_section("", false);
        }
        std::string_view after = trim(text.substr(close + 1));
        if (!after.empty() && after.front() != '#' && after.front() != ';') {
            fail("unexpected text after section header: '" + std::string(after) + "'");
        }
        std::string_view name = trim(text.substr(1, close - 1));
        if (name.empty()) {
            fail("empty section name");
            return open_section("", false);
        }
        if (!all_of(name, is_section_char)) {
            fail("section name '" + std::string(name) +
                 "' may only hold letters, digits and . _ - /");
            return open_section("", false);
        }
        for (const IniSection &s : file_.sections) {
            if (s.name == name) {
                fail("section [" + std::string(name) + "] appears twice in this file (first at line " +
                     std::to_string(s.line) + ")");
                return open_section("", false);
            }
        }
        open_section(std::string(name), true);
    }

    void open_section(std::string name, bool valid)
    {
        if (!valid) {
            current_ = nullptr;
            in_broken_section_ = true;
            return;
        }
        file_.sections.push_back(IniSection{std::move(name), number_, {}});
        current_ = &file_.sections.back();
        in_broken_section_ = false;
    }

    void option(std::string_view text)
    {
        std::size_t eq = text.find('=');
        if (eq == std::string_view::npos) {
            return fail("expected 'key = value', a [section] header or a comment");
        }
        std::string_view key = trim(text.substr(0, eq));
        std::string_view value = trim(text.substr(eq + 1));
        if (key.empty()) return fail("option name is empty");
        if (!all_of(key, is_key_char)) {
            return fail("option name '" + std::string(key) + "' may only hold letters, digits and _");
        }
        if (current_ == nullptr) {
            if (in_broken_section_) return; // already reported at the header
            return fail("option '" + std::string(key) + "' is outside of any section");
        }
        for (const IniEntry &e : current_->entries) {
            if (e.key == key) {
                return fail("option '" + std::string(key) + "' is set twice in [" + current_->name +
                            "] (first at line " + std::to_string(e.line) + ")");
            }
        }
        current_->entries.push_back(IniEntry{std::string(key), std::string(value), number_});
    }

    IniFile file_;
    std::vector<Problem> &problems_;
    IniSection *current_ = nullptr;
    bool in_broken_section_ = false;
    int number_ = 0;
};

} // namespace

std::string Problem::to_string() const
{
    if (line > 0) return file + ":" + std::to_string(line) + ": " + message;
    return file + ": " + message;
}

bool is_valid_utf8(std::string_view text) noexcept
{
    const auto *p = reinterpret_cast<const unsigned char *>(text.data());
    const auto *end = p + text.size();
    while (p < end) {
        unsigned char c = *p;
        int extra;
        unsigned min;
        if (c < 0x80) { ++p; continue; }
        if ((c & 0xe0) == 0xc0) { extra = 1; min = 0x80; c &= 0x1f; }
        else if ((c & 0xf0) == 0xe0) { extra = 2; min = 0x800; c &= 0x0f; }
        else if ((c & 0xf8) == 0xf0) { extra = 3; min = 0x10000; c &= 0x07; }
        else return false;
        if (end - p <= extra) return false;
        unsigned cp = c;
        for (int i = 1; i <= extra; ++i) {
            if ((p[i] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        // Overlong forms, UTF-16 surrogates and values past U+10FFFF are invalid.
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        p += extra + 1;
    }
    return true;
}

IniFile parse_ini(std::string_view text, const std::string &path, std::vector<Problem> &problems)
{
    Parser parser(path, problems);
    int number = 0;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        std::string_view raw = text.substr(0, nl);
        parser.line(raw, ++number);
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return parser.take();
}

IniFile read_ini_file(const std::string &path, std::vector<Problem> &problems)
{
    IniFile empty;
    empty.path = path;
    auto fail = [&](std::string message) {
        problems.push_back({path, 0, std::move(message)});
        return empty;
    };

    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        return fail(std::string("cannot stat: ") + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail("not a regular file");
    }
    uid_t me = geteuid();
    if (st.st_uid != 0 && st.st_uid != me) {
        ::close(fd);
        if (me == 0) return fail("owned by uid " + std::to_string(st.st_uid) + ": it must be owned by root");
        return fail("owned by uid " + std::to_string(st.st_uid) + ": it must be owned by root or by uid " +
                    std::to_string(me) + " (the user running vigil)");
    }
    if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
        ::close(fd);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return fail(std::string("group or others can read or write it (mode ") + mode +
                    "): it may hold secrets; run chmod 0600 on it");
    }
    if (st.st_size > static_cast<off_t>(max_file_size)) {
        ::close(fd);
        return fail("larger than 1 MiB: not a configuration file");
    }

    std::string text;
    text.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < text.size()) {
        ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            ::close(fd);
            return fail(std::string("cannot read: ") + std::strerror(e));
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    text.resize(got);
    return parse_ini(text, path, problems);
}

} // namespace vigil
