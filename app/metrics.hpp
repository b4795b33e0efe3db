#pragma once

// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format 0.0.4. Updating a metric is one or two relaxed atomic operations with no
// lock and no allocation, so the bot updates them for every Telegram update. Looking up a
// labelled child takes a lock, so hot paths look their children up once and keep the
// references.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tgsearch {

/// Alignment of each metric, so that metrics updated by different threads never share a
/// cache line, which is 64 bytes on x86-64.
inline constexpr std::size_t metric_alignment = 64;

/// A count that only goes up, such as requests served. Thread-safe.
class alignas(metric_alignment) counter {
public:
    void increment(std::uint64_t amount = 1) noexcept {
        value_.fetch_add(amount, std::memory_order_relaxed);
    }
    std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down, such as a queue depth. Thread-safe.
class alignas(metric_alignment) gauge {
public:
    void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
    void add(double amount) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
    double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0};
};

/// Bucket counts and sum of a histogram at one moment.
struct histogram_snapshot {
    /// Upper bounds of the finite buckets in increasing order. The +Inf bucket follows the last.
    std::vector<double> upper_bounds;
    /// Observations per bucket, not cumulative: counts[i] are the values in
    /// (upper_bounds[i - 1], upper_bounds[i]], and counts.back() those above every bound.
    std::vector<std::uint64_t> counts;
    double sum = 0;

    /// Returns the number of observations.
    std::uint64_t count() const;

    /// Estimates the q-quantile (0 <= q <= 1) by linear interpolation inside the bucket that
    /// contains it, as Prometheus' histogram_quantile does: the first bucket starts at 0, and a
    /// quantile in the +Inf bucket returns the highest finite bound. Returns NaN when the
    /// histogram is empty.
    double quantile(double q) const;

    /// Adds the counts and sum of `other`, a snapshot of a histogram with the same bounds.
    /// Throws std::invalid_argument when the bounds differ.
    void merge(const histogram_snapshot& other);

    /// Returns the observations made after `earlier`, an older snapshot of the same histogram.
    /// Throws std::invalid_argument when the bounds differ.
    histogram_snapshot since(const histogram_snapshot& earlier) const;
};

/// Counts observations, such as latencies, in buckets with fixed upper bounds. Thread-safe.
/// An observation costs a binary search over the bounds and two relaxed atomic adds.
class alignas(metric_alignment) histogram {
public:
    /// Throws std::invalid_argument unless `upper_bounds` is non-empty, finite and strictly
    /// increasing.
    explicit histogram(std::vector<double> upper_bounds);

    histogram(const histogram&) = delete;
    histogram& operator=(const histogram&) = delete;

    void observe(double value) noexcept;

    /// Observes a duration in seconds, the base unit Prometheus uses for time.
    void observe(std::chrono::nanoseconds duration) noexcept {
        observe(static_cast<double>(duration.count()) * 1e-9);
    }

    /// Returns the current counts. Each bucket is read atomically, but observations made
    /// during the call may show in some buckets or in the sum and not in others.
    histogram_snapshot snapshot() const;

    const std::vector<double>& upper_bounds() const { return upper_bounds_; }

private:
    std::vector<double> upper_bounds_;
    /// One count per bucket, the +Inf bucket last.
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
    std::atomic<double> sum_{0};
};

/// Bucket bounds in seconds for latencies from 10 µs to 60 s: 1, 2.5 and 5 steps per decade.
std::vector<double> latency_buckets_seconds();

/// The metric type a family renders in its # TYPE line.
enum class metric_type { counter, gauge, histogram };

namespace detail {

/// Appends the sample lines of one child metric: `labels` is the rendered label set without
/// braces, empty when the family has no labels.
void render_samples(std::string& out, std::string_view name, std::string_view labels,
                    const counter& metric);
void render_samples(std::string& out, std::string_view name, std::string_view labels,
                    const gauge& metric);
void render_samples(std::string& out, std::string_view name, std::string_view labels,
                    const histogram& metric);

}  // namespace detail

