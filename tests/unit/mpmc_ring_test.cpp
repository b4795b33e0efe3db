#include "queue/mpmc_ring.hpp"
#include "queue/worker_pool.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

using tgsearch::mpmc_ring;
using tgsearch::worker_pool;

namespace {

/// Counts live instances so tests can check that the ring destroys what it constructs.
struct counted {
    static inline std::atomic<int> live{0};
    int value = 0;

    counted() noexcept { ++live; }
    explicit counted(int v) noexcept : value(v) { ++live; }
    counted(counted&& other) noexcept : value(other.value) { ++live; }
    counted& operator=(counted&& other) noexcept {
        value = other.value;
        return *this;
    }
    ~counted() { --live; }
};

// An element whose move constructor stalls while `hold` is set, to freeze a producer
// between claiming its slot and publishing it.
struct gated {
    static inline std::atomic<bool> hold{false};
    static inline std::atomic<bool> stalled{false};
    int value = 0;

    gated() noexcept = default;
    explicit gated(int v) noexcept : value(v) {}
    gated(gated&& other) noexcept : value(other.value) {
        if (value == 1) {
            stalled = true;
            while (hold) {
                std::this_thread::yield();
            }
        }
    }
    gated& operator=(gated&& other) noexcept {
        value = other.value;
        return *this;
    }
};

}  // namespace

TEST_CASE("ring rejects capacity that is not a power of two", "[queue]") {
    CHECK_THROWS_AS(mpmc_ring<int>(0), std::invalid_argument);
    CHECK_THROWS_AS(mpmc_ring<int>(1), std::invalid_argument);
    CHECK_THROWS_AS(mpmc_ring<int>(3), std::invalid_argument);
    CHECK_THROWS_AS(mpmc_ring<int>(1000), std::invalid_argument);
    CHECK_NOTHROW(mpmc_ring<int>(2));
    CHECK_NOTHROW(mpmc_ring<int>(1024));
}

TEST_CASE("ring pops in push order", "[queue]") {
    mpmc_ring<int> ring(8);
    for (int i = 0; i < 5; ++i) {
        int value = i;
        REQUIRE(ring.try_push(std::move(value)));
    }
    CHECK(ring.size_approx() == 5);
    for (int i = 0; i < 5; ++i) {
        int value = -1;
        REQUIRE(ring.try_pop(value));
        CHECK(value == i);
    }
    int value = -1;
    CHECK_FALSE(ring.try_pop(value));
    CHECK(value == -1);
}

TEST_CASE("ring rejects push when full", "[queue]") {
    mpmc_ring<int> ring(4);
    for (int i = 0; i < 4; ++i) {
        int value = i;
        REQUIRE(ring.try_push(std::move(value)));
    }
    int extra = 99;
    CHECK_FALSE(ring.try_push(std::move(extra)));
    int value = -1;
    REQUIRE(ring.try_pop(value));
    CHECK(value == 0);
    extra = 99;
    CHECK(ring.try_push(std::move(extra)));
}

TEST_CASE("ring wraps around many times", "[queue]") {
    mpmc_ring<std::uint64_t> ring(4);
    for (std::uint64_t i = 0; i < 100'000; ++i) {
        std::uint64_t in = i;
        REQUIRE(ring.try_push(std::move(in)));
        if (i % 3 == 2) {
            // Keep the ring between empty and full so every slot state occurs.
            std::uint64_t out = 0;
            REQUIRE(ring.try_pop(out));
            REQUIRE(ring.try_pop(out));
            REQUIRE(ring.try_pop(out));
            REQUIRE(out == i);
        }
    }
}

TEST_CASE("ring bulk push stops at capacity", "[queue]") {
    mpmc_ring<int> ring(4);
    std::vector<int> values{1, 2, 3, 4, 5, 6};
    const auto end = ring.try_push_bulk(values.begin(), values.end());
    CHECK(end - values.begin() == 4);
    int value = 0;
    REQUIRE(ring.try_pop(value));
    CHECK(value == 1);
}

TEST_CASE("ring holds move-only elements", "[queue]") {
    mpmc_ring<std::unique_ptr<int>> ring(2);
    auto pointer = std::make_unique<int>(42);
    REQUIRE(ring.try_push(std::move(pointer)));
    CHECK(pointer == nullptr);
    std::unique_ptr<int> out;
    REQUIRE(ring.try_pop(out));
    REQUIRE(out != nullptr);
    CHECK(*out == 42);
}

