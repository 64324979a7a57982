// Drives libdbus from our event loop: a DBusWatch becomes fd watches, a
// DBusTimeout a monotonic Timer (libdbus's timeouts repeat until removed),
// and after any I/O the owner is told so it can dispatch.
#pragma once

#include "util/event.hpp"

#include <functional>
#include <map>
#include <vector>

struct DBusWatch;
struct DBusTimeout;

namespace vigil::sbus {

class Glue {
public:
    Glue(EventLoop &loop, std::function<void()> after_io) : loop_(loop), after_io_(std::move(after_io)) {}
    Glue(const Glue &) = delete;
    Glue &operator=(const Glue &) = delete;

    // The C callbacks handed to dbus_{connection,server}_set_*_functions with
    // `this` as their data.
    static unsigned add_watch(DBusWatch *watch, void *data);
    static void remove_watch(DBusWatch *watch, void *data);
    static void toggle_watch(DBusWatch *watch, void *data);
    static unsigned add_timeout(DBusTimeout *timeout, void *data);
    static void remove_timeout(DBusTimeout *timeout, void *data);
    static void toggle_timeout(DBusTimeout *timeout, void *data);

private:
    bool arm_watch(DBusWatch *watch);
    void arm_timeout(DBusTimeout *timeout);
    void fire_timeout(DBusTimeout *timeout);

    EventLoop &loop_;
    std::function<void()> after_io_;
    std::map<DBusWatch *, std::vector<Watch>> watches_;
    std::map<DBusTimeout *, Timer> timeouts_;
};

} // namespace vigil::sbus