/// The metrics of one name and their label values, without their type. metric_registry
/// creates the families and renders them. Thread-safe.
class metric_family_base {
public:
    virtual ~metric_family_base() = default;

    const std::string& name() const { return name_; }
    metric_type type() const { return type_; }

    /// Appends the # HELP and # TYPE lines and the sample lines of every child to `out`.
    void render(std::string& out) const;

protected:
    metric_family_base(std::string name, std::string help, metric_type type,
                       std::vector<std::string> label_names);

    /// Returns the index of the child with `values`, calling add_child() at the first call
    /// with them. Throws std::invalid_argument when the number of values differs from the
    /// number of label names. Call with mutex_ held.
    std::size_t child_index(std::initializer_list<std::string_view> values);

    virtual void add_child() = 0;
    virtual void render_child(std::string& out, std::size_t index,
                              std::string_view labels) const = 0;

    /// Guards the children and their label values.
    mutable std::mutex mutex_;

private:
    std::string name_;
    std::string help_;
    metric_type type_;
    std::vector<std::string> label_names_;
    /// Label values of each child, in order of creation.
    std::vector<std::vector<std::string>> label_values_;
};

/// A family of metrics of type Metric (counter, gauge or histogram), one per combination of
/// label values.
template <class Metric>
class metric_family final : public metric_family_base {
public:
    /// Use metric_registry::add_counter, add_gauge or add_histogram.
    metric_family(std::string name, std::string help, metric_type type,
                  std::vector<std::string> label_names, std::vector<double> upper_bounds = {})
        : metric_family_base(std::move(name), std::move(help), type, std::move(label_names)),
          upper_bounds_(std::move(upper_bounds)) {}

    /// Returns the child with these label values, in the order of the family's label names,
    /// creating it at the first call. The reference stays valid as long as the registry.
    /// Takes a lock, so hot paths call it once and keep the reference. Throws
    /// std::invalid_argument when the number of values differs from the number of label
    /// names.
    Metric& labels(std::initializer_list<std::string_view> values = {}) {
        std::lock_guard lock(mutex_);
        return *children_[child_index(values)];
    }

private:
    void add_child() override {
        if constexpr (std::is_same_v<Metric, histogram>) {
            children_.push_back(std::make_unique<histogram>(upper_bounds_));
        } else {
            children_.push_back(std::make_unique<Metric>());
        }
    }

    void render_child(std::string& out, std::size_t index, std::string_view labels) const override {
        detail::render_samples(out, name(), labels, *children_[index]);
    }

    std::vector<double> upper_bounds_;
    std::vector<std::unique_ptr<Metric>> children_;
};

/// The metrics of a process, rendered for Prometheus' scrapes.
///
/// Families are added once, typically at start-up; a name must match [a-zA-Z_:][a-zA-Z0-9_:]*
/// and a label name [a-zA-Z_][a-zA-Z0-9_]* without a leading "__". Conventions the callers
/// keep: a common prefix, "_total" at the end of counters, base units (seconds, bytes).
/// Thread-safe.
class metric_registry {
public:
    /// Adds a family of counters. Throws std::invalid_argument for an invalid or repeated name
    /// or label name.
    metric_family<counter>& add_counter(std::string name, std::string help,
                                        std::vector<std::string> label_names = {});

    /// Adds a family of gauges. Throws as add_counter does.
    metric_family<gauge>& add_gauge(std::string name, std::string help,
                                    std::vector<std::string> label_names = {});

    /// Adds a family of histograms with the bucket bounds `upper_bounds`. Throws as
    /// add_counter does, and also for the label name "le", which the buckets use, and for
    /// bounds that histogram's constructor rejects.
    metric_family<histogram>& add_histogram(std::string name, std::string help,
                                            std::vector<double> upper_bounds,
                                            std::vector<std::string> label_names = {});

    /// Adds a function that render() calls first, to set the gauges whose values are read
    /// from elsewhere rather than updated as things happen. It runs on the thread that calls
    /// render().
    void on_collect(std::function<void()> collect);

