// Password hashing off the event loop. A hash costs tens of milliseconds of
// CPU on purpose; computed on the loop it would stall every other login and
// the monitor's pings (DESIGN.md "Nothing slow on an event loop").
//
// A fixed number of threads, started with the worker and joined when it is
// destroyed (never detached), take jobs from a bounded queue; each result
// comes back to the loop through an eventfd and its callback runs there.
#pragma once

#include "util/event.hpp"
#include "util/result.hpp"
#include "util/secret.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace vigil::creds {

class HashWorker {
public:
    struct Limits {
        unsigned threads = 2;        // hashes computed at the same time
        std::size_t max_queued = 64; // jobs waiting or running; more are refused
    };

    static Result<std::unique_ptr<HashWorker>> start(EventLoop &loop, Limits limits);
    // Drops the jobs not started (their passwords are wiped), waits for the
    // running ones, joins the threads. No callback runs after this.
    ~HashWorker();
    HashWorker(const HashWorker &) = delete;
    HashWorker &operator=(const HashWorker &) = delete;

    // Runs `work` on a worker thread and then `done(result)` in the loop.
    // Errc::unavailable when max_queued jobs are already in. An exception
    // from `work` arrives as an Errc::internal error.
    template <class T>
    Status run(std::function<Result<T>()> work, std::function<void(Result<T>)> done);

    // hash_password / password_matches (creds/password_hash.hpp) in a thread.
    Status hash(Secret password, std::function<void(Result<std::string>)> done);
    Status verify(Secret password, std::string stored_hash, std::function<void(Result<bool>)> done);

private:
    struct Job {
        std::function<void()> work;    // on a worker thread; fills the result
        std::function<void()> deliver; // in the loop; hands the result over
    };

    explicit HashWorker(Limits limits) : limits_(limits) {}
    Status enqueue(Job job);
    void thread_main() noexcept;
    void deliver_finished();
    static std::string describe(std::exception_ptr failure);

    Limits limits_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queued_;
    std::deque<Job> finished_;
    std::size_t running_ = 0;
    bool stopping_ = false;
    int event_fd_ = -1;
    Watch watch_;
    std::vector<std::thread> threads_;
    std::shared_ptr<char> alive_ = std::make_shared<char>(0); // expires when destroyed
};

template <class T>
Status HashWorker::run(std::function<Result<T>()> work, std::function<void(Result<T>)> done)
{
    if (!work || !done) return Error{Errc::invalid_argument, "hash worker: empty job or callback"};
    auto slot = std::make_shared<std::optional<Result<T>>>();
    Job job;
    job.work = [slot, work = std::move(work)] {
        try {
            slot->emplace(work());
        } catch (...) {
            slot->emplace(Error{Errc::internal, "hash worker job failed: " + describe(std::current_exception())});
        }
    };
    job.deliver = [slot, done = std::move(done)] {
        if (!slot->has_value()) done(Error{Errc::internal, "hash worker job ended without a result"});
        else done(std::move(**slot));
    };
    return enqueue(std::move(job));
}

} // namespace vigil::creds
