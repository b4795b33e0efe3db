#include "app/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tgsearch {
namespace {

bool is_metric_name(std::string_view name) {
    if (name.empty()) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool letter =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        const bool digit = c >= '0' && c <= '9';
        if (!letter && !(digit && i > 0)) {
            return false;
        }
    }
    return true;
}

bool is_label_name(std::string_view name) {
    // Names starting with "__" are reserved for Prometheus' own use.
    return is_metric_name(name) && name.find(':') == std::string_view::npos &&
           !name.starts_with("__");
}

void append_help_text(std::string& out, std::string_view help) {
    for (const char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

std::string_view type_name(metric_type type) {
    switch (type) {
        case metric_type::counter:
            return "counter";
        case metric_type::gauge:
            return "gauge";
        case metric_type::histogram:
            return "histogram";
    }
    return "untyped";
}

void append_sample_line(std::string& out, std::string_view name, std::string_view suffix,
                        std::string_view labels) {
    out += name;
    out += suffix;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
}

void check_same_bounds(const histogram_snapshot& a, const histogram_snapshot& b) {
    if (a.upper_bounds != b.upper_bounds || a.counts.size() != b.counts.size()) {
        throw std::invalid_argument("histogram snapshots with different bucket bounds");
    }
}

}  // namespace

std::uint64_t histogram_snapshot::count() const {
    std::uint64_t total = 0;
    for (const std::uint64_t bucket : counts) {
        total += bucket;
    }
    return total;
}

double histogram_snapshot::quantile(double q) const {
    const std::uint64_t total = count();
    if (total == 0 || upper_bounds.empty()) {
        return std::nan("");
    }
    const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
    double below = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const double in_bucket = static_cast<double>(counts[i]);
        if (in_bucket == 0 || below + in_bucket < rank) {
            below += in_bucket;
            continue;
        }
        if (i == upper_bounds.size()) {
            return upper_bounds.back();
        }
        const double lower = i == 0 ? 0.0 : upper_bounds[i - 1];
        const double upper = upper_bounds[i];
        return lower + (upper - lower) * (rank - below) / in_bucket;
    }
    return upper_bounds.back();
}

void histogram_snapshot::merge(const histogram_snapshot& other) {
    check_same_bounds(*this, other);
    for (std::size_t i = 0; i < counts.size(); ++i) {
        counts[i] += other.counts[i];
    }
    sum += other.sum;
}

histogram_snapshot histogram_snapshot::since(const histogram_snapshot& earlier) const {
    check_same_bounds(*this, earlier);
    histogram_snapshot difference = *this;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        // Counts only grow, but a snapshot taken during observations may be a little ahead in
        // one bucket of a later one.
        difference.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0;
    }
    difference.sum = std::max(0.0, sum - earlier.sum);
    return difference;
}

histogram::histogram(std::vector<double> upper_bounds) : upper_bounds_(std::move(upper_bounds)) {
    if (upper_bounds_.empty()) {
        throw std::invalid_argument("a histogram needs at least one bucket bound");
    }
    for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
        if (!std::isfinite(upper_bounds_[i]) ||
            (i > 0 && upper_bounds_[i] <= upper_bounds_[i - 1])) {
            throw std::invalid_argument(
                fmt::format("invalid histogram bucket bound {} at position {}: bounds must be "
                            "finite and strictly increasing; +Inf is added by itself",
                            upper_bounds_[i], i));
        }
    }
    counts_ = std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds_.size() + 1);
}

void histogram::observe(double value) noexcept {
    // A value equal to a bound belongs to that bound's bucket ("le" is less or equal), and NaN
    // goes to +Inf.
    const auto bound = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
    const auto bucket = std::isnan(value) ? upper_bounds_.size()
                                          : static_cast<std::size_t>(bound - upper_bounds_.begin());
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

histogram_snapshot histogram::snapshot() const {
    histogram_snapshot result;
    result.upper_bounds = upper_bounds_;
    result.counts.resize(upper_bounds_.size() + 1);
    for (std::size_t i = 0; i < result.counts.size(); ++i) {
        result.counts[i] = counts_[i].load(std::memory_order_relaxed);
    }
    result.sum = sum_.load(std::memory_order_relaxed);
    return result;
}

std::vector<double> latency_buckets_seconds() {
    return {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
            0.05,    0.1,      0.25,    0.5,    1,       2.5,    5,     10,     30,    60};
}

void append_sample_value(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
    } else if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
    } else {
        // fmt writes the shortest text that reads back as the same double.
        fmt::format_to(std::back_inserter(out), "{}", value);
    }
}