    /// Renders every family in the order they were added, in the Prometheus text format 0.0.4
    /// (Content-Type "text/plain; version=0.0.4; charset=utf-8").
    std::string render() const;

private:
    template <class Metric>
    metric_family<Metric>& add(std::string name, std::string help, metric_type type,
                               std::vector<std::string> label_names,
                               std::vector<double> upper_bounds);

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<metric_family_base>> families_;
    std::vector<std::function<void()>> collectors_;
};

/// Kinds of Telegram update, for the type label of tgsearch_updates_received_total.
enum class update_type {
    message,         ///< "message", with or without text
    edited,          ///< "edited_message", "edited_channel_post", "edited_business_message"
    callback_query,  ///< a button press
    inline_query,
    other,  ///< any other update type, and elements of a response that are not updates
};
inline constexpr std::size_t update_type_count = 5;

/// Returns the label value of `type`: "message", "edited", "callback_query", "inline_query" or
/// "other".
std::string_view update_type_name(update_type type);

/// Returns the update_type of the first field of an Update other than update_id, such as
/// "edited_message".
update_type update_type_of_field(std::string_view field);

/// Bot API methods the bot calls, for the method label.
enum class api_method {
    get_me,
    get_updates,
    send_message,
    edit_message_text,
    answer_callback_query,
    answer_inline_query,
    set_my_commands,
    set_webhook,
    delete_webhook,
    get_webhook_info,
};
inline constexpr std::size_t api_method_count = 10;

/// Returns the Bot API name of `method`, such as "sendMessage".
std::string_view api_method_name(api_method method);

/// Reasons for finishing an update without a search, for tgsearch_updates_skipped_total.
enum class skip_reason {
    malformed,      ///< breaks the Bot API's schema or Telegram's limits
    ignored,        ///< valid, but of a type or without text that the bot does not answer
    flood_limited,  ///< its user sent queries faster than user_flood_guard allows
};

/// Values that the bot reads from its parts when it renders the metrics or replies to /stats,
/// rather than updating them as things happen.
struct bot_state {
    std::size_t queued_messages = 0;
    std::size_t message_capacity = 0;
    std::size_t queued_inline_queries = 0;
    std::size_t inline_query_capacity = 0;
    std::size_t in_flight = 0;
    /// Tasks in the Redis spill list or taken back and not yet queued, 0 without Redis.
    std::size_t spill_backlog = 0;
    std::size_t index_documents = 0;
    std::size_t index_terms = 0;
    /// Heap bytes of the index and its documents, plus the size of its mapped index file.
    std::size_t index_bytes = 0;
    bool healthy = false;
};

/// Time between the samples that /stats compares with now, and the span it calls "the last
/// minute".
inline constexpr std::chrono::seconds stats_sample_interval{5};
inline constexpr std::chrono::seconds stats_window{60};

/// The metrics of the Telegram bot, registered in a registry of their own, with the children
/// that the hot paths update looked up once. See docs/metrics.md for each metric. Every
/// member function may be called from any thread, unless its comment states otherwise.
class bot_metrics {
public:
    using clock_type = std::chrono::steady_clock;

    /// Registers the metrics, the Redis ones only `with_redis`. `start` and `steady_start` are
    /// the time the bot starts, for tgsearch_start_time_seconds and the uptime.
    bot_metrics(bool with_redis, std::chrono::system_clock::time_point start,
                clock_type::time_point steady_start);

    metric_registry& registry() { return registry_; }

    /// Makes render() read `read_state` first, on the rendering thread, to set the gauges of
    /// bot_state. Call it once, before the first render().
    void set_state_reader(std::function<bot_state()> read_state);

    /// Renders every metric for a scrape of /metrics.
    std::string render() const { return registry_.render(); }

    void update_received(update_type type) noexcept { updates_received_[index(type)]->increment(); }
    void update_skipped(skip_reason reason) noexcept {
        updates_skipped_[static_cast<std::size_t>(reason)]->increment();
    }

