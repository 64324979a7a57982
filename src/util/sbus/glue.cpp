#include "util/sbus/glue.hpp"

#include "util/log.hpp"

#include <dbus/dbus.h>

namespace vigil::sbus {

bool Glue::arm_watch(DBusWatch *watch)
{
    std::vector<Watch> &events = watches_[watch];
    events.clear();
    if (!dbus_watch_get_enabled(watch)) return true;
    int fd = dbus_watch_get_unix_fd(watch);
    unsigned flags = dbus_watch_get_flags(watch);
    auto handle = [this, watch](unsigned condition) {
        dbus_watch_handle(watch, condition);
        after_io_();
    };
    if (flags & DBUS_WATCH_READABLE) {
        auto w = loop_.on_readable(fd, [handle] { handle(DBUS_WATCH_READABLE); });
        if (!w) return false;
        events.push_back(std::move(*w));
    }
    if (flags & DBUS_WATCH_WRITABLE) {
        auto w = loop_.on_writable(fd, [handle] { handle(DBUS_WATCH_WRITABLE); });
        if (!w) return false;
        events.push_back(std::move(*w));
    }
    return true;
}

unsigned Glue::add_watch(DBusWatch *watch, void *data)
{
    auto *glue = static_cast<Glue *>(data);
    if (glue->arm_watch(watch)) return TRUE;
    VLOG(error, "cannot watch a D-Bus socket (fd %d)", dbus_watch_get_unix_fd(watch));
    glue->watches_.erase(watch);
    return FALSE;
}

void Glue::remove_watch(DBusWatch *watch, void *data)
{
    static_cast<Glue *>(data)->watches_.erase(watch);
}

void Glue::toggle_watch(DBusWatch *watch, void *data)
{
    auto *glue = static_cast<Glue *>(data);
    if (!glue->arm_watch(watch)) VLOG(error, "cannot re-arm a D-Bus watch (fd %d)", dbus_watch_get_unix_fd(watch));
}

void Glue::arm_timeout(DBusTimeout *timeout)
{
    Timer &timer = timeouts_[timeout];
    timer.cancel();
    if (!dbus_timeout_get_enabled(timeout)) return;
    timer = loop_.after(std::chrono::milliseconds(dbus_timeout_get_interval(timeout)),
                        [this, timeout] { fire_timeout(timeout); });
}

void Glue::fire_timeout(DBusTimeout *timeout)
{
    // Handling may remove the timeout (a pending call that timed out): then
    // its Timer is gone too. Otherwise it repeats, as libdbus expects.
    dbus_timeout_handle(timeout);
    auto it = timeouts_.find(timeout);
    if (it != timeouts_.end() && !it->second.pending()) arm_timeout(timeout);
    after_io_();
}

unsigned Glue::add_timeout(DBusTimeout *timeout, void *data)
{
    static_cast<Glue *>(data)->arm_timeout(timeout);
    return TRUE;
}

void Glue::remove_timeout(DBusTimeout *timeout, void *data)
{
    static_cast<Glue *>(data)->timeouts_.erase(timeout);
}

void Glue::toggle_timeout(DBusTimeout *timeout, void *data)
{
    static_cast<Glue *>(data)->arm_timeout(timeout);
}

} // namespace vigil::sbus