void append_label_value(std::string& out, std::string_view value) {
    for (const char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

namespace detail {

void render_samples(std::string& out, std::string_view name, std::string_view labels,
                    const counter& metric) {
    append_sample_line(out, name, "", labels);
    fmt::format_to(std::back_inserter(out), "{}\n", metric.value());
}

void render_samples(std::string& out, std::string_view name, std::string_view labels,
                    const gauge& metric) {
    append_sample_line(out, name, "", labels);
    append_sample_value(out, metric.value());
    out += '\n';
}

void render_samples(std::string& out, std::string_view name, std::string_view labels,
                    const histogram& metric) {
    const histogram_snapshot snapshot = metric.snapshot();
    const std::string separator = labels.empty() ? "" : ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < snapshot.counts.size(); ++i) {
        cumulative += snapshot.counts[i];
        std::string bucket_labels(labels);
        bucket_labels += separator;
        bucket_labels += "le=\"";
        if (i < snapshot.upper_bounds.size()) {
            append_sample_value(bucket_labels, snapshot.upper_bounds[i]);
        } else {
            bucket_labels += "+Inf";
        }
        bucket_labels += '"';
        append_sample_line(out, name, "_bucket", bucket_labels);
        fmt::format_to(std::back_inserter(out), "{}\n", cumulative);
    }
    append_sample_line(out, name, "_sum", labels);
    append_sample_value(out, snapshot.sum);
    out += '\n';
    append_sample_line(out, name, "_count", labels);
    // The +Inf bucket and _count must agree, so both come from the same snapshot.
    fmt::format_to(std::back_inserter(out), "{}\n", cumulative);
}

}  // namespace detail

metric_family_base::metric_family_base(std::string name, std::string help, metric_type type,
                                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

std::size_t metric_family_base::child_index(std::initializer_list<std::string_view> values) {
    if (values.size() != label_names_.size()) {
        throw std::invalid_argument(fmt::format("metric {} takes {} label values, not {}", name_,
                                                label_names_.size(), values.size()));
    }
    for (std::size_t i = 0; i < label_values_.size(); ++i) {
        if (std::equal(label_values_[i].begin(), label_values_[i].end(), values.begin(),
                       values.end())) {
            return i;
        }
    }
    add_child();
    label_values_.emplace_back(values.begin(), values.end());
    return label_values_.size() - 1;
}

void metric_family_base::render(std::string& out) const {
    out += "# HELP ";
    out += name_;
    out += ' ';
    append_help_text(out, help_);
    out += "\n# TYPE ";
    out += name_;
    out += ' ';
    out += type_name(type_);
    out += '\n';
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < label_values_.size(); ++i) {
        std::string labels;
        for (std::size_t j = 0; j < label_names_.size(); ++j) {
            labels += j == 0 ? "" : ",";
            labels += label_names_[j];
            labels += "=\"";
            append_label_value(labels, label_values_[i][j]);
            labels += '"';
        }
        render_child(out, i, labels);
    }
}

template <class Metric>
metric_family<Metric>& metric_registry::add(std::string name, std::string help, metric_type type,
                                            std::vector<std::string> label_names,
                                            std::vector<double> upper_bounds) {
    if (!is_metric_name(name)) {
        throw std::invalid_argument("invalid metric name \"" + name +
                                    "\": expected [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
    for (const std::string& label : label_names) {
        if (!is_label_name(label) || (type == metric_type::histogram && label == "le")) {
            throw std::invalid_argument("invalid label name \"" + label + "\" of metric " + name +
                                        ": expected [a-zA-Z_][a-zA-Z0-9_]* without a leading "
                                        "\"__\", and not \"le\" on a histogram");
        }
    }
    if (type == metric_type::histogram) {
        // Checks the bounds now rather than when the first child is made.
        const histogram check(upper_bounds);
    }
    std::lock_guard lock(mutex_);
    for (const auto& family : families_) {
        if (family->name() == name) {
            throw std::invalid_argument("metric " + name + " is already registered");
        }
    }
    const bool unlabelled = label_names.empty();
    auto family = std::make_unique<metric_family<Metric>>(
        std::move(name), std::move(help), type, std::move(label_names), std::move(upper_bounds));
    metric_family<Metric>& result = *family;
    if (unlabelled) {
        // A metric without labels has one sample, which shows 0 before its first update.
        result.labels();
    }
    families_.push_back(std::move(family));
    return result;
}

metric_family<counter>& metric_registry::add_counter(std::string name, std::string help,
                                                     std::vector<std::string> label_names) {
    return add<counter>(std::move(name), std::move(help), metric_type::counter,
                        std::move(label_names), {});
}

metric_family<gauge>& metric_registry::add_gauge(std::string name, std::string help,
                                                 std::vector<std::string> label_names) {
    return add<gauge>(std::move(name), std::move(help), metric_type::gauge, std::move(label_names),
                      {});
}

metric_family<histogram>& metric_registry::add_histogram(std::string name, std::string help,
                                                         std::vector<double> upper_bounds,
                                                         std::vector<std::string> label_names) {
    return add<histogram>(std::move(name), std::move(help), metric_type::histogram,
                          std::move(label_names), std::move(upper_bounds));
}

void metric_registry::on_collect(std::function<void()> collect) {
    std::lock_guard lock(mutex_);
    collectors_.push_back(std::move(collect));
}

std::string metric_registry::render() const {
    std::lock_guard lock(mutex_);
    for (const auto& collect : collectors_) {
        collect();
    }
    std::string out;
    for (const auto& family : families_) {
        family->render(out);
    }
    return out;
}

}  // namespace tgsearch

namespace tgsearch {
namespace {

constexpr std::array<std::string_view, update_type_count> update_type_names = {
    "message", "edited", "callback_query", "inline_query", "other"};

constexpr std::array<std::string_view, api_method_count> api_method_names = {
    "getMe",           "getUpdates",          "sendMessage",
    "editMessageText", "answerCallbackQuery", "answerInlineQuery",
    "setMyCommands",   "setWebhook",          "deleteWebhook",
    "getWebhookInfo"};

/// Methods whose calls deliver replies, which tgsearch_replies_total counts.
constexpr std::array<api_method, 4> reply_methods = {
    api_method::send_message, api_method::edit_message_text, api_method::answer_callback_query,
    api_method::answer_inline_query};

/// Update types that get a reply, and so a search and a reply latency.
constexpr std::array<update_type, 3> answered_types = {
    update_type::message, update_type::callback_query, update_type::inline_query};

/// Formats seconds for /stats with a unit that keeps 2 or 3 significant digits.
std::string format_seconds(double seconds) {
    if (std::isnan(seconds)) {
        return "none";
    }
    if (seconds < 0.001) {
        return fmt::format("{:.0f} µs", seconds * 1e6);
    }
    if (seconds < 1) {
        return fmt::format("{:.1f} ms", seconds * 1e3);
    }
    return fmt::format("{:.2f} s", seconds);
}

std::string format_uptime(std::chrono::seconds uptime) {
    const auto days = std::chrono::duration_cast<std::chrono::days>(uptime);
    const auto hours = std::chrono::duration_cast<std::chrono::hours>(uptime - days);
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(uptime - days - hours);
    if (days.count() > 0) {
        return fmt::format("{} d {} h {} min", days.count(), hours.count(), minutes.count());
    }
    if (hours.count() > 0) {
        return fmt::format("{} h {} min", hours.count(), minutes.count());
    }
    if (minutes.count() > 0) {
        return fmt::format("{} min {} s", minutes.count(), (uptime - minutes).count());
    }
    return fmt::format("{} s", uptime.count());
}

std::string format_bytes(std::size_t bytes) {
    constexpr double mebibyte = 1024.0 * 1024.0;
    if (bytes < 1024 * 1024) {
        return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
    }
    if (static_cast<double>(bytes) < 1024.0 * mebibyte) {
        return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / mebibyte);
    }
    return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1024.0 * mebibyte));
}

/// The gauges that bot_metrics sets from a bot_state at each scrape.
struct gauges_from_state {
    gauge* message_depth = nullptr;
    gauge* inline_depth = nullptr;
    gauge* message_capacity = nullptr;
    gauge* inline_capacity = nullptr;
    gauge* in_flight = nullptr;
    gauge* spill_backlog = nullptr;  ///< null without Redis
    gauge* documents = nullptr;
    gauge* terms = nullptr;
    gauge* bytes = nullptr;
    gauge* uptime = nullptr;
    gauge* healthy = nullptr;
};

/// Returns a snapshot with the bounds of `like` and no observations.
histogram_snapshot empty_like(const histogram_snapshot& like) {
    histogram_snapshot empty;
    empty.upper_bounds = like.upper_bounds;
    empty.counts.assign(like.counts.size(), 0);
    return empty;
}

/// Formats the 50th, 90th and 99th percentiles of `snapshot`.
std::string format_percentiles(const histogram_snapshot& snapshot) {
    if (snapshot.count() == 0) {
        return "none yet";
    }
    return fmt::format("p50 {}, p90 {}, p99 {}", format_seconds(snapshot.quantile(0.5)),
                       format_seconds(snapshot.quantile(0.9)),
                       format_seconds(snapshot.quantile(0.99)));
}

}  // namespace