TEST_CASE("ring destroys elements left at destruction", "[queue]") {
    REQUIRE(counted::live == 0);
    {
        mpmc_ring<counted> ring(8);
        for (int i = 0; i < 5; ++i) {
            counted value(i);
            REQUIRE(ring.try_push(std::move(value)));
        }
        counted out;
        REQUIRE(ring.try_pop(out));
        CHECK(out.value == 0);
        CHECK(counted::live == 5);  // four in the ring, plus `out`
    }
    CHECK(counted::live == 0);
}

namespace {

/// How the threads of a conservation run move values.
enum class transfer { single, bulk };

/// Runs `producers` threads that each push `per_producer` distinct values and `consumers`
/// threads that pop until everything arrived, then checks that every value came out exactly
/// once and that each consumer saw each producer's values in push order.
void check_conservation(int producers, int consumers, std::uint64_t first_position, transfer mode) {
    CAPTURE(producers, consumers, first_position, mode == transfer::bulk);
    constexpr std::uint64_t per_producer = 40'000;
    mpmc_ring<std::uint64_t> ring(64, first_position);
    std::vector<std::vector<std::uint64_t>> popped(consumers);
    std::atomic<std::uint64_t> remaining{per_producer * producers};

    std::vector<std::thread> threads;
    for (int c = 0; c < consumers; ++c) {
        threads.emplace_back([&, c] {
            std::uint64_t batch[7];
            for (;;) {
                std::size_t count = 0;
                if (mode == transfer::bulk) {
                    count = ring.try_pop_bulk(batch, std::size(batch));
                }
                if (count == 0) {
                    if (!ring.pop_wait(batch[0])) {
                        return;
                    }
                    count = 1;
                }
                popped[c].insert(popped[c].end(), batch, batch + count);
                if (remaining.fetch_sub(count) == count) {
                    ring.close();
                }
            }
        });
    }
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            const std::uint64_t tag = static_cast<std::uint64_t>(p) << 32;
            std::uint64_t next = 0;
            while (next < per_producer) {
                if (mode == transfer::bulk) {
                    std::uint64_t batch[5];
                    const std::uint64_t count = std::min<std::uint64_t>(5, per_producer - next);
                    for (std::uint64_t i = 0; i < count; ++i) {
                        batch[i] = tag | (next + i);
                    }
                    const auto end = ring.try_push_bulk(batch, batch + count);
                    next += static_cast<std::uint64_t>(end - batch);
                    if (end == batch) {
                        std::this_thread::yield();
                    }
                } else {
                    std::uint64_t value = tag | next;
                    if (ring.try_push(std::move(value))) {
                        ++next;
                    } else {
                        std::this_thread::yield();
                    }
                }
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }

    std::vector<std::uint64_t> all;
    for (const auto& values : popped) {
        std::vector<std::int64_t> last(producers, -1);
        for (std::uint64_t value : values) {
            const auto producer = static_cast<std::size_t>(value >> 32);
            const auto sequence = static_cast<std::int64_t>(value & 0xffffffffu);
            REQUIRE(producer < last.size());
            REQUIRE(sequence > last[producer]);
            last[producer] = sequence;
        }
        all.insert(all.end(), values.begin(), values.end());
    }
    REQUIRE(all.size() == per_producer * producers);
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    CHECK(ring.size_approx() == 0);
}

}  // namespace

TEST_CASE("ring delivers every value exactly once under contention", "[queue]") {
    // 4 + 4 threads oversubscribe a 2-core machine, which exercises preemption mid-operation.
    const int shapes[][2] = {{1, 1}, {2, 2}, {4, 4}, {1, 4}, {4, 1}};
    for (const auto& shape : shapes) {
        check_conservation(shape[0], shape[1], 0, transfer::single);
    }
}

TEST_CASE("ring bulk operations deliver every value exactly once", "[queue]") {
    const int shapes[][2] = {{1, 1}, {2, 2}, {4, 4}};
    for (const auto& shape : shapes) {
        check_conservation(shape[0], shape[1], 0, transfer::bulk);
    }
}

TEST_CASE("ring counters cross 2^32 and 2^64 under contention", "[queue]") {
    // 160,000 pushes starting 20,000 below each boundary carry the counters across it.
    const std::uint64_t starts[] = {(std::uint64_t{1} << 32) - 20'000, ~std::uint64_t{0} - 20'000};
    for (const std::uint64_t start : starts) {
        check_conservation(2, 2, start, transfer::single);
        check_conservation(4, 4, start, transfer::bulk);
    }
}

