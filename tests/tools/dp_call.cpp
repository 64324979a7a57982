// dp_call: asks a domain's provider (vigil_be) for a lookup, as a responder
// would, and prints the outcome: the integration tests drive the provider
// with it before the responders exist to do so.
//
//   dp_call SOCKET user|uid|group|gid|initgroups KEY [COPIES]
// COPIES calls are made at once (default 1); each outcome is printed as
// "OUTCOME MESSAGE" on a line of its own.
#include "util/event.hpp"
#include "util/log.hpp"
#include "util/sbus/connection.hpp"
#include "util/sbus/dp_iface.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace vigil;

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        std::fprintf(stderr, "usage: dp_call SOCKET user|uid|group|gid|initgroups KEY [COPIES]\n");
        return 2;
    }
    log::set_identity("dp_call", "");
    log::set_level(1);
    const std::string kind = argv[2];
    dp_iface::Lookup lookup;
    if (kind == "user") lookup = dp_iface::Lookup::user_by_name;
    else if (kind == "uid") lookup = dp_iface::Lookup::user_by_uid;
    else if (kind == "group") lookup = dp_iface::Lookup::group_by_name;
    else if (kind == "gid") lookup = dp_iface::Lookup::group_by_gid;
    else if (kind == "initgroups") lookup = dp_iface::Lookup::initgroups;
    else return 2;
    const int copies = argc == 5 ? std::atoi(argv[4]) : 1;
    auto loop = EventLoop::create();
    if (!loop) return 1;
    auto conn = sbus::Connection::connect(**loop, argv[1], {});
    if (!conn) {
        std::printf("error cannot connect: %s\n", conn.error().message.c_str());
        return 1;
    }
    int waiting = copies;
    for (int i = 0; i < copies; ++i) {
        Status sent = (*conn)->call(dp_iface::interface, "getAccountInfo",
                                    {static_cast<std::uint32_t>(lookup), std::string(argv[3])},
                                    std::chrono::seconds(60), [&](Result<sbus::Args> r) {
                                        if (!r) std::printf("error %s\n", r.error().message.c_str());
                                        else
                                            std::printf("%s %s\n",
                                                        dp_iface::outcome_name(static_cast<dp_iface::Outcome>(
                                                            sbus::get<std::uint32_t>(*r, 0))),
                                                        sbus::get<std::string>(*r, 1).c_str());
                                        if (--waiting == 0) (*loop)->quit(0);
                                    });
        if (!sent) {
            std::printf("error %s\n", sent.error().message.c_str());
            return 1;
        }
    }
    (*loop)->run();
    (*conn)->close();
    return 0;
}
