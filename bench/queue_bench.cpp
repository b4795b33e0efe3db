// Measures tgsearch's mpmc_ring side by side with other bounded concurrent queues in one run:
// moodycamel::ConcurrentQueue, atomic_queue, boost::lockfree::queue and a mutex + condition
// variable deque. Prints a Markdown report; bench/queue.sh builds and runs it and writes the
// report into docs/benchmarks.md.
//
// Every queue carries std::uint64_t values. Value 0 is never pushed (atomic_queue's integer
// queue reserves it), and a consumer that pops ~0 stops.

#include "queue/mpmc_ring.hpp"

#include <atomic_queue/atomic_queue.h>
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>
#include <boost/lockfree/queue.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using value_type = std::uint64_t;
constexpr value_type stop_value = ~value_type{0};
constexpr std::size_t capacity = 1024;

// ---------------------------------------------------------------------------------------------
// One adapter per queue, all with the same members so the scenarios are written once.
//   try_push / try_pop          never block
//   push_bulk / pop_bulk        several values per call, or a loop where the queue has none
//   can_park, pop_wait          a pop that sleeps in the kernel while the queue is empty

struct tgsearch_ring {
    static constexpr const char* name = "tgsearch mpmc_ring";
    static constexpr bool can_park = true;
    static constexpr bool has_bulk = true;
    tgsearch::mpmc_ring<value_type> ring{capacity};

    bool try_push(value_type v) { return ring.try_push(std::move(v)); }
    bool try_pop(value_type& v) { return ring.try_pop(v); }
    std::size_t push_bulk(value_type* first, std::size_t n) {
        return static_cast<std::size_t>(ring.try_push_bulk(first, first + n) - first);
    }
    std::size_t pop_bulk(value_type* out, std::size_t max) { return ring.try_pop_bulk(out, max); }
    void pop_wait(value_type& v) { ring.pop_wait(v); }
};

struct moodycamel_queue {
    static constexpr const char* name = "moodycamel::ConcurrentQueue";
    static constexpr bool can_park = false;
    static constexpr bool has_bulk = true;
    moodycamel::ConcurrentQueue<value_type> queue{capacity};

    bool try_push(value_type v) { return queue.try_enqueue(v); }
    bool try_pop(value_type& v) { return queue.try_dequeue(v); }
    std::size_t push_bulk(value_type* first, std::size_t n) {
        // try_enqueue_bulk is all or nothing.
        return queue.try_enqueue_bulk(first, n) ? n : 0;
    }
    std::size_t pop_bulk(value_type* out, std::size_t max) {
        return queue.try_dequeue_bulk(out, max);
    }
    void pop_wait(value_type&) {}
};

struct moodycamel_blocking_queue {
    static constexpr const char* name = "moodycamel::BlockingConcurrentQueue";
    static constexpr bool can_park = true;
    static constexpr bool has_bulk = true;
    moodycamel::BlockingConcurrentQueue<value_type> queue{capacity};

    bool try_push(value_type v) { return queue.try_enqueue(v); }
    bool try_pop(value_type& v) { return queue.try_dequeue(v); }
    std::size_t push_bulk(value_type* first, std::size_t n) {
        return queue.try_enqueue_bulk(first, n) ? n : 0;
    }
    std::size_t pop_bulk(value_type* out, std::size_t max) {
        return queue.try_dequeue_bulk(out, max);
    }
    void pop_wait(value_type& v) { queue.wait_dequeue(v); }
};

/// atomic_queue's fastest queue, for elements that fit in an atomic word.
struct atomic_queue_int {
    static constexpr const char* name = "atomic_queue AtomicQueue (integers only)";
    static constexpr bool can_park = false;
    static constexpr bool has_bulk = false;
    atomic_queue::AtomicQueue<value_type, capacity> queue;

    bool try_push(value_type v) { return queue.try_push(v); }
    bool try_pop(value_type& v) { return queue.try_pop(v); }
    std::size_t push_bulk(value_type*, std::size_t) { return 0; }
    std::size_t pop_bulk(value_type*, std::size_t) { return 0; }
    void pop_wait(value_type&) {}
};

