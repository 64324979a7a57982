#include "util/creds/hash_worker.hpp"

#include "util/creds/password_hash.hpp"

namespace vigil::creds {

Result<std::unique_ptr<HashWorker>> HashWorker::start(EventLoop &loop, Limits limits, unsigned hash_cost)
{
    if (hash_cost < min_hash_cost || hash_cost > max_hash_cost)
        return Error{Errc::invalid_argument, "password hash cost " + std::to_string(hash_cost) + " is out of range"};
    std::unique_ptr<HashWorker> worker(new HashWorker(limits, hash_cost));
    if (Status st = worker->launch(loop); !st) return std::move(st).error();
    return worker;
}

Status HashWorker::hash(Secret password, std::function<void(Result<std::string>)> done)
{
    return run<std::string>([password = std::move(password), cost = hash_cost_] { return hash_password(password, cost); }, std::move(done));
}

Status HashWorker::hash_and_keep(Secret password, std::function<Status(std::string)> keep,
                                 std::function<void(Status)> done)
{
    if (!keep || !done) return Error{Errc::invalid_argument, "hash_and_keep without a keep step or a callback"};
    return run<bool>(
        [password = std::move(password), cost = hash_cost_, keep = std::move(keep)]() -> Result<bool> {
            auto hashed = hash_password(password, cost);
            if (!hashed) return std::move(hashed).error();
            if (Status kept = keep(std::move(*hashed)); !kept) return std::move(kept).error();
            return true;
        },
        [done = std::move(done)](Result<bool> r) { done(r ? Status{} : Status(std::move(r).error())); });
}

Status HashWorker::verify(Secret password, std::string stored_hash, std::function<void(Result<bool>)> done)
{
    return run<bool>([password = std::move(password), stored = std::move(stored_hash)] {
        return password_matches(password, stored);
    }, std::move(done));
}

} // namespace vigil::creds
