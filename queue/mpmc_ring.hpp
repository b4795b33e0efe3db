#pragma once

// A bounded lock-free multi-producer multi-consumer ring buffer.
//
// Each slot carries a sequence number that records whose turn it is: a producer may fill slot
// `pos & mask` when its sequence equals `pos`, a consumer may empty it when the sequence equals
// `pos + 1`. A producer claims a position with one CAS on the enqueue counter, writes the value,
// then publishes it with a release store of the sequence; a consumer's acquire load of that
// sequence makes the value visible. This is D. Vyukov's bounded MPMC queue design. Counters are
// 64-bit, so they do not wrap in practice.
//
// Consumers that find the ring empty spin briefly and then park on std::atomic::wait. A producer
// calls notify only when a consumer has announced that it is parked, so a busy ring makes no
// system calls.

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
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

/// A bounded lock-free MPMC queue of `T` with a fixed power-of-two capacity.
///
/// Thread safety: every member function may be called from any number of threads at once,
/// except the constructor and destructor. `try_push`, `try_pop` and `close` never block and
/// are noexcept; `pop_wait` blocks until an element arrives or the ring is closed.
template <class T>
class mpmc_ring {
    static_assert(std::is_nothrow_move_constructible_v<T>,
                  "mpmc_ring moves elements inside noexcept operations");
    static_assert(std::is_nothrow_destructible_v<T>,
                  "mpmc_ring destroys elements in noexcept code");

    struct alignas(cache_line_bytes) slot {
        std::atomic<std::uint64_t> sequence;
        alignas(T) unsigned char storage[sizeof(T)];

        T* value() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    };
    static_assert(sizeof(slot) % cache_line_bytes == 0, "slots must not share cache lines");

public:
    using value_type = T;

    /// Spins this many times before a consumer parks. Waking a parked thread costs tens of
    /// microseconds in a VM, while an element usually arrives within a few hundred cycles
    /// under load.
    static constexpr int spin_iterations = 256;

    /// Creates an empty ring. Throws std::invalid_argument unless `capacity` is a power of two
    /// of at least 2; throws std::bad_alloc when the slots cannot be allocated.
    explicit mpmc_ring(std::size_t capacity)
        : mask_(capacity - 1), slots_(checked_allocate(capacity)) {
        for (std::size_t i = 0; i < capacity; ++i) {
            slots_[i].sequence.store(i, std::memory_order_relaxed);
        }
    }

    mpmc_ring(const mpmc_ring&) = delete;
    mpmc_ring& operator=(const mpmc_ring&) = delete;

    /// Destroys the elements still in the ring.
    ~mpmc_ring() {
        T discarded;
        while (try_pop(discarded)) {
        }
    }

    /// Moves `value` into the ring and wakes one parked consumer, if any. Returns false, leaving
    /// `value` untouched, when the ring is full.
    bool try_push(T&& value) noexcept {
        if (!push_no_wake(std::move(value))) {
            return false;
        }
        wake(1);
        return true;
    }

    /// Moves elements from [first, last) into the ring until it is full, then wakes as many
    /// parked consumers as elements were pushed, with at most one system call. Returns the
    /// iterator past the last element pushed.
    template <class It>
    It try_push_bulk(It first, It last) noexcept {
        std::size_t pushed = 0;
        for (; first != last; ++first, ++pushed) {
            if (!push_no_wake(std::move(*first))) {
                break;
            }
        }
        wake(pushed);
        return first;
    }

    /// Moves the oldest element into `out`. Returns false when the ring is empty.
    bool try_pop(T& out) noexcept {
        std::uint64_t pos = dequeue_pos_.load(std::memory_order_relaxed);
        slot* target;
        for (;;) {
            target = &slots_[pos & mask_];
            const std::uint64_t sequence = target->sequence.load(std::memory_order_acquire);
            const auto lag = static_cast<std::int64_t>(sequence - (pos + 1));
            if (lag == 0) {
                if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    break;
                }
            } else if (lag < 0) {
                return false;
            } else {
                pos = dequeue_pos_.load(std::memory_order_relaxed);
            }
        }
        out = std::move(*target->value());
        target->value()->~T();
        target->sequence.store(pos + mask_ + 1, std::memory_order_release);
        return true;
    }

    /// Pops the oldest element into `out`, waiting for one if the ring is empty: spins
    /// briefly, then parks without using CPU. Returns false once the ring is closed and empty,
    /// so consumers drain everything pushed before `close`.
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
                return try_pop(out);
            }
            wake_epoch_.wait(epoch, std::memory_order_acquire);
            parked_.fetch_sub(1, std::memory_order_relaxed);
        }
    }

    /// Marks the ring closed and wakes every parked consumer. Pushes still succeed while there
    /// is room; consumers return false from `pop_wait` once the ring is empty.
    void close() noexcept {
        closed_.store(true, std::memory_order_release);
        wake_epoch_.fetch_add(1, std::memory_order_release);
        wake_epoch_.notify_all();
    }

    bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

    std::size_t capacity() const noexcept { return mask_ + 1; }

    /// Returns the number of elements, exact only when no other thread pushes or pops.
    std::size_t size_approx() const noexcept {
        const std::uint64_t tail = dequeue_pos_.load(std::memory_order_relaxed);
        const std::uint64_t head = enqueue_pos_.load(std::memory_order_relaxed);
        return head > tail ? static_cast<std::size_t>(head - tail) : 0;
    }

private:
    static std::unique_ptr<slot[]> checked_allocate(std::size_t capacity) {
        if (capacity < 2 || !std::has_single_bit(capacity)) {
            throw std::invalid_argument("mpmc_ring capacity must be a power of two >= 2, got " +
                                        std::to_string(capacity));
        }
        return std::unique_ptr<slot[]>(new slot[capacity]);
    }

    bool push_no_wake(T&& value) noexcept {
        std::uint64_t pos = enqueue_pos_.load(std::memory_order_relaxed);
        slot* target;
        for (;;) {
            target = &slots_[pos & mask_];
            const std::uint64_t sequence = target->sequence.load(std::memory_order_acquire);
            const auto lag = static_cast<std::int64_t>(sequence - pos);
            if (lag == 0) {
                if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    break;
                }
            } else if (lag < 0) {
                return false;
            } else {
                pos = enqueue_pos_.load(std::memory_order_relaxed);
            }
        }
        ::new (static_cast<void*>(target->storage)) T(std::move(value));
        target->sequence.store(pos + 1, std::memory_order_release);
        return true;
    }

    void wake(std::size_t count) noexcept {
        if (count == 0) {
            return;
        }
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (parked_.load(std::memory_order_relaxed) == 0) {
            return;
        }
        wake_epoch_.fetch_add(1, std::memory_order_release);
        if (count == 1) {
            wake_epoch_.notify_one();
        } else {
            wake_epoch_.notify_all();
        }
    }

    const std::uint64_t mask_;
    const std::unique_ptr<slot[]> slots_;

    alignas(cache_line_bytes) std::atomic<std::uint64_t> enqueue_pos_{0};
    alignas(cache_line_bytes) std::atomic<std::uint64_t> dequeue_pos_{0};
    alignas(cache_line_bytes) std::atomic<std::uint32_t> parked_{0};
    std::atomic<std::uint32_t> wake_epoch_{0};
    std::atomic<bool> closed_{false};
};

}  // namespace tgsearch