/// atomic_queue's queue for any element type, the same contract as mpmc_ring.
struct atomic_queue_any {
    static constexpr const char* name = "atomic_queue AtomicQueue2 (any type)";
    static constexpr bool can_park = false;
    static constexpr bool has_bulk = false;
    atomic_queue::AtomicQueue2<value_type, capacity> queue;

    bool try_push(value_type v) { return queue.try_push(v); }
    bool try_pop(value_type& v) { return queue.try_pop(v); }
    std::size_t push_bulk(value_type*, std::size_t) { return 0; }
    std::size_t pop_bulk(value_type*, std::size_t) { return 0; }
    void pop_wait(value_type&) {}
};

struct boost_lockfree_queue {
    static constexpr const char* name = "boost::lockfree::queue";
    static constexpr bool can_park = false;
    static constexpr bool has_bulk = false;
    boost::lockfree::queue<value_type, boost::lockfree::capacity<capacity - 1>> queue;

    bool try_push(value_type v) { return queue.bounded_push(v); }
    bool try_pop(value_type& v) { return queue.pop(v); }
    std::size_t push_bulk(value_type*, std::size_t) { return 0; }
    std::size_t pop_bulk(value_type*, std::size_t) { return 0; }
    void pop_wait(value_type&) {}
};

/// The textbook design: a deque under a mutex, and a condition variable that producers signal
/// only when a consumer waits.
struct mutex_deque {
    static constexpr const char* name = "std::mutex + condition_variable deque";
    static constexpr bool can_park = true;
    static constexpr bool has_bulk = true;
    std::mutex mutex;
    std::condition_variable nonempty;
    std::deque<value_type> items;
    int waiting = 0;

    bool try_push(value_type v) {
        std::unique_lock lock(mutex);
        if (items.size() >= capacity) return false;
        items.push_back(v);
        const bool wake = waiting > 0;
        lock.unlock();
        if (wake) nonempty.notify_one();
        return true;
    }
    bool try_pop(value_type& v) {
        std::lock_guard lock(mutex);
        if (items.empty()) return false;
        v = items.front();
        items.pop_front();
        return true;
    }
    std::size_t push_bulk(value_type* first, std::size_t n) {
        std::unique_lock lock(mutex);
        const std::size_t count = std::min(n, capacity - items.size());
        items.insert(items.end(), first, first + count);
        const bool wake = waiting > 0 && count > 0;
        lock.unlock();
        if (wake) nonempty.notify_all();
        return count;
    }
    std::size_t pop_bulk(value_type* out, std::size_t max) {
        std::lock_guard lock(mutex);
        const std::size_t count = std::min(max, items.size());
        std::copy_n(items.begin(), count, out);
        items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(count));
        return count;
    }
    void pop_wait(value_type& v) {
        std::unique_lock lock(mutex);
        ++waiting;
        nonempty.wait(lock, [&] { return !items.empty(); });
        --waiting;
        v = items.front();
        items.pop_front();
    }
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Spins a little on a failed operation, then yields, so oversubscribed runs make progress.
struct backoff {
    int failures = 0;
    void operator()() {
        if (++failures < 64) {
            tgsearch::cpu_relax();
        } else {
            std::this_thread::yield();
        }
    }
    void reset() { failures = 0; }
};

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

double median(std::vector<double> values) { return percentile(std::move(values), 0.5); }

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

template <class Q>
void push_spin(Q& q, value_type v) {
    backoff wait;
    while (!q.try_push(v)) wait();
}

template <class Q>
value_type pop_spin(Q& q) {
    value_type v = 0;
    backoff wait;
    while (!q.try_pop(v)) wait();
    return v;
}

