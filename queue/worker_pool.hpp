#pragma once

#include "queue/mpmc_ring.hpp"

#include <cstddef>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

namespace tgsearch {

/// A fixed set of threads that pop elements from an mpmc_ring and pass each to a handler.
///
/// The threads stop once the ring is closed and drained; `join` (or the destructor) waits for
/// them. The handler runs on the worker threads and must be safe to call concurrently. It must
/// not throw: an exception that leaves it ends the process through std::terminate, so catch
/// and report errors inside the handler.
template <class T>
class worker_pool {
public:
    using handler_type = std::function<void(T&)>;

    /// Starts `thread_count` threads (at least one) consuming from `ring`, which must outlive
    /// the pool. When a thread cannot be started, closes the ring, joins the threads already
    /// started and rethrows the std::system_error.
    worker_pool(mpmc_ring<T>& ring, std::size_t thread_count, handler_type handler)
        : ring_(ring), handler_(std::move(handler)) {
        if (thread_count == 0) {
            thread_count = 1;
        }
        threads_.reserve(thread_count);
        try {
            for (std::size_t i = 0; i < thread_count; ++i) {
                threads_.emplace_back([this] { run(); });
            }
        } catch (...) {
            // The threads already started must not outlive a pool that failed to construct.
            ring_.close();
            join();
            throw;
        }
    }

    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    /// Closes the ring and waits for the threads to drain it.
    ~worker_pool() {
        ring_.close();
        join();
    }

    /// Waits for every thread to finish. Returns only after the ring has been closed.
    void join() {
        for (std::thread& thread : threads_) {
            if (thread.joinable()) {
                thread.join();
            }
        }
    }

    std::size_t size() const noexcept { return threads_.size(); }

private:
    void run() {
        T item;
        while (ring_.pop_wait(item)) {
            handler_(item);
        }
    }

    mpmc_ring<T>& ring_;
    handler_type handler_;
    std::vector<std::thread> threads_;
};

}  // namespace tgsearch