TEST_CASE("ring keeps order and size across a counter wrap", "[queue]") {
    mpmc_ring<int> ring(4, ~std::uint64_t{0} - 6);
    for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < 4; ++i) {
            int value = round * 10 + i;
            REQUIRE(ring.try_push(std::move(value)));
        }
        CHECK(ring.size_approx() == 4);
        int extra = -1;
        CHECK_FALSE(ring.try_push(std::move(extra)));
        for (int i = 0; i < 4; ++i) {
            int value = -1;
            REQUIRE(ring.try_pop(value));
            CHECK(value == round * 10 + i);
        }
        CHECK(ring.size_approx() == 0);
        int value = -1;
        CHECK_FALSE(ring.try_pop(value));
    }
}

TEST_CASE("ring bulk pop takes what is there, up to the limit", "[queue]") {
    mpmc_ring<int> ring(8);
    int none[4] = {-1, -1, -1, -1};
    CHECK(ring.try_pop_bulk(none, 4) == 0);
    CHECK(none[0] == -1);
    std::vector<int> values{1, 2, 3, 4, 5};
    REQUIRE(ring.try_push_bulk(values.begin(), values.end()) == values.end());
    int out[8] = {};
    CHECK(ring.try_pop_bulk(out, 0) == 0);
    REQUIRE(ring.try_pop_bulk(out, 3) == 3);
    CHECK(out[0] == 1);
    CHECK(out[1] == 2);
    CHECK(out[2] == 3);
    REQUIRE(ring.try_pop_bulk(out, 8) == 2);
    CHECK(out[0] == 4);
    CHECK(out[1] == 5);
    CHECK(ring.try_pop_bulk(out, 8) == 0);
}

TEST_CASE("ring bulk push fills the free slots of a partly full ring", "[queue]") {
    mpmc_ring<int> ring(8);
    for (int i = 0; i < 6; ++i) {
        int value = i;
        REQUIRE(ring.try_push(std::move(value)));
    }
    std::vector<int> more{6, 7, 8, 9, 10};
    CHECK(ring.try_push_bulk(more.begin(), more.end()) - more.begin() == 2);
    int out[8] = {};
    REQUIRE(ring.try_pop_bulk(out, 8) == 8);
    for (int i = 0; i < 8; ++i) {
        CHECK(out[i] == i);
    }
    std::vector<int> empty;
    CHECK(ring.try_push_bulk(empty.begin(), empty.end()) == empty.end());
}