std::string_view update_type_name(update_type type) {
    return update_type_names[static_cast<std::size_t>(type)];
}

update_type update_type_of_field(std::string_view field) {
    if (field == "message") {
        return update_type::message;
    }
    if (field.starts_with("edited_")) {
        return update_type::edited;
    }
    if (field == "callback_query") {
        return update_type::callback_query;
    }
    if (field == "inline_query") {
        return update_type::inline_query;
    }
    return update_type::other;
}

std::string_view api_method_name(api_method method) {
    return api_method_names[static_cast<std::size_t>(method)];
}

bot_metrics::bot_metrics(bool with_redis, std::chrono::system_clock::time_point start,
                         clock_type::time_point steady_start)
    : steady_start_(steady_start) {
    auto& received = registry_.add_counter(
        "tgsearch_updates_received_total",
        "Updates received from getUpdates or the webhook, each counted once, by type.", {"type"});
    for (std::size_t i = 0; i < update_type_count; ++i) {
        updates_received_[i] = &received.labels({update_type_names[i]});
    }
    auto& skipped = registry_.add_counter(
        "tgsearch_updates_skipped_total",
        "Updates finished without a search: malformed ones, valid ones the bot does not answer, "
        "and queries over a user's flood limit.",
        {"reason"});
    updates_skipped_ = {&skipped.labels({"malformed"}), &skipped.labels({"ignored"}),
                        &skipped.labels({"flood_limited"})};

    auto& requests = registry_.add_counter(
        "tgsearch_bot_api_requests_total",
        "Bot API calls by method and result: ok when Telegram answered \"ok\": true, error for "
        "an API error or no response.",
        {"method", "result"});
    auto& retries =
        registry_.add_counter("tgsearch_bot_api_retries_total",
                              "Bot API calls made again after a failed attempt.", {"method"});
    auto& replies = registry_.add_counter(
        "tgsearch_replies_total",
        "Replies by the method that carries them and result: ok when Telegram accepted the "
        "reply, error when it was dropped after errors or left unsent at shutdown.",
        {"method", "result"});
    for (std::size_t i = 0; i < api_method_count; ++i) {
        const std::string_view name = api_method_names[i];
        methods_[i].ok = &requests.labels({name, "ok"});
        methods_[i].failed = &requests.labels({name, "error"});
        methods_[i].retries = &retries.labels({name});
    }
    for (const api_method method : reply_methods) {
        const std::string_view name = api_method_name(method);
        methods_[index(method)].replies_ok = &replies.labels({name, "ok"});
        methods_[index(method)].replies_dropped = &replies.labels({name, "error"});
    }
    errors_ = &registry_.add_counter("tgsearch_bot_api_errors_total",
                                     "Bot API error responses by method and Telegram's error_code.",
                                     {"method", "code"});
    rate_limited_ = &registry_.add_counter(
        "tgsearch_bot_api_rate_limited_total",
        "Bot API calls answered 429 Too Many Requests, by method.", {"method"});
    transport_errors_ = &registry_.add_counter(
        "tgsearch_bot_api_transport_errors_total",
        "Bot API calls that got no response: connection, TLS, proxy or timeout errors.",
        {"method"});
    last_poll_ = &registry_
                      .add_gauge("tgsearch_last_successful_poll_timestamp_seconds",
                                 "Unix time of the last getUpdates call that succeeded; 0 before "
                                 "the first one and in webhook mode.")
                      .labels();

    const std::vector<double> buckets = latency_buckets_seconds();
    auto& latency = registry_.add_histogram(
        "tgsearch_reply_latency_seconds",
        "Time from receiving an update to Telegram accepting its reply, by update type.", buckets,
        {"type"});
    auto& search = registry_.add_histogram(
        "tgsearch_search_duration_seconds",
        "Worker time to build one reply, the search and the rendering, by update type.", buckets,
        {"type"});
    for (const update_type type : answered_types) {
        reply_latency_[index(type)] = &latency.labels({update_type_name(type)});
        search_seconds_[index(type)] = &search.labels({update_type_name(type)});
    }

    if (with_redis) {
        spilled_tasks_ = &registry_
                              .add_counter("tgsearch_redis_spilled_tasks_total",
                                           "Tasks appended to the Redis spill list because the "
                                           "ring was full.")
                              .labels();
    }
    registry_
        .add_gauge("tgsearch_start_time_seconds",
                   "Unix time at which the bot started, after loading its index.")
        .labels()
        .set(std::chrono::duration<double>(start.time_since_epoch()).count());
}