/// Polls without ever yielding, for latency runs that have a core per thread.
template <class Q>
value_type pop_busy(Q& q) {
    value_type v = 0;
    while (!q.try_pop(v)) tgsearch::cpu_relax();
    return v;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Items per second moved from `producers` threads to `consumers` threads, each pushing and
/// popping one value per call (or `batch` values per call when batch > 1).
template <class Q>
double throughput(int producers, int consumers, std::size_t total, std::size_t batch) {
    auto q = std::make_unique<Q>();
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::atomic<int> producers_left{producers};
    std::vector<std::thread> threads;
    const std::size_t per_producer = total / static_cast<std::size_t>(producers);

    for (int c = 0; c < consumers; ++c) {
        threads.emplace_back([&] {
            std::vector<value_type> buffer(std::max<std::size_t>(batch, 1));
            ++ready;
            while (!go.load(std::memory_order_acquire)) tgsearch::cpu_relax();
            backoff wait;
            for (;;) {
                std::size_t n = 0;
                if (batch > 1) {
                    n = q->pop_bulk(buffer.data(), batch);
                } else if (q->try_pop(buffer[0])) {
                    n = 1;
                }
                if (n == 0) {
                    wait();
                    continue;
                }
                wait.reset();
                const auto stops = std::count(
                    buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n), stop_value);
                if (stops > 0) {
                    // A batch may hold another consumer's stop value: hand it back.
                    for (auto extra = stops - 1; extra > 0; --extra) push_spin(*q, stop_value);
                    return;
                }
            }
        });
    }
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&] {
            std::vector<value_type> buffer(std::max<std::size_t>(batch, 1));
            ++ready;
            while (!go.load(std::memory_order_acquire)) tgsearch::cpu_relax();
            backoff wait;
            std::size_t sent = 0;
            while (sent < per_producer) {
                if (batch > 1) {
                    const std::size_t n = std::min(batch, per_producer - sent);
                    for (std::size_t i = 0; i < n; ++i) buffer[i] = sent + i + 1;
                    const std::size_t pushed = q->push_bulk(buffer.data(), n);
                    sent += pushed;
                    if (pushed == 0) wait();
                } else if (q->try_push(sent + 1)) {
                    ++sent;
                    wait.reset();
                } else {
                    wait();
                }
            }
            if (--producers_left == 0) {
                for (int c = 0; c < consumers; ++c) push_spin(*q, stop_value);
            }
        });
    }
    while (ready.load() < producers + consumers) std::this_thread::yield();
    const auto start = clock_type::now();
    go.store(true, std::memory_order_release);
    for (std::thread& t : threads) t.join();
    return static_cast<double>(per_producer * static_cast<std::size_t>(producers)) /
           seconds_since(start);
}

struct latency {
    double p50_us = 0;
    double p99_us = 0;
};

/// Measures round trips between two threads through two queues. With `parked`, both threads
/// wait with pop_wait and each round starts after a 200 us pause, so the receiver is asleep
/// in the kernel when the value arrives. Otherwise both spin.
template <class Q>
latency round_trip(bool parked, int rounds) {
    auto outbound = std::make_unique<Q>();
    auto back = std::make_unique<Q>();
    std::thread echo([&] {
        for (;;) {
            value_type v = 0;
            if (parked) {
                outbound->pop_wait(v);
            } else {
                v = pop_busy(*outbound);
            }
            push_spin(*back, v);
            if (v == stop_value) return;
        }
    });
    std::vector<double> samples;
    samples.reserve(static_cast<std::size_t>(rounds));
    for (int i = 0; i < rounds; ++i) {
        if (parked) std::this_thread::sleep_for(std::chrono::microseconds(200));
        const auto start = clock_type::now();
        push_spin(*outbound, static_cast<value_type>(i + 1));
        value_type v = 0;
        if (parked) {
            back->pop_wait(v);
        } else {
            v = pop_busy(*back);
        }
        samples.push_back(seconds_since(start) * 1e6);
        if (v != static_cast<value_type>(i + 1)) {
            std::fprintf(stderr, "round trip returned %llu, expected %d\n",
                         static_cast<unsigned long long>(v), i + 1);
            std::exit(1);
        }
    }
    push_spin(*outbound, stop_value);
    (void)pop_spin(*back);
    echo.join();
    return {percentile(samples, 0.5), percentile(samples, 0.99)};
}

long futex(std::atomic<int>* word, int op, int value) {
    return syscall(SYS_futex, reinterpret_cast<int*>(word), op, value, nullptr, nullptr, 0);
}

