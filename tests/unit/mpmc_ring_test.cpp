#include "queue/mpmc_ring.hpp"
#include "queue/worker_pool.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
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

TEST_CASE("ring delivers every value exactly once under contention", "[queue]") {
    struct shape {
        int producers;
        int consumers;
    };
    // 4 + 4 threads oversubscribe a 2-core machine, which exercises preemption mid-operation.
    const shape shapes[] = {{1, 1}, {2, 2}, {4, 4}, {1, 4}, {4, 1}};
    for (const shape& s : shapes) {
        CAPTURE(s.producers, s.consumers);
        constexpr std::uint64_t per_producer = 50'000;
        mpmc_ring<std::uint64_t> ring(64);
        std::vector<std::vector<std::uint64_t>> popped(s.consumers);
        std::atomic<std::uint64_t> remaining{per_producer * s.producers};

        std::vector<std::thread> threads;
        for (int c = 0; c < s.consumers; ++c) {
            threads.emplace_back([&, c] {
                std::uint64_t value = 0;
                while (ring.pop_wait(value)) {
                    popped[c].push_back(value);
                    if (remaining.fetch_sub(1) == 1) {
                        ring.close();
                    }
                }
            });
        }
        for (int p = 0; p < s.producers; ++p) {
            threads.emplace_back([&, p] {
                for (std::uint64_t i = 0; i < per_producer; ++i) {
                    std::uint64_t value = (static_cast<std::uint64_t>(p) << 32) | i;
                    while (!ring.try_push(std::move(value))) {
                        std::this_thread::yield();
                    }
                }
            });
        }
        for (std::thread& thread : threads) {
            thread.join();
        }

        std::vector<std::uint64_t> all;
        for (const auto& values : popped) {
            // Within one consumer, the values of each producer come out in push order.
            std::vector<std::int64_t> last(s.producers, -1);
            for (std::uint64_t value : values) {
                const auto producer = static_cast<std::size_t>(value >> 32);
                const auto sequence = static_cast<std::int64_t>(value & 0xffffffffu);
                REQUIRE(sequence > last[producer]);
                last[producer] = sequence;
            }
            all.insert(all.end(), values.begin(), values.end());
        }
        REQUIRE(all.size() == per_producer * s.producers);
        std::sort(all.begin(), all.end());
        CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    }
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