void bot_metrics::set_state_reader(std::function<bot_state()> read_state) {
    auto& depth = registry_.add_gauge("tgsearch_ring_depth",
                                      "Tasks queued for the search workers, by ring.", {"ring"});
    auto& capacity =
        registry_.add_gauge("tgsearch_ring_capacity", "Capacity of each ring in tasks.", {"ring"});
    gauges_from_state gauges;
    gauges.message_depth = &depth.labels({"messages"});
    gauges.inline_depth = &depth.labels({"inline_queries"});
    gauges.message_capacity = &capacity.labels({"messages"});
    gauges.inline_capacity = &capacity.labels({"inline_queries"});

    gauges.in_flight =
        &registry_
             .add_gauge("tgsearch_updates_in_flight",
                        "Updates received and not finished yet: queued, searched or being sent.")
             .labels();
    if (spilled_tasks_ != nullptr) {
        gauges.spill_backlog = &registry_
                                    .add_gauge("tgsearch_redis_spill_backlog",
                                               "Tasks in the Redis spill list or taken back from "
                                               "it and not yet queued.")
                                    .labels();
    }

    gauges.documents =
        &registry_.add_gauge("tgsearch_index_documents", "Documents in the search index.").labels();
    gauges.terms =
        &registry_.add_gauge("tgsearch_index_terms", "Distinct terms in the search index.")
             .labels();
    gauges.bytes = &registry_
                        .add_gauge("tgsearch_index_bytes",
                                   "Estimated heap bytes of the search index and its documents, "
                                   "plus the size of a mapped index file.")
                        .labels();

    gauges.uptime =
        &registry_.add_gauge("tgsearch_uptime_seconds", "Seconds since the bot started.").labels();
    gauges.healthy =
        &registry_
             .add_gauge("tgsearch_healthy", "1 while /healthz answers 200, 0 while it answers 503.")
             .labels();

    registry_.on_collect([this, gauges, read_state = std::move(read_state)]() {
        const bot_state state = read_state();
        gauges.message_depth->set(static_cast<double>(state.queued_messages));
        gauges.inline_depth->set(static_cast<double>(state.queued_inline_queries));
        gauges.message_capacity->set(static_cast<double>(state.message_capacity));
        gauges.inline_capacity->set(static_cast<double>(state.inline_query_capacity));
        gauges.in_flight->set(static_cast<double>(state.in_flight));
        if (gauges.spill_backlog != nullptr) {
            gauges.spill_backlog->set(static_cast<double>(state.spill_backlog));
        }
        gauges.documents->set(static_cast<double>(state.index_documents));
        gauges.terms->set(static_cast<double>(state.index_terms));
        gauges.bytes->set(static_cast<double>(state.index_bytes));
        gauges.uptime->set(
            std::chrono::duration<double>(clock_type::now() - steady_start_).count());
        gauges.healthy->set(state.healthy ? 1 : 0);
    });
}

