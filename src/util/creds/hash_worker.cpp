#include "util/creds/hash_worker.hpp"

#include "util/creds/password_hash.hpp"
#include "util/log.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace vigil::creds {

Result<std::unique_ptr<HashWorker>> HashWorker::start(EventLoop &loop, Limits limits)
{
    if (limits.threads == 0 || limits.max_queued == 0)
        return Error{Errc::invalid_argument, "hash worker: needs at least one thread and one queue slot"};
    std::unique_ptr<HashWorker> worker(new HashWorker(limits));
    worker->event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (worker->event_fd_ < 0) return sys_error("hash worker: eventfd", errno);
    HashWorker *self = worker.get();
    auto watch = loop.on_readable(worker->event_fd_, [self] { self->deliver_finished(); });
    if (!watch) return std::move(watch).error();
    worker->watch_ = std::move(*watch);
    try {
        for (unsigned i = 0; i < limits.threads; ++i) worker->threads_.emplace_back([self] { self->thread_main(); });
    } catch (const std::system_error &e) {
        // The destructor stops and joins the threads that did start.
        return Error{Errc::internal, std::string("hash worker: cannot start a thread: ") + e.what()};
    }
    return worker;
}

HashWorker::~HashWorker()
{
    std::deque<Job> dropped;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        dropped.swap(queued_);
    }
    wake_.notify_all();
    dropped.clear(); // outside the lock: their Secrets wipe themselves here
    for (std::thread &t : threads_) t.join();
    watch_.reset();
    if (event_fd_ >= 0) close(event_fd_);
}

Status HashWorker::enqueue(Job job)
{
    {
        std::lock_guard lock(mutex_);
        if (queued_.size() + running_ >= limits_.max_queued)
            return Error{Errc::unavailable, "hash worker: " + std::to_string(limits_.max_queued) +
                                                " password hashes already queued; try again"};
        queued_.push_back(std::move(job));
    }
    wake_.notify_one();
    return {};
}

void HashWorker::thread_main() noexcept
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
        job.work = nullptr; // the password it captured is wiped now, not when delivered
        lock.lock();
        --running_;
        try {
            finished_.push_back(std::move(job));
        } catch (...) {
            // Out of memory: the caller's callback will not run; say so.
            VLOG(critical, "hash worker: cannot queue a finished job (out of memory)");
            continue;
        }
        std::uint64_t one = 1;
        if (write(event_fd_, &one, sizeof one) < 0 && errno != EAGAIN)
            VLOG(critical, "hash worker: cannot wake the event loop: %s", std::strerror(errno));
    }
}

void HashWorker::deliver_finished()
{
    std::uint64_t count = 0;
    if (read(event_fd_, &count, sizeof count) < 0 && errno != EAGAIN)
        VLOG(minor, "hash worker: read eventfd: %s", std::strerror(errno));
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

std::string HashWorker::describe(std::exception_ptr failure)
{
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception &e) {
        return e.what();
    } catch (...) {
        return "not a std::exception";
    }
}

Status HashWorker::hash(Secret password, std::function<void(Result<std::string>)> done)
{
    return run<std::string>([password = std::move(password)] { return hash_password(password); }, std::move(done));
}

Status HashWorker::verify(Secret password, std::string stored_hash, std::function<void(Result<bool>)> done)
{
    return run<bool>([password = std::move(password), stored = std::move(stored_hash)] {
        return password_matches(password, stored);
    }, std::move(done));
}

} // namespace vigil::creds
