#pragma once

// A log-linear latency histogram in the style of HdrHistogram: exact below 128 ns, then 128
// equal sub-buckets in every power of two, up to 2^43 ns (about 2.4 hours).

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace tgsearch::bench {

/// Counts of latencies in nanoseconds, from which quantiles are read with at most 0.4%
/// relative error. Values above the range are counted in the top bucket, but the maximum stays
/// exact.
///
/// Values below 2^sub_bucket_bits are counted exactly. Above, each range [2^e, 2^(e+1)) is
/// split into 2^sub_bucket_bits buckets of width 2^(e - sub_bucket_bits), so a bucket is at
/// most 1/128 of its lower bound wide, and its midpoint is within 1/256 of any value in it.
/// The minimum and maximum are kept exactly. Not thread-safe; 37 KiB per instance.
class latency_histogram {
public:
    /// Sub-buckets per power of two, as a power of two.
    static constexpr int sub_bucket_bits = 7;
    static constexpr std::uint64_t sub_bucket_count = std::uint64_t{1} << sub_bucket_bits;

    /// Values at or above 2^max_exponent ns are counted in the top bucket.
    static constexpr int max_exponent = 43;
    static constexpr std::uint64_t max_trackable = (std::uint64_t{1} << max_exponent) - 1;

    static constexpr std::size_t bucket_count =
        sub_bucket_count + (max_exponent - sub_bucket_bits) * sub_bucket_count;

    /// Counts one value, in nanoseconds.
    void record(std::uint64_t value_ns) noexcept {
        ++counts_[bucket_of(std::min(value_ns, max_trackable))];
        ++total_;
        min_ = std::min(min_, value_ns);
        max_ = std::max(max_, value_ns);
        sum_ += static_cast<double>(value_ns);
    }

    /// Adds every value counted by `other`.
    void merge(const latency_histogram& other) noexcept {
        for (std::size_t i = 0; i < bucket_count; ++i) {
            counts_[i] += other.counts_[i];
        }
        total_ += other.total_;
        min_ = std::min(min_, other.min_);
        max_ = std::max(max_, other.max_);
        sum_ += other.sum_;
    }

    void reset() noexcept { *this = latency_histogram(); }

    std::uint64_t count() const noexcept { return total_; }

    /// Smallest and largest value recorded, exact; 0 when empty.
    std::uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }
    std::uint64_t max() const noexcept { return max_; }

    double mean() const noexcept { return total_ == 0 ? 0.0 : sum_ / static_cast<double>(total_); }

    /// Returns the value of rank ceil(q * count) in sorted order (at least rank 1); see
    /// value_at_rank. `q` is clamped to [0, 1], so quantile(1.0) is the maximum.
    std::uint64_t quantile(double q) const noexcept {
        q = std::clamp(q, 0.0, 1.0);
        return value_at_rank(
            static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_))));
    }

    /// Returns the value of 1-based `rank` in sorted order: the exact minimum or maximum for
    /// the first and last rank, else the midpoint of its bucket clamped to them; 0 when empty.
    /// Ranks outside [1, count] are clamped to it.
    std::uint64_t value_at_rank(std::uint64_t rank) const noexcept {
        if (total_ == 0) {
            return 0;
        }
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        if (rank == 1) {
            return min_;
        }
        if (rank == total_) {
            return max_;
        }
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < bucket_count; ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                const std::uint64_t middle = lower_bound_of(i) + width_of(i) / 2;
                return std::clamp(middle, min_, max_);
            }
        }
        return max_;
    }

    /// Index of the bucket that counts `value`, which must be at most max_trackable.
    static constexpr std::size_t bucket_of(std::uint64_t value) noexcept {
        if (value < sub_bucket_count) {
            return static_cast<std::size_t>(value);
        }
        const int exponent = std::bit_width(value) - 1;
        const int shift = exponent - sub_bucket_bits;
        const std::uint64_t sub_bucket = (value >> shift) - sub_bucket_count;
        return static_cast<std::size_t>(
            sub_bucket_count + static_cast<std::uint64_t>(shift) * sub_bucket_count + sub_bucket);
    }

    /// Smallest value counted by bucket `index`.
    static constexpr std::uint64_t lower_bound_of(std::size_t index) noexcept {
        if (index < sub_bucket_count) {
            return index;
        }
        const std::uint64_t shift = (index - sub_bucket_count) / sub_bucket_count;
        const std::uint64_t sub_bucket = (index - sub_bucket_count) % sub_bucket_count;
        return (sub_bucket_count + sub_bucket) << shift;
    }

    /// Number of distinct values counted by bucket `index`.
    static constexpr std::uint64_t width_of(std::size_t index) noexcept {
        if (index < sub_bucket_count) {
            return 1;
        }
        return std::uint64_t{1} << ((index - sub_bucket_count) / sub_bucket_count);
    }

private:
    std::array<std::uint64_t, bucket_count> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t max_ = 0;
    double sum_ = 0.0;
};

static_assert(latency_histogram::bucket_of(latency_histogram::max_trackable) ==
                  latency_histogram::bucket_count - 1,
              "the largest trackable value must fall in the last bucket");

}  // namespace tgsearch::bench