TEST_CASE("ring balances constructions and destructions under contention", "[queue]") {
    REQUIRE(counted::live == 0);
    {
        mpmc_ring<counted> ring(16);
        std::atomic<int> received{0};
        std::vector<std::thread> threads;
        for (int c = 0; c < 2; ++c) {
            threads.emplace_back([&] {
                counted batch[3];
                while (received < 20'000) {
                    const std::size_t count = ring.try_pop_bulk(batch, 3);
                    received += static_cast<int>(count);
                    if (count == 0) {
                        std::this_thread::yield();
                    }
                }
            });
        }
        for (int p = 0; p < 2; ++p) {
            threads.emplace_back([&] {
                for (int i = 0; i < 10'000;) {
                    counted value(i);
                    if (ring.try_push(std::move(value))) {
                        ++i;
                    } else {
                        std::this_thread::yield();
                    }
                }
            });
        }
        for (std::thread& thread : threads) {
            thread.join();
        }
        CHECK(received == 20'000);
        // Leave a few in the ring for the destructor.
        for (int i = 0; i < 5; ++i) {
            counted value(i);
            REQUIRE(ring.try_push(std::move(value)));
        }
        CHECK(counted::live == 5);
    }
    CHECK(counted::live == 0);
}

TEST_CASE("ring holds elements that have no default constructor", "[queue]") {
    struct handle {
        explicit handle(int v) noexcept : value(std::make_unique<int>(v)) {}
        std::unique_ptr<int> value;
    };
    mpmc_ring<handle> ring(4);
    REQUIRE(ring.try_push(handle(7)));
    REQUIRE(ring.try_push(handle(8)));
    handle out(0);
    REQUIRE(ring.try_pop(out));
    CHECK(*out.value == 7);
    // The element still inside is freed by the ring's destructor (checked by ASan builds).
}

TEST_CASE("ring notifies only when a consumer is parked", "[queue]") {
    mpmc_ring<int> ring(1024);
    for (int i = 0; i < 1000; ++i) {
        int value = i;
        REQUIRE(ring.try_push(std::move(value)));
    }
    CHECK(ring.notifications() == 0);
    int out[1000];
    REQUIRE(ring.try_pop_bulk(out, 1000) == 1000);

    std::atomic<int> got{-1};
    std::thread consumer([&] {
        int value = 0;
        if (ring.pop_wait(value)) {
            got = value;
        }
    });
    while (ring.parked_approx() == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    int value = 42;
    REQUIRE(ring.try_push(std::move(value)));
    consumer.join();
    CHECK(got == 42);
    CHECK(ring.notifications() == 1);
}

TEST_CASE("ring close wakes parked consumers", "[queue]") {
    mpmc_ring<int> ring(4);
    std::atomic<int> finished{0};
    std::vector<std::thread> consumers;
    for (int i = 0; i < 3; ++i) {
        consumers.emplace_back([&] {
            int value = 0;
            while (ring.pop_wait(value)) {
            }
            ++finished;
        });
    }
    // Give the consumers time to spin out and park.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(finished == 0);
    ring.close();
    for (std::thread& consumer : consumers) {
        consumer.join();
    }
    CHECK(finished == 3);
}

TEST_CASE("ring drains elements pushed before close", "[queue]") {
    mpmc_ring<int> ring(8);
    for (int i = 0; i < 3; ++i) {
        int value = i;
        REQUIRE(ring.try_push(std::move(value)));
    }
    ring.close();
    CHECK(ring.closed());
    int value = -1;
    CHECK(ring.pop_wait(value));
    CHECK(value == 0);
    CHECK(ring.pop_wait(value));
    CHECK(ring.pop_wait(value));
    CHECK(value == 2);
    CHECK_FALSE(ring.pop_wait(value));
}

TEST_CASE("ring drains a push still being written at close", "[queue]") {
    mpmc_ring<gated> ring(8);
    gated::hold = true;
    std::thread slow_producer([&] { REQUIRE(ring.try_push(gated(1))); });
    while (!gated::stalled) {
        std::this_thread::yield();
    }
    REQUIRE(ring.try_push(gated(2)));
    ring.close();
    std::thread release([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        gated::hold = false;
    });
    std::vector<int> popped;
    gated out;
    while (ring.pop_wait(out)) {
        popped.push_back(out.value);
    }
    slow_producer.join();
    release.join();
    CHECK(popped == std::vector<int>{1, 2});
}

TEST_CASE("worker pool handles every item then stops", "[queue]") {
    mpmc_ring<int> ring(16);
    std::atomic<long> sum{0};
    std::atomic<int> count{0};
    {
        worker_pool<int> pool(ring, 3, [&](int& value) {
            sum += value;
            ++count;
        });
        CHECK(pool.size() == 3);
        for (int i = 1; i <= 1000; ++i) {
            int value = i;
            while (!ring.try_push(std::move(value))) {
                std::this_thread::yield();
            }
        }
    }  // the destructor closes the ring and drains it
    CHECK(count == 1000);
    CHECK(sum == 1000 * 1001 / 2);
}

TEST_CASE("worker pool is woken once for a batch", "[queue]") {
    mpmc_ring<int> ring(256);
    std::atomic<int> count{0};
    worker_pool<int> pool(ring, 2, [&](int&) { ++count; });
    while (ring.parked_approx() < 2) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const std::uint64_t before = ring.notifications();
    std::vector<int> batch(100, 1);
    REQUIRE(ring.try_push_bulk(batch.begin(), batch.end()) == batch.end());
    CHECK(ring.notifications() - before == 1);
    while (count < 100) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(count == 100);
}

TEST_CASE("worker pool reports a full ring instead of blocking", "[queue]") {
    mpmc_ring<int> ring(4);
    std::atomic<bool> release{false};
    std::atomic<int> started{0};
    worker_pool<int> pool(ring, 1, [&](int&) {
        ++started;
        while (!release) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    int first = 0;
    REQUIRE(ring.try_push(std::move(first)));
    while (started == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // The worker is busy, so four more fill the ring and the fifth is refused at once.
    std::vector<int> values(5, 1);
    CHECK(ring.try_push_bulk(values.begin(), values.end()) - values.begin() == 4);
    int extra = 2;
    CHECK_FALSE(ring.try_push(std::move(extra)));
    release = true;
}
