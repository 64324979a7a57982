// Work that must not run on an event loop (a slow hash, an XSLT render, a
// visudo check) done by a few threads, its results handed back to the loop.
//
// A fixed number of threads, started with the pool and joined when it is
// destroyed (never detached), take jobs from a bounded queue; each result
// comes back to the loop through an eventfd and its callback runs there.
#pragma once

#include "util/event.hpp"
#include "util/result.hpp"

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

namespace vigil {

class WorkerPool {
public:
    struct Limits {
        unsigned threads = 2;        // jobs run at the same time
        std::size_t max_queued = 64; // jobs waiting or running; more are refused
    };

    // `name` prefixes every error and log line ("hash worker: ...").
    static Result<std::unique_ptr<WorkerPool>> start(EventLoop &loop, std::string name, Limits limits);
    // Drops the jobs not started (what they captured is destroyed here),
    // waits for the running ones, joins the threads. No callback runs after this.
    virtual ~WorkerPool();
    WorkerPool(const WorkerPool &) = delete;
    WorkerPool &operator=(const WorkerPool &) = delete;

    // Runs `work` on a worker thread and then `done(result)` in the loop.
    // Errc::unavailable when max_queued jobs are already in. An exception
    // from `work` arrives as an Errc::internal error.
    template <class T>
    Status run(std::function<Result<T>()> work, std::function<void(Result<T>)> done);

protected:
    WorkerPool(std::string name, Limits limits) : name_(std::move(name)), limits_(limits) {}
    // Starts the threads and the loop's watch (what start() does after construction).
    Status launch(EventLoop &loop);

private:
    struct Job {
        std::function<void()> work;    // on a worker thread; fills the result
        std::function<void()> deliver; // in the loop; hands the result over
    };

    Status enqueue(Job job);
    void thread_main() noexcept;
    void deliver_finished();
    static std::string describe(std::exception_ptr failure);

    std::string name_;
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
Status WorkerPool::run(std::function<Result<T>()> work, std::function<void(Result<T>)> done)
{
    if (!work || !done) return Error{Errc::invalid_argument, name_ + ": empty job or callback"};
    auto slot = std::make_shared<std::optional<Result<T>>>();
    Job job;
    job.work = [slot, work = std::move(work), name = name_] {
        try {
            slot->emplace(work());
        } catch (...) {
            slot->emplace(Error{Errc::internal, name + " job failed: " + describe(std::current_exception())});
        }
    };
    job.deliver = [slot, done = std::move(done), name = name_] {
        if (!slot->has_value()) done(Error{Errc::internal, name + " job ended without a result"});
        else done(std::move(**slot));
    };
    return enqueue(std::move(job));
}

} // namespace vigil
