#pragma once

// A bounded lock-free multi-producer multi-consumer ring buffer.
//
// Each slot carries a sequence number that records whose turn it is: a producer may fill slot
// `pos & mask` when its sequence equals `pos`, a consumer may empty it when the sequence equals
// `pos + 1`. A producer claims a position with one CAS on the enqueue counter, writes the value,
// then publishes it with a release store of the sequence; a consumer's acquire load of that
// sequence makes the value visible. This is D. Vyukov's bounded MPMC queue design. The bulk
// operations check that a run of slots is ready and claim the whole run with a single CAS.
// Counters are 64-bit, so they do not wrap in practice. The arithmetic is correct across a wrap
// all the same, and the tests start counters just below 2^32 and 2^64 to show it.
//
// docs/architecture.md explains each memory order.
//
// Consumers that find the ring empty spin briefly and then park on a futex (std::atomic::wait
// off Linux). A producer wakes them only when a consumer has announced that it is parked, so a
// busy ring makes no system calls.

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace tgsearch {

/// Cache line size assumed for padding. 64 bytes on x86-64 and most ARM cores;
/// std::hardware_destructive_interference_size is avoided because GCC warns that it is not ABI
/// stable.
inline constexpr std::size_t cache_line_bytes = 64;

/// Tells the CPU that this thread is spinning, so a sibling hyper-thread gets the core.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

/// An atomic counter alone on its cache line, so that producers and consumers updating
/// different counters never invalidate each other's line.
struct alignas(cache_line_bytes) padded_counter {
    std::atomic<std::uint64_t> value{0};
};
static_assert(sizeof(padded_counter) == cache_line_bytes &&
                  alignof(padded_counter) == cache_line_bytes,
              "a padded counter must fill exactly one cache line");

/// A bounded lock-free MPMC queue of `T` with a fixed power-of-two capacity.
///
/// Thread safety: every member function may be called from any number of threads at once,
/// except the constructor and destructor. Only `pop_wait` blocks. Every operation is noexcept,
/// which is why `T` must move and destroy without throwing.
template <class T>
class mpmc_ring {
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>,
                  "mpmc_ring moves elements inside noexcept operations");
    static_assert(std::is_nothrow_destructible_v<T>,
                  "mpmc_ring destroys elements in noexcept code");

    struct alignas(cache_line_bytes) slot {
        std::atomic<std::uint64_t> sequence;
        alignas(T) unsigned char storage[sizeof(T)];

        T* value() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    };
    static_assert(sizeof(slot) % cache_line_bytes == 0 && alignof(slot) % cache_line_bytes == 0,
                  "each slot must start a cache line and cover whole lines");

public:
    using value_type = T;

    /// Spins this many times (with a pause instruction) before a consumer parks. Short on
    /// purpose: on the 2-vCPU KVM machines this was measured on, 64 or more pauses made a
    /// parked round trip 1.5x slower than bare futex calls (plausibly the hypervisor's
    /// pause-loop exiting taking the vCPU away), while 16 stayed within 1.1x.
    static constexpr int spin_iterations = 16;

    /// Creates an empty ring. Throws std::invalid_argument unless `capacity` is a power of two
    /// of at least 2; throws std::bad_alloc when the slots cannot be allocated.
    /// `first_position` is where the counters start. Only tests change it, to drive the
    /// counters across 2^32 and 2^64 without pushing that many elements.
    explicit mpmc_ring(std::size_t capacity, std::uint64_t first_position = 0)
        : mask_(capacity - 1), slots_(checked_allocate(capacity)) {
        for (std::uint64_t i = 0; i < capacity; ++i) {
            const std::uint64_t pos = first_position + i;
            slots_[pos & mask_].sequence.store(pos, std::memory_order_relaxed);
        }
        enqueue_pos_.value.store(first_position, std::memory_order_relaxed);
        dequeue_pos_.value.store(first_position, std::memory_order_relaxed);
    }

    mpmc_ring(const mpmc_ring&) = delete;
    mpmc_ring& operator=(const mpmc_ring&) = delete;

    /// Destroys the elements still in the ring. No other thread may use the ring any more.
    ~mpmc_ring() {
        const std::uint64_t head = enqueue_pos_.value.load(std::memory_order_acquire);
        for (std::uint64_t pos = dequeue_pos_.value.load(std::memory_order_acquire); pos != head;
             ++pos) {
            slot& filled = slots_[pos & mask_];
            if (filled.sequence.load(std::memory_order_acquire) == pos + 1) {
                filled.value()->~T();
            }
        }
    }

    /// Moves `value` into the ring and wakes one parked consumer, if any. Returns false, leaving
    /// `value` untouched, when the ring is full.
    bool try_push(T&& value) noexcept {
        std::uint64_t pos = 0;
        std::uint64_t count = 1;
        if (!claim(enqueue_pos_, pos, count, 0)) {
            return false;
        }
        publish(pos, std::move(value));
        wake(1);
        return true;
    }

    /// Moves elements from the forward range [first, last) into the ring until it is full, and
    /// returns the iterator past the last element moved. Each run of free slots is claimed
    /// with one CAS, and up to as many parked consumers as elements were pushed are woken with
    /// at most one system call for the whole batch.
    template <std::forward_iterator It>
    It try_push_bulk(It first, It last) noexcept {
        std::size_t pushed = 0;
        auto remaining = static_cast<std::size_t>(std::distance(first, last));
        while (remaining > 0) {
            std::uint64_t pos = 0;
            std::uint64_t count = remaining;
            if (!claim(enqueue_pos_, pos, count, 0)) {
                break;
            }
            for (std::uint64_t i = 0; i < count; ++i, ++first) {
                publish(pos + i, std::move(*first));
            }
            pushed += count;
            remaining -= count;
        }
        wake(pushed);
        return first;
    }

    /// Moves the oldest element into `out`. Returns false when the ring is empty, and also while
    /// the oldest element is still being written by its producer.
    bool try_pop(T& out) noexcept {
        std::uint64_t pos = 0;
        std::uint64_t count = 1;
        if (!claim(dequeue_pos_, pos, count, 1)) {
            return false;
        }
        consume(pos, out);
        return true;
    }

    /// Moves up to `max` of the oldest elements into out[0], out[1], ... with one CAS and
    /// returns how many were moved: 0 when the ring is empty.
    std::size_t try_pop_bulk(T* out, std::size_t max) noexcept {
        if (max == 0) {
            return 0;
        }
        std::uint64_t pos = 0;
        std::uint64_t count = max;
        if (!claim(dequeue_pos_, pos, count, 1)) {
            return 0;
        }
        for (std::uint64_t i = 0; i < count; ++i) {
            consume(pos + i, out[i]);
        }
        return static_cast<std::size_t>(count);
    }

    /// Pops the oldest element into `out`, waiting for one if the ring is empty: spins
    /// briefly, then parks without using CPU. Returns false once the ring is closed and every
    /// position a producer has claimed has been popped, so consumers drain everything pushed
    /// before `close`, including a push still being written when `close` ran.
    bool pop_wait(T& out) noexcept {
        for (;;) {
            for (int i = 0; i < spin_iterations; ++i) {
                if (try_pop(out)) {
                    return true;
                }
                cpu_relax();
            }
            const std::uint32_t epoch = wake_epoch_.load(std::memory_order_acquire);
            parked_.fetch_add(1, std::memory_order_seq_cst);
            // Pairs with the fence in wake(): either the producer sees parked_ > 0 and bumps
            // the epoch, or this try_pop sees its element.
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if (try_pop(out)) {
                parked_.fetch_sub(1, std::memory_order_relaxed);
                return true;
            }
            if (closed_.load(std::memory_order_acquire)) {
                parked_.fetch_sub(1, std::memory_order_relaxed);
                return drain_one(out);
            }
            park(epoch);
            parked_.fetch_sub(1, std::memory_order_relaxed);
        }
    }

    /// Marks the ring closed and wakes every parked consumer. Pushes still succeed while there
    /// is room, and `pop_wait` keeps returning them; it returns false once the ring is empty
    /// and no push is in progress.
    void close() noexcept {
        closed_.store(true, std::memory_order_release);
        wake_epoch_.fetch_add(1, std::memory_order_release);
        unpark(std::numeric_limits<std::size_t>::max());
    }

    bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

    std::size_t capacity() const noexcept { return static_cast<std::size_t>(mask_ + 1); }

    /// Returns the number of elements, exact only when no other thread pushes or pops.
    std::size_t size_approx() const noexcept {
        const std::uint64_t tail = dequeue_pos_.value.load(std::memory_order_relaxed);
        const std::uint64_t head = enqueue_pos_.value.load(std::memory_order_relaxed);
        const auto size = static_cast<std::int64_t>(head - tail);
        return size > 0 ? static_cast<std::size_t>(size) : 0;
    }

    /// Returns how many consumers are parked or about to park, for tests and benchmarks.
    std::size_t parked_approx() const noexcept { return parked_.load(std::memory_order_relaxed); }

    /// Returns how many times a push has notified parked consumers: a system call each. Under
    /// load, with no consumer parked, it stays still.
    std::uint64_t notifications() const noexcept {
        return notifications_.load(std::memory_order_relaxed);
    }

private:
    static std::unique_ptr<slot[]> checked_allocate(std::size_t capacity) {
        if (capacity < 2 || !std::has_single_bit(capacity)) {
            throw std::invalid_argument("mpmc_ring capacity must be a power of two >= 2, got " +
                                        std::to_string(capacity));
        }
        return std::unique_ptr<slot[]>(new slot[capacity]);
    }

    /// Claims up to `count` consecutive positions on `counter` (the enqueue counter with
    /// `ready` 0, or the dequeue counter with `ready` 1): position `pos` is ready when its
    /// slot's sequence equals `pos + ready`. On success stores the first position in `pos` and
    /// the number claimed (at least 1) in `count`, and returns true. Returns false when the
    /// first slot is not ready, which means the ring is full for producers or empty for
    /// consumers.
    /// Every 64-bit value is a valid position, so none can serve as a failure marker.
    ///
    /// The acquire loads of the sequences make the previous owner's writes to those slots
    /// visible. Checking several slots and then moving the counter over all of them is safe:
    /// a slot ready for position p stays ready until someone claims p, and nobody can claim p
    /// while the counter still reads a smaller value, because counters only grow.
    bool claim(padded_counter& counter, std::uint64_t& pos, std::uint64_t& count,
               std::uint64_t ready) noexcept {
        pos = counter.value.load(std::memory_order_relaxed);
        for (;;) {
            const std::uint64_t first_sequence =
                slots_[pos & mask_].sequence.load(std::memory_order_acquire);
            const auto lag = static_cast<std::int64_t>(first_sequence - (pos + ready));
            if (lag < 0) {
                return false;
            }
            if (lag > 0) {
                // Another thread took `pos` since it was read.
                pos = counter.value.load(std::memory_order_relaxed);
                continue;
            }
            std::uint64_t ready_count = 1;
            while (ready_count < count &&
                   slots_[(pos + ready_count) & mask_].sequence.load(std::memory_order_acquire) ==
                       pos + ready_count + ready) {
                ++ready_count;
            }
            if (counter.value.compare_exchange_weak(pos, pos + ready_count,
                                                    std::memory_order_relaxed)) {
                count = ready_count;
                return true;
            }
        }
    }

    /// Pops one element after close. A producer may have claimed a position before the close
    /// and still be writing it, so an empty oldest slot does not mean an empty ring: keep
    /// trying until every claimed position has been popped by someone.
    bool drain_one(T& out) noexcept {
        for (;;) {
            if (try_pop(out)) {
                return true;
            }
            const std::uint64_t tail = dequeue_pos_.value.load(std::memory_order_acquire);
            const std::uint64_t head = enqueue_pos_.value.load(std::memory_order_acquire);
            if (tail == head) {
                return false;
            }
            std::this_thread::yield();
        }
    }

    /// Constructs the element at claimed position `pos` and hands the slot to consumers.
    void publish(std::uint64_t pos, T&& value) noexcept {
        slot& target = slots_[pos & mask_];
        ::new (static_cast<void*>(target.storage)) T(std::move(value));
        target.sequence.store(pos + 1, std::memory_order_release);
    }

    /// Moves the element at claimed position `pos` out and hands the slot to the producer of
    /// the next lap.
    void consume(std::uint64_t pos, T& out) noexcept {
        slot& target = slots_[pos & mask_];
        out = std::move(*target.value());
        target.value()->~T();
        target.sequence.store(pos + mask_ + 1, std::memory_order_release);
    }

    void wake(std::size_t count) noexcept {
        if (count == 0) {
            return;
        }
        // Pairs with the fence in pop_wait(); see there.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (parked_.load(std::memory_order_relaxed) == 0) {
            return;
        }
        wake_epoch_.fetch_add(1, std::memory_order_release);
        notifications_.fetch_add(1, std::memory_order_relaxed);
        unpark(count);
    }

    // On Linux the epoch is waited on with the futex system call itself. std::atomic::wait in
    // libstdc++ spins and calls sched_yield again before it sleeps, on top of the ring's own
    // spin phase, and keeps a process-wide table of waiters.

    /// Sleeps until wake_epoch_ differs from `epoch` (or a spurious wake-up).
    void park(std::uint32_t epoch) noexcept {
#if defined(__linux__)
        static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_epoch_), FUTEX_WAIT_PRIVATE,
                  epoch, nullptr, nullptr, 0);
#else
        wake_epoch_.wait(epoch, std::memory_order_acquire);
#endif
    }

    /// Wakes up to `count` parked consumers.
    void unpark(std::size_t count) noexcept {
#if defined(__linux__)
        const auto waiters = static_cast<int>(
            std::min<std::size_t>(count, std::numeric_limits<std::int32_t>::max()));
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_epoch_), FUTEX_WAKE_PRIVATE,
                  waiters, nullptr, nullptr, 0);
#else
        if (count > 1) {
            wake_epoch_.notify_all();
        } else {
            wake_epoch_.notify_one();
        }
#endif
    }

    const std::uint64_t mask_;
    const std::unique_ptr<slot[]> slots_;

    padded_counter enqueue_pos_;
    padded_counter dequeue_pos_;
    alignas(cache_line_bytes) std::atomic<std::uint32_t> parked_{0};
    std::atomic<std::uint32_t> wake_epoch_{0};
    std::atomic<bool> closed_{false};
    std::atomic<std::uint64_t> notifications_{0};
};

}  // namespace tgsearch