    /// Records a Bot API call to which Telegram responded with "ok": true.
    void call_succeeded(api_method method) noexcept { methods_[index(method)].ok->increment(); }

    /// Records a failed Bot API call: an API error with Telegram's `error_code`, or no
    /// response at all when `error_code` is 0. Looks the code's counter up under a lock, which
    /// only failures pay.
    void call_failed(api_method method, int error_code);

    /// Records that a call of `method` is made again after it failed.
    void call_retried(api_method method) noexcept { methods_[index(method)].retries->increment(); }

    /// Records a reply carried by `method` that Telegram accepted `latency` after its update
    /// arrived, or without a latency when the arrival is not known. The latency goes to the
    /// histogram of the update type the method replies to: sendMessage a message,
    /// editMessageText and answerCallbackQuery a callback_query, answerInlineQuery an
    /// inline_query.
    void reply_sent(api_method method, std::optional<std::chrono::nanoseconds> latency) noexcept;

    /// Records a reply that was given up on: dropped after an error, or left at shutdown.
    void reply_dropped(api_method method) noexcept {
        if (counter* const dropped = methods_[index(method)].replies_dropped) {
            dropped->increment();
        }
    }

    /// Records a successful getUpdates at `now`, for the last-poll gauge.
    void poll_succeeded(std::chrono::system_clock::time_point now) noexcept;

    /// Records tasks appended to the Redis spill list. Does nothing without Redis.
    void tasks_spilled(std::size_t count) noexcept;

    /// Returns the histogram of the worker time per reply to updates of `type`, or null for
    /// the types that get no search (edited and other).
    histogram* search_seconds(update_type type) { return search_seconds_[index(type)]; }

    /// Keeps a sample of the update count and latency histograms for /stats, and drops the
    /// samples older than the stats window. Call it every stats_sample_interval, from one
    /// thread at a time.
    void sample(clock_type::time_point now);

    /// Renders the answer to /stats as Telegram HTML: uptime, updates per second over the
    /// last minute and since start, percentiles of the reply latency and the search time,
    /// ring depth, Redis spill-over and index size. Call it on the thread that calls sample().
    std::string stats_html(clock_type::time_point now, const bot_state& state) const;

private:
    struct method_children {
        counter* ok = nullptr;
        counter* failed = nullptr;
        counter* retries = nullptr;
        counter* replies_ok = nullptr;
        counter* replies_dropped = nullptr;
    };

    struct stats_sample {
        clock_type::time_point time;
        std::uint64_t updates = 0;
        histogram_snapshot reply_latency;
        histogram_snapshot search_time;
    };

    static std::size_t index(update_type type) { return static_cast<std::size_t>(type); }
    static std::size_t index(api_method method) { return static_cast<std::size_t>(method); }

    stats_sample take_sample(clock_type::time_point now) const;

    metric_registry registry_;
    clock_type::time_point steady_start_;
    std::array<counter*, update_type_count> updates_received_{};
    std::array<counter*, 3> updates_skipped_{};
    std::array<method_children, api_method_count> methods_{};
    metric_family<counter>* errors_ = nullptr;
    metric_family<counter>* transport_errors_ = nullptr;
    metric_family<counter>* rate_limited_ = nullptr;
    std::array<histogram*, update_type_count> reply_latency_{};
    std::array<histogram*, update_type_count> search_seconds_{};
    gauge* last_poll_ = nullptr;
    counter* spilled_tasks_ = nullptr;
    std::deque<stats_sample> samples_;
};

/// Content-Type of the Prometheus text exposition format that metric_registry::render writes.
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

/// Appends `value` as Prometheus writes a sample value: the shortest text that reads back as
/// the same double, and "+Inf", "-Inf" or "NaN".
void append_sample_value(std::string& out, double value);

/// Appends `value` escaped for a label value in quotes: backslash, double quote and line feed
/// become \\, \" and \n.
void append_label_value(std::string& out, std::string_view value);

}  // namespace tgsearch