void bot_metrics::call_failed(api_method method, int error_code) {
    methods_[index(method)].failed->increment();
    const std::string_view name = api_method_name(method);
    if (error_code == 0) {
        transport_errors_->labels({name}).increment();
        return;
    }
    errors_->labels({name, std::to_string(error_code)}).increment();
    if (error_code == 429) {
        rate_limited_->labels({name}).increment();
    }
}

void bot_metrics::reply_sent(api_method method,
                             std::optional<std::chrono::nanoseconds> latency) noexcept {
    if (counter* const sent = methods_[index(method)].replies_ok) {
        sent->increment();
    }
    if (!latency) {
        return;
    }
    update_type type = update_type::message;
    if (method == api_method::edit_message_text || method == api_method::answer_callback_query) {
        type = update_type::callback_query;
    } else if (method == api_method::answer_inline_query) {
        type = update_type::inline_query;
    }
    reply_latency_[index(type)]->observe(*latency);
}

void bot_metrics::poll_succeeded(std::chrono::system_clock::time_point now) noexcept {
    last_poll_->set(std::chrono::duration<double>(now.time_since_epoch()).count());
}

void bot_metrics::tasks_spilled(std::size_t count) noexcept {
    if (spilled_tasks_ != nullptr) {
        spilled_tasks_->increment(count);
    }
}