/// Measures the floor for a parked round trip: two threads that wake each other with bare
/// futex calls and never spin, with the same 200 us pause before each round.
latency futex_round_trip(int rounds) {
    std::atomic<int> ping{0};
    std::atomic<int> pong{0};
    auto wait_for = [](std::atomic<int>& word) {
        int v;
        while ((v = word.exchange(0, std::memory_order_acquire)) == 0) {
            futex(&word, FUTEX_WAIT_PRIVATE, 0);
        }
        return v;
    };
    auto signal = [](std::atomic<int>& word, int v) {
        word.store(v, std::memory_order_release);
        futex(&word, FUTEX_WAKE_PRIVATE, 1);
    };
    std::thread echo([&] {
        for (;;) {
            const int v = wait_for(ping);
            signal(pong, v);
            if (v < 0) return;
        }
    });
    std::vector<double> samples;
    for (int i = 0; i < rounds; ++i) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        const auto start = clock_type::now();
        signal(ping, i + 1);
        (void)wait_for(pong);
        samples.push_back(seconds_since(start) * 1e6);
    }
    signal(ping, -1);
    (void)wait_for(pong);
    echo.join();
    return {percentile(samples, 0.5), percentile(samples, 0.99)};
}

/// Measures a burst of 100 values pushed at once to two idle consumers (parked where the queue
/// can park, spinning otherwise), from the first push to the last pop.
template <class Q>
latency burst(int rounds) {
    constexpr std::size_t burst_size = 100;
    constexpr int consumers = 2;
    auto q = std::make_unique<Q>();
    std::atomic<std::size_t> received{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < consumers; ++c) {
        threads.emplace_back([&] {
            for (;;) {
                value_type v = 0;
                if constexpr (Q::can_park) {
                    q->pop_wait(v);
                } else {
                    v = pop_spin(*q);
                }
                if (v == stop_value) return;
                received.fetch_add(1, std::memory_order_release);
            }
        });
    }
    std::vector<value_type> values(burst_size);
    for (std::size_t i = 0; i < burst_size; ++i) values[i] = i + 1;
    std::vector<double> samples;
    for (int r = 0; r < rounds; ++r) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
        received.store(0);
        const auto start = clock_type::now();
        std::size_t sent = 0;
        if constexpr (Q::has_bulk) {
            sent = q->push_bulk(values.data(), burst_size);
        }
        for (; sent < burst_size; ++sent) push_spin(*q, values[sent]);
        while (received.load(std::memory_order_acquire) < burst_size) tgsearch::cpu_relax();
        samples.push_back(seconds_since(start) * 1e6);
    }
    for (int c = 0; c < consumers; ++c) push_spin(*q, stop_value);
    for (std::thread& t : threads) t.join();
    return {percentile(samples, 0.5), percentile(samples, 0.99)};
}

/// CPU used by four consumers waiting on an empty queue, as a share of one core.
template <class Q>
double idle_cpu_share(double seconds) {
    constexpr int consumers = 4;
    auto q = std::make_unique<Q>();
    std::vector<std::thread> threads;
    for (int c = 0; c < consumers; ++c) {
        threads.emplace_back([&] {
            value_type v = 0;
            q->pop_wait(v);
        });
    }
    // Let the consumers finish their spin phase before measuring.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const double cpu_before = process_cpu_seconds();
    const auto start = clock_type::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const double share = (process_cpu_seconds() - cpu_before) / seconds_since(start);
    for (int c = 0; c < consumers; ++c) push_spin(*q, stop_value);
    for (std::thread& t : threads) t.join();
    return share;
}

// ---------------------------------------------------------------------------------------------
// Machine description and quiet wait

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) return line.substr(colon + 2);
        }
    }
    return "unknown";
}

/// Returns the "some avg10" CPU pressure in percent, or nullopt where the kernel has no PSI.
std::optional<double> cpu_pressure() {
    std::ifstream in("/proc/pressure/cpu");
    std::string word;
    while (in >> word) {
        if (word.rfind("avg10=", 0) == 0) return std::atof(word.c_str() + 6);
    }
    return std::nullopt;
}

