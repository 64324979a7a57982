#include "util/worker_pool.hpp"

#include "util/log.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace vigil {

Result<std::unique_ptr<WorkerPool>> WorkerPool::start(EventLoop &loop, std::string name, Limits limits)
{
    std::unique_ptr<WorkerPool> pool(new WorkerPool(std::move(name), limits));
    if (Status st = pool->launch(loop); !st) return std::move(st).error();
    return pool;
}

Status WorkerPool::launch(EventLoop &loop)
{
    if (limits_.threads == 0 || limits_.max_queued == 0)
        return Error{Errc::invalid_argument, name_ + ": needs at least one thread and one queue slot"};
    event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd_ < 0) return sys_error(name_ + ": eventfd", errno);
    auto watch = loop.on_readable(event_fd_, [this] { deliver_finished(); });
    if (!watch) return std::move(watch).error();
    watch_ = std::move(*watch);
    try {
        for (unsigned i = 0; i < limits_.threads; ++i) threads_.emplace_back([this] { thread_main(); });
    } catch (const std::system_error &e) {
        // The destructor stops and joins the threads that did start.
        return Error{Errc::internal, name_ + ": cannot start a thread: " + e.what()};
    }
    return {};
}

WorkerPool::~WorkerPool()
{
    std::deque<Job> dropped;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        dropped.swap(queued_);
    }
    wake_.notify_all();
    dropped.clear(); // outside the lock: what they captured (passwords too) goes here
    for (std::thread &t : threads_) t.join();
    watch_.reset();
    if (event_fd_ >= 0) close(event_fd_);
}

Status WorkerPool::enqueue(Job job)
{
    {
        std::lock_guard lock(mutex_);
        if (queued_.size() + running_ >= limits_.max_queued)
            return Error{Errc::unavailable, name_ + ": " + std::to_string(limits_.max_queued) + " jobs already queued; try again"};
        queued_.push_back(std::move(job));
    }
    wake_.notify_one();
    return {};
}

void WorkerPool::thread_main() noexcept
{
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
        if (stopping_) return;
        Job job = std::move(queued_.front());
        queued_.pop_front();
        ++running_;
        lock.unlock();
        job.work();
        job.work = nullptr; // what it captured (a password) is destroyed now, not when delivered
        lock.lock();
        --running_;
        try {
            finished_.push_back(std::move(job));
        } catch (...) {
            // Out of memory: the caller's callback will not run; say so.
            VLOG(critical, "%s: cannot queue a finished job (out of memory)", name_.c_str());
            continue;
        }
        std::uint64_t one = 1;
        if (write(event_fd_, &one, sizeof one) < 0 && errno != EAGAIN)
            VLOG(critical, "%s: cannot wake the event loop: %s", name_.c_str(), std::strerror(errno));
    }
}

void WorkerPool::deliver_finished()
{
    std::uint64_t count = 0;
    if (read(event_fd_, &count, sizeof count) < 0 && errno != EAGAIN)
        VLOG(minor, "%s: read eventfd: %s", name_.c_str(), std::strerror(errno));
    std::deque<Job> ready;
    {
        std::lock_guard lock(mutex_);
        ready.swap(finished_);
    }
    // A callback may destroy this worker: then the others are dropped.
    std::weak_ptr<char> alive = alive_;
    while (!ready.empty() && !alive.expired()) {
        Job job = std::move(ready.front());
        ready.pop_front();
        job.deliver();
    }
}

std::string WorkerPool::describe(std::exception_ptr failure)
{
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception &e) {
        return e.what();
    } catch (...) {
        return "not a std::exception";
    }
}

} // namespace vigil