bot_metrics::stats_sample bot_metrics::take_sample(clock_type::time_point now) const {
    stats_sample sample;
    sample.time = now;
    for (const counter* received : updates_received_) {
        sample.updates += received->value();
    }
    bool first = true;
    for (const update_type type : answered_types) {
        const histogram_snapshot latency = reply_latency_[index(type)]->snapshot();
        const histogram_snapshot search = search_seconds_[index(type)]->snapshot();
        if (first) {
            sample.reply_latency = latency;
            sample.search_time = search;
            first = false;
        } else {
            sample.reply_latency.merge(latency);
            sample.search_time.merge(search);
        }
    }
    return sample;
}

void bot_metrics::sample(clock_type::time_point now) {
    samples_.push_back(take_sample(now));
    // The oldest sample kept is the last one at least a window old, so that the window of
    // /stats spans a whole minute once the bot has run that long.
    while (samples_.size() > 1 && now - samples_[1].time >= stats_window) {
        samples_.pop_front();
    }
}

std::string bot_metrics::stats_html(clock_type::time_point now, const bot_state& state) const {
    const stats_sample current = take_sample(now);
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(now - steady_start_);
    const double uptime_seconds = std::chrono::duration<double>(now - steady_start_).count();

    // The window starts at the oldest sample, which is about a minute old once the bot has run
    // that long. Before the first sample it starts when the bot started.
    stats_sample baseline;
    if (!samples_.empty() && samples_.front().time <= now) {
        baseline = samples_.front();
    } else {
        baseline.time = steady_start_;
        baseline.reply_latency = empty_like(current.reply_latency);
        baseline.search_time = empty_like(current.search_time);
    }
    const double window_seconds =
        std::max(1e-3, std::chrono::duration<double>(now - baseline.time).count());
    const auto window_label = fmt::format("last {:.0f} s", window_seconds);
    const histogram_snapshot recent_latency = current.reply_latency.since(baseline.reply_latency);
    const histogram_snapshot recent_search = current.search_time.since(baseline.search_time);

    std::string html = "<b>Statistics</b>\n";
    html += fmt::format("Uptime: {}\n", format_uptime(uptime));
    html += fmt::format(
        "Updates: {:.2f}/s in the {}, {:.2f}/s since start ({} in all)\n",
        static_cast<double>(current.updates - baseline.updates) / window_seconds, window_label,
        static_cast<double>(current.updates) / std::max(1e-3, uptime_seconds), current.updates);
    const std::uint64_t recent_replies = recent_latency.count();
    html += fmt::format("Reply latency, update to reply accepted, {} ({} {}): {}\n", window_label,
                        recent_replies, recent_replies == 1 ? "reply" : "replies",
                        format_percentiles(recent_latency));
    html +=
        fmt::format("Reply latency since start: {}\n", format_percentiles(current.reply_latency));
    html += fmt::format("Search time per reply, {}: {}\n", window_label,
                        format_percentiles(recent_search));
    html += fmt::format("Search time since start: {}\n", format_percentiles(current.search_time));
    html += fmt::format("Ring: {} of {} messages queued, {} of {} inline queries\n",
                        state.queued_messages, state.message_capacity, state.queued_inline_queries,
                        state.inline_query_capacity);
    html += fmt::format("Updates in flight: {}\n", state.in_flight);
    if (spilled_tasks_ != nullptr) {
        html += fmt::format("Redis spill-over: {} tasks since start, {} waiting\n",
                            spilled_tasks_->value(), state.spill_backlog);
    } else {
        html += "Redis spill-over: no Redis configured\n";
    }
    html += fmt::format("Index: {} documents, {} terms, {}", state.index_documents,
                        state.index_terms, format_bytes(state.index_bytes));
    return html;
}

}  // namespace tgsearch
