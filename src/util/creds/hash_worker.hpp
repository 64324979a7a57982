// Password hashing off the event loop. A hash costs tens of milliseconds of
// CPU on purpose; computed on the loop it would stall every other login and
// the monitor's pings (DESIGN.md "Nothing slow on an event loop").
#pragma once

#include "util/result.hpp"
#include "util/secret.hpp"
#include "util/worker_pool.hpp"

#include <functional>
#include <memory>
#include <string>

namespace vigil::creds {

class HashWorker : public WorkerPool {
public:
    // New hashes are made with `hash_cost` (creds/password_hash.hpp).
    static Result<std::unique_ptr<HashWorker>> start(EventLoop &loop, Limits limits, unsigned hash_cost);

    // hash_password / password_matches (creds/password_hash.hpp) in a thread.
    // A job dropped at destruction wipes its password.
    Status hash(Secret password, std::function<void(Result<std::string>)> done);
    Status verify(Secret password, std::string stored_hash, std::function<void(Result<bool>)> done);
    // hash(), then `keep` with the hash, both in the worker: keeping it is a
    // durable commit (an fsync), which must not stall the loop either.
    // `done` gets keep's status (or the hash's error) on the loop.
    Status hash_and_keep(Secret password, std::function<Status(std::string)> keep, std::function<void(Status)> done);

private:
    HashWorker(Limits limits, unsigned hash_cost) : WorkerPool("hash worker", limits), hash_cost_(hash_cost) {}
    unsigned hash_cost_;
};

} // namespace vigil::creds
