#include "bench/latency_histogram.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using tgsearch::bench::latency_histogram;

namespace {

/// Returns the value of rank ceil(q * n) in `sorted`, as latency_histogram::quantile defines it.
std::uint64_t reference_quantile(const std::vector<std::uint64_t>& sorted, double q) {
    const auto rank = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size()))));
    return sorted[rank - 1];
}

/// Values spread evenly on a log scale from 1 ns to `max_ns`, drawn with a fixed seed.
std::vector<std::uint64_t> log_uniform_values(std::size_t count, double max_ns,
                                              std::uint32_t seed) {
    std::mt19937_64 random(seed);
    std::uniform_real_distribution<double> exponent(0.0, std::log(max_ns));
    std::vector<std::uint64_t> values(count);
    for (std::uint64_t& value : values) {
        value = static_cast<std::uint64_t>(std::exp(exponent(random)));
    }
    return values;
}

constexpr double checked_quantiles[] = {0.0, 0.01, 0.1,   0.25,   0.5, 0.75,
                                        0.9, 0.99, 0.999, 0.9999, 1.0};

}  // namespace

TEST_CASE("histogram quantiles within 1% of sorted values", "[latency_histogram]") {
    // From 1 ns to 10 minutes, which covers every exponent the benchmark meets.
    for (const std::uint32_t seed : {1u, 2u, 3u}) {
        std::vector<std::uint64_t> values = log_uniform_values(100'000, 600e9, seed);
        latency_histogram histogram;
        for (const std::uint64_t value : values) {
            histogram.record(value);
        }
        std::sort(values.begin(), values.end());
        for (const double q : checked_quantiles) {
            const auto expected = static_cast<double>(reference_quantile(values, q));
            const auto actual = static_cast<double>(histogram.quantile(q));
            INFO("seed " << seed << ", quantile " << q);
            CHECK(std::abs(actual - expected) <= 0.01 * expected);
        }
    }
}

TEST_CASE("histogram quantiles of a narrow cluster", "[latency_histogram]") {
    // Latencies of a fast bot: most near 300 µs with a tail; many values share a bucket.
    std::mt19937_64 random(42);
    std::lognormal_distribution<double> spread(std::log(300'000.0), 0.3);
    std::vector<std::uint64_t> values(50'000);
    latency_histogram histogram;
    for (std::uint64_t& value : values) {
        value = static_cast<std::uint64_t>(spread(random));
        histogram.record(value);
    }
    std::sort(values.begin(), values.end());
    for (const double q : checked_quantiles) {
        const auto expected = static_cast<double>(reference_quantile(values, q));
        const auto actual = static_cast<double>(histogram.quantile(q));
        INFO("quantile " << q);
        CHECK(std::abs(actual - expected) <= 0.01 * expected);
    }
}

TEST_CASE("histogram counts small values exactly", "[latency_histogram]") {
    latency_histogram histogram;
    for (std::uint64_t value = 0; value < latency_histogram::sub_bucket_count; ++value) {
        histogram.record(value);
    }
    CHECK(histogram.count() == latency_histogram::sub_bucket_count);
    CHECK(histogram.quantile(0.5) == 63);
    CHECK(histogram.quantile(0.25) == 31);
    CHECK(histogram.quantile(1.0) == 127);
}

TEST_CASE("histogram keeps min and max exact", "[latency_histogram]") {
    latency_histogram histogram;
    histogram.record(1'234'567);
    histogram.record(7'654'321);
    histogram.record(3'000'001);
    CHECK(histogram.min() == 1'234'567);
    CHECK(histogram.max() == 7'654'321);
    CHECK(histogram.quantile(0.0) == 1'234'567);
    CHECK(histogram.quantile(1.0) == 7'654'321);
    CHECK(histogram.mean() == Approx((1'234'567.0 + 7'654'321.0 + 3'000'001.0) / 3.0));
}

TEST_CASE("histogram reads values by rank", "[latency_histogram]") {
    latency_histogram histogram;
    for (std::uint64_t value = 1; value <= 100; ++value) {
        histogram.record(value);
    }
    CHECK(histogram.value_at_rank(1) == 1);
    CHECK(histogram.value_at_rank(37) == 37);
    CHECK(histogram.value_at_rank(100) == 100);
    // Ranks outside [1, count] are clamped.
    CHECK(histogram.value_at_rank(0) == 1);
    CHECK(histogram.value_at_rank(500) == 100);
}

TEST_CASE("empty histogram returns zeros", "[latency_histogram]") {
    const latency_histogram histogram;
    CHECK(histogram.count() == 0);
    CHECK(histogram.min() == 0);
    CHECK(histogram.max() == 0);
    CHECK(histogram.quantile(0.99) == 0);
    CHECK(histogram.mean() == 0.0);
}

TEST_CASE("histogram buckets tile the range without gaps", "[latency_histogram]") {
    std::uint64_t next_lower = 0;
    for (std::size_t index = 0; index < latency_histogram::bucket_count; ++index) {
        const std::uint64_t lower = latency_histogram::lower_bound_of(index);
        const std::uint64_t upper = lower + latency_histogram::width_of(index) - 1;
        INFO("bucket " << index);
        REQUIRE(lower == next_lower);
        REQUIRE(latency_histogram::bucket_of(lower) == index);
        REQUIRE(latency_histogram::bucket_of(upper) == index);
        // A bucket is at most 1/128 of its lower bound wide, which bounds the error.
        REQUIRE(static_cast<double>(upper - lower) <= static_cast<double>(lower) / 128.0);
        next_lower = upper + 1;
    }
    CHECK(next_lower - 1 == latency_histogram::max_trackable);
}

TEST_CASE("histogram clamps values above its range", "[latency_histogram]") {
    latency_histogram histogram;
    const std::uint64_t huge = latency_histogram::max_trackable * 4;
    histogram.record(huge);
    histogram.record(10);
    CHECK(histogram.count() == 2);
    CHECK(histogram.max() == huge);
    CHECK(histogram.quantile(1.0) == huge);
    CHECK(histogram.quantile(0.5) == 10);
}

TEST_CASE("merged histogram equals one fed every value", "[latency_histogram]") {
    const std::vector<std::uint64_t> values = log_uniform_values(20'000, 1e10, 7);
    latency_histogram whole;
    latency_histogram first_half;
    latency_histogram second_half;
    for (std::size_t i = 0; i < values.size(); ++i) {
        whole.record(values[i]);
        (i % 2 == 0 ? first_half : second_half).record(values[i]);
    }
    first_half.merge(second_half);
    CHECK(first_half.count() == whole.count());
    CHECK(first_half.min() == whole.min());
    CHECK(first_half.max() == whole.max());
    for (const double q : checked_quantiles) {
        INFO("quantile " << q);
        CHECK(first_half.quantile(q) == whole.quantile(q));
    }
}