/// Waits until CPU pressure stays below `threshold` percent, up to `timeout_s` seconds.
/// Returns the pressure seen when measuring starts.
std::optional<double> wait_for_quiet(double threshold, double timeout_s) {
    const auto start = clock_type::now();
    for (;;) {
        const auto pressure = cpu_pressure();
        if (!pressure || *pressure < threshold || seconds_since(start) > timeout_s) {
            return pressure;
        }
        std::fprintf(stderr, "waiting for a quiet machine: cpu pressure avg10=%.1f%%\n", *pressure);
        std::this_thread::sleep_for(std::chrono::seconds(5));
    }
}

struct options {
    std::size_t items = 1'000'000;
    int repeats = 5;
    int rounds = 20'000;
    int parked_rounds = 2'000;
    double idle_seconds = 5.0;
    double quiet_threshold = 10.0;
    double quiet_timeout = 600.0;
    std::string commit = "unknown";
    std::string output;
};

options parse_options(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "error: %s needs a value\n", arg.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (arg == "--items") {
            o.items = std::stoull(next());
        } else if (arg == "--repeats") {
            o.repeats = std::stoi(next());
        } else if (arg == "--rounds") {
            o.rounds = std::stoi(next());
        } else if (arg == "--parked-rounds") {
            o.parked_rounds = std::stoi(next());
        } else if (arg == "--idle-seconds") {
            o.idle_seconds = std::stod(next());
        } else if (arg == "--quiet-threshold") {
            o.quiet_threshold = std::stod(next());
        } else if (arg == "--quiet-timeout") {
            o.quiet_timeout = std::stod(next());
        } else if (arg == "--commit") {
            o.commit = next();
        } else if (arg == "--output") {
            o.output = next();
        } else {
            std::fprintf(stderr,
                         "usage: queue_bench [--items N] [--repeats N] [--rounds N] "
                         "[--parked-rounds N] [--idle-seconds S] [--quiet-threshold PCT] "
                         "[--quiet-timeout S] [--commit HASH] [--output FILE]\n");
            std::exit(arg == "--help" ? 0 : 2);
        }
    }
    return o;
}

std::string fixed(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
}

// ---------------------------------------------------------------------------------------------
// Report

struct report {
    std::ostringstream out;

    template <class Q>
    void throughput_row(const options& o, std::size_t batch, const char* label = nullptr) {
        const int shapes[][2] = {{1, 1}, {2, 2}, {4, 4}};
        double mops[3];
        for (int s = 0; s < 3; ++s) {
            std::vector<double> runs;
            for (int r = 0; r < o.repeats; ++r) {
                runs.push_back(throughput<Q>(shapes[s][0], shapes[s][1], o.items, batch) / 1e6);
            }
            mops[s] = median(runs);
        }
        out << "| " << (label ? label : Q::name) << " | " << fixed(mops[0], 2) << " | "
            << fixed(mops[1], 2) << " | " << fixed(mops[2], 2) << " | "
            << fixed(mops[2] / mops[0], 2) << " |\n";
        std::fprintf(stderr, "throughput %s done\n", label ? label : Q::name);
    }

    template <class Q>
    void latency_row(const options& o) {
        const latency spin = round_trip<Q>(false, o.rounds);
        out << "| " << Q::name << " | " << fixed(spin.p50_us, 2) << " | " << fixed(spin.p99_us, 2)
            << " | ";
        if constexpr (Q::can_park) {
            const latency parked = round_trip<Q>(true, o.parked_rounds);
            out << fixed(parked.p50_us, 1) << " | " << fixed(parked.p99_us, 1) << " |\n";
        } else {
            out << "no blocking pop | |\n";
        }
        std::fprintf(stderr, "latency %s done\n", Q::name);
    }

    template <class Q>
    void burst_row(const options& o) {
        const latency b = burst<Q>(o.parked_rounds / 4);
        out << "| " << Q::name << " | " << (Q::can_park ? "parked" : "spinning") << " | "
            << fixed(b.p50_us, 1) << " | " << fixed(b.p99_us, 1) << " |\n";
        std::fprintf(stderr, "burst %s done\n", Q::name);
    }

    template <class Q>
    void idle_row(const options& o) {
        if constexpr (Q::can_park) {
            out << "| " << Q::name << " | " << fixed(100.0 * idle_cpu_share<Q>(o.idle_seconds), 3)
                << "% |\n";
        } else {
            out << "| " << Q::name << " | no blocking pop: consumers must poll |\n";
        }
        std::fprintf(stderr, "idle %s done\n", Q::name);
    }
};

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_options(argc, argv);
    const auto pressure = wait_for_quiet(o.quiet_threshold, o.quiet_timeout);

    report r;
    r.out << "Commit " << o.commit << "; " << cpu_model() << ", "
          << std::thread::hardware_concurrency() << " hardware threads; compiler "
#if defined(__clang__)
          << "clang "
#else
          << "GCC "
#endif
          << __VERSION__ << "; CPU pressure at start "
          << (pressure ? fixed(*pressure, 1) + "%" : std::string("unknown"))
          << ". Capacity 1,024 for every queue; values are 64-bit integers.\n\n";

    r.out << "Throughput, million items per second (median of " << o.repeats << " runs of "
          << o.items << " items; 4P4C runs 8 threads on the cores above):\n\n"
          << "| queue | 1P1C | 2P2C | 4P4C | 4P4C / 1P1C |\n|---|---|---|---|---|\n";
    r.throughput_row<tgsearch_ring>(o, 1);
    r.throughput_row<tgsearch_ring>(o, 16, "tgsearch mpmc_ring, batches of 16");
    r.throughput_row<moodycamel_queue>(o, 1);
    r.throughput_row<moodycamel_queue>(o, 16, "moodycamel::ConcurrentQueue, batches of 16");
    r.throughput_row<atomic_queue_int>(o, 1);
    r.throughput_row<atomic_queue_any>(o, 1);
    r.throughput_row<boost_lockfree_queue>(o, 1);
    r.throughput_row<mutex_deque>(o, 1);

    r.out << "\nRound trip between two threads, microseconds (spinning: " << o.rounds
          << " rounds, both threads poll; parked: " << o.parked_rounds
          << " rounds, 200 us apart, both threads wait in the kernel):\n\n"
          << "| queue | spinning p50 | spinning p99 | parked p50 | parked p99 |\n"
          << "|---|---|---|---|---|\n";
    r.latency_row<tgsearch_ring>(o);
    r.latency_row<moodycamel_queue>(o);
    r.latency_row<moodycamel_blocking_queue>(o);
    r.latency_row<atomic_queue_int>(o);
    r.latency_row<atomic_queue_any>(o);
    r.latency_row<boost_lockfree_queue>(o);
    r.latency_row<mutex_deque>(o);
    const latency floor = futex_round_trip(o.parked_rounds);
    r.out << "| bare futex wait/wake (floor for parked) | | | " << fixed(floor.p50_us, 1) << " | "
          << fixed(floor.p99_us, 1) << " |\n";

    r.out << "\nA burst of 100 items to 2 idle consumers, first push to last pop, microseconds ("
          << o.parked_rounds / 4 << " bursts):\n\n"
          << "| queue | consumers | p50 | p99 |\n|---|---|---|---|\n";
    r.burst_row<tgsearch_ring>(o);
    r.burst_row<moodycamel_blocking_queue>(o);
    r.burst_row<atomic_queue_int>(o);
    r.burst_row<atomic_queue_any>(o);
    r.burst_row<boost_lockfree_queue>(o);
    r.burst_row<mutex_deque>(o);

    r.out << "\nCPU used by 4 consumers waiting on an empty queue for " << fixed(o.idle_seconds, 0)
          << " s, share of one core:\n\n"
          << "| queue | idle CPU |\n|---|---|\n";
    r.idle_row<tgsearch_ring>(o);
    r.idle_row<moodycamel_blocking_queue>(o);
    r.idle_row<mutex_deque>(o);
    r.idle_row<atomic_queue_any>(o);
    r.idle_row<boost_lockfree_queue>(o);

    const std::string text = r.out.str();
    std::fputs(text.c_str(), stdout);
    if (!o.output.empty()) {
        std::ofstream file(o.output);
        file << text;
        if (!file) {
            std::fprintf(stderr, "error: cannot write %s\n", o.output.c_str());
            return 1;
        }
    }
    return 0;
}
