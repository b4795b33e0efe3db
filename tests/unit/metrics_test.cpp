#include "app/metrics.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using tgsearch::api_method;
using tgsearch::bot_metrics;
using tgsearch::bot_state;
using tgsearch::histogram;
using tgsearch::histogram_snapshot;
using tgsearch::metric_registry;
using tgsearch::update_type;

/// Returns the lines of `text` that start with `prefix`.
std::vector<std::string> lines_starting_with(const std::string& text, const std::string& prefix) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        const std::string line = text.substr(start, end - start);
        if (line.starts_with(prefix)) {
            lines.push_back(line);
        }
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return lines;
}

bool contains_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("counter renders with help, type and labels", "[metrics]") {
    metric_registry registry;
    auto& requests =
        registry.add_counter("tgsearch_requests_total", "Requests served.", {"method", "result"});
    requests.labels({"getUpdates", "ok"}).increment(3);
    requests.labels({"sendMessage", "error"}).increment();
    requests.labels({"getUpdates", "ok"}).increment();

    CHECK(registry.render() ==
          "# HELP tgsearch_requests_total Requests served.\n"
          "# TYPE tgsearch_requests_total counter\n"
          "tgsearch_requests_total{method=\"getUpdates\",result=\"ok\"} 4\n"
          "tgsearch_requests_total{method=\"sendMessage\",result=\"error\"} 1\n");
}

TEST_CASE("metric without labels renders 0 before updates", "[metrics]") {
    metric_registry registry;
    registry.add_counter("tgsearch_events_total", "Events.");
    registry.add_gauge("tgsearch_depth", "Depth.");
    const std::string text = registry.render();
    CHECK(contains_line(text, "tgsearch_events_total 0"));
    CHECK(contains_line(text, "tgsearch_depth 0"));
}

TEST_CASE("gauge goes up and down", "[metrics]") {
    metric_registry registry;
    auto& depth = registry.add_gauge("tgsearch_depth", "Depth.").labels();
    depth.set(5);
    depth.add(-2);
    depth.add(0.5);
    CHECK(depth.value() == 3.5);
    CHECK(contains_line(registry.render(), "tgsearch_depth 3.5"));
}

TEST_CASE("sample values use Prometheus spellings", "[metrics]") {
    const auto text_of = [](double value) {
        std::string out;
        tgsearch::append_sample_value(out, value);
        return out;
    };
    CHECK(text_of(0) == "0");
    CHECK(text_of(2.5) == "2.5");
    CHECK(text_of(1e-05) == "1e-05");
    CHECK(text_of(1733356800.25) == "1733356800.25");
    CHECK(text_of(std::numeric_limits<double>::infinity()) == "+Inf");
    CHECK(text_of(-std::numeric_limits<double>::infinity()) == "-Inf");
    CHECK(text_of(std::nan("")) == "NaN");
}

TEST_CASE("label values and help text are escaped", "[metrics]") {
    metric_registry registry;
    auto& family =
        registry.add_counter("tgsearch_odd_total", "Help with \\ and a\nnew line.", {"value"});
    family.labels({"back\\slash \"quoted\"\nnext"}).increment();
    const std::string text = registry.render();
    CHECK(contains_line(text, "# HELP tgsearch_odd_total Help with \\\\ and a\\nnew line."));
    CHECK(
        contains_line(text, "tgsearch_odd_total{value=\"back\\\\slash \\\"quoted\\\"\\nnext\"} 1"));
}

TEST_CASE("histogram buckets are cumulative up to +Inf", "[metrics]") {
    metric_registry registry;
    auto& latency = registry.add_histogram("tgsearch_latency_seconds", "Latency.",
                                           {0.001, 0.01, 0.1}, {"type"});
    histogram& messages = latency.labels({"message"});
    messages.observe(0.0005);
    messages.observe(0.001);  // on the bound: "le" is less or equal
    messages.observe(0.005);
    messages.observe(0.05);
    messages.observe(0.05);
    messages.observe(7.0);
    messages.observe(std::nan(""));

    const std::string text = registry.render();
    CHECK(contains_line(text, "# TYPE tgsearch_latency_seconds histogram"));
    CHECK(contains_line(text, "tgsearch_latency_seconds_bucket{type=\"message\",le=\"0.001\"} 2"));
    CHECK(contains_line(text, "tgsearch_latency_seconds_bucket{type=\"message\",le=\"0.01\"} 3"));
    CHECK(contains_line(text, "tgsearch_latency_seconds_bucket{type=\"message\",le=\"0.1\"} 5"));
    CHECK(contains_line(text, "tgsearch_latency_seconds_bucket{type=\"message\",le=\"+Inf\"} 7"));
    CHECK(contains_line(text, "tgsearch_latency_seconds_count{type=\"message\"} 7"));
    // NaN in the sum makes the sum NaN, as in Prometheus' own clients.
    CHECK(contains_line(text, "tgsearch_latency_seconds_sum{type=\"message\"} NaN"));

    const std::vector<std::string> buckets =
        lines_starting_with(text, "tgsearch_latency_seconds_bucket{");
    CHECK(buckets.size() == 4);
}

TEST_CASE("histogram sum adds durations in seconds", "[metrics]") {
    metric_registry registry;
    histogram& latency =
        registry.add_histogram("tgsearch_latency_seconds", "Latency.", {0.5, 1}).labels();
    latency.observe(250ms);
    latency.observe(2s);
    const histogram_snapshot snapshot = latency.snapshot();
    CHECK(snapshot.count() == 2);
    CHECK(snapshot.counts == std::vector<std::uint64_t>{1, 0, 1});
    CHECK(snapshot.sum == 2.25);
    CHECK(contains_line(registry.render(), "tgsearch_latency_seconds_sum 2.25"));
}

TEST_CASE("histogram quantiles interpolate within buckets", "[metrics]") {
    histogram latency({1, 2, 4});
    CHECK(std::isnan(latency.snapshot().quantile(0.5)));
    for (int i = 0; i < 10; ++i) {
        latency.observe(0.5);  // bucket (0, 1]
    }
    for (int i = 0; i < 10; ++i) {
        latency.observe(3.0);  // bucket (2, 4]
    }
    const histogram_snapshot snapshot = latency.snapshot();
    // Rank 10 of 20 ends the first bucket.
    CHECK(snapshot.quantile(0.5) == Approx(1.0));
    // Rank 15 is half way through the (2, 4] bucket.
    CHECK(snapshot.quantile(0.75) == Approx(3.0));
    CHECK(snapshot.quantile(0.25) == Approx(0.5));

    latency.observe(100);  // +Inf: the estimate stops at the highest finite bound
    CHECK(latency.snapshot().quantile(1.0) == Approx(4.0));
}

TEST_CASE("histogram snapshots subtract and merge", "[metrics]") {
    histogram latency({1, 2});
    latency.observe(0.5);
    const histogram_snapshot earlier = latency.snapshot();
    latency.observe(1.5);
    latency.observe(1.5);
    const histogram_snapshot later = latency.snapshot();

    const histogram_snapshot recent = later.since(earlier);
    CHECK(recent.counts == std::vector<std::uint64_t>{0, 2, 0});
    CHECK(recent.sum == Approx(3.0));

    histogram_snapshot merged = earlier;
    merged.merge(recent);
    CHECK(merged.counts == later.counts);
    CHECK(merged.sum == Approx(later.sum));

    const histogram other({1, 3});
    CHECK_THROWS_AS(merged.merge(other.snapshot()), std::invalid_argument);
    CHECK_THROWS_AS(later.since(other.snapshot()), std::invalid_argument);
}

TEST_CASE("histogram rejects unordered bounds", "[metrics]") {
    CHECK_THROWS_AS(histogram({}), std::invalid_argument);
    CHECK_THROWS_AS(histogram({1, 1}), std::invalid_argument);
    CHECK_THROWS_AS(histogram({2, 1}), std::invalid_argument);
    CHECK_THROWS_AS(histogram({1, std::numeric_limits<double>::infinity()}), std::invalid_argument);
    CHECK_NOTHROW(histogram(tgsearch::latency_buckets_seconds()));
}

TEST_CASE("registry rejects invalid and repeated names", "[metrics]") {
    metric_registry registry;
    registry.add_counter("tgsearch_ok_total", "Fine.");
    CHECK_THROWS_AS(registry.add_counter("tgsearch_ok_total", "Again."), std::invalid_argument);
    CHECK_THROWS_AS(registry.add_gauge("tgsearch_ok_total", "Again as a gauge."),
                    std::invalid_argument);
    CHECK_THROWS_AS(registry.add_counter("", "Empty."), std::invalid_argument);
    CHECK_THROWS_AS(registry.add_counter("9lives_total", "Digit first."), std::invalid_argument);
    CHECK_THROWS_AS(registry.add_counter("tgsearch-dash_total", "Dash."), std::invalid_argument);
    CHECK_THROWS_AS(registry.add_counter("tgsearch_a_total", "Label.", {"__reserved"}),
                    std::invalid_argument);
    CHECK_THROWS_AS(registry.add_counter("tgsearch_b_total", "Label.", {"a:b"}),
                    std::invalid_argument);
    CHECK_THROWS_AS(registry.add_histogram("tgsearch_c_seconds", "le label.", {1}, {"le"}),
                    std::invalid_argument);
    CHECK_THROWS_AS(registry.add_histogram("tgsearch_d_seconds", "Bad bounds.", {2, 1}),
                    std::invalid_argument);
    CHECK_NOTHROW(registry.add_counter("tgsearch:recorded_total", "Colons are allowed."));
}

TEST_CASE("family rejects a wrong number of label values", "[metrics]") {
    metric_registry registry;
    auto& family = registry.add_counter("tgsearch_x_total", "X.", {"method", "result"});
    CHECK_THROWS_AS(family.labels({"getMe"}), std::invalid_argument);
    CHECK_THROWS_AS(family.labels({"getMe", "ok", "extra"}), std::invalid_argument);
    CHECK_NOTHROW(family.labels({"getMe", "ok"}));
}

TEST_CASE("family returns the same child for the same labels", "[metrics]") {
    metric_registry registry;
    auto& family = registry.add_counter("tgsearch_x_total", "X.", {"method"});
    tgsearch::counter& first = family.labels({"getMe"});
    tgsearch::counter& second = family.labels({"getUpdates"});
    CHECK(&family.labels({"getMe"}) == &first);
    CHECK(&first != &second);
}

TEST_CASE("collect functions run before rendering", "[metrics]") {
    metric_registry registry;
    auto& depth = registry.add_gauge("tgsearch_depth", "Depth.").labels();
    int calls = 0;
    registry.on_collect([&] {
        ++calls;
        depth.set(calls * 10);
    });
    CHECK(contains_line(registry.render(), "tgsearch_depth 10"));
    CHECK(contains_line(registry.render(), "tgsearch_depth 20"));
}

TEST_CASE("concurrent updates from several threads add up", "[metrics]") {
    metric_registry registry;
    auto& family = registry.add_counter("tgsearch_x_total", "X.", {"thread_group"});
    histogram& latency = registry.add_histogram("tgsearch_y_seconds", "Y.", {0.001, 0.01}).labels();
    tgsearch::gauge& level = registry.add_gauge("tgsearch_level", "Level.").labels();
    constexpr int thread_count = 4;
    constexpr int increments = 100'000;
    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([&, t] {
            // Half the threads share one child, and each looks its child up itself.
            tgsearch::counter& mine = family.labels({t % 2 == 0 ? "even" : "odd"});
            for (int i = 0; i < increments; ++i) {
                mine.increment();
                latency.observe(i % 2 == 0 ? 0.0005 : 0.005);
                level.add(1);
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    CHECK(family.labels({"even"}).value() == 2 * increments);
    CHECK(family.labels({"odd"}).value() == 2 * increments);
    const histogram_snapshot snapshot = latency.snapshot();
    CHECK(snapshot.count() == thread_count * increments);
    CHECK(snapshot.counts[0] == thread_count * increments / 2);
    CHECK(snapshot.counts[1] == thread_count * increments / 2);
    CHECK(snapshot.sum == Approx(thread_count * increments / 2 * (0.0005 + 0.005)));
    CHECK(level.value() == thread_count * increments);
}

TEST_CASE("update types map Telegram field names", "[metrics]") {
    using tgsearch::update_type_of_field;
    CHECK(update_type_of_field("message") == update_type::message);
    CHECK(update_type_of_field("edited_message") == update_type::edited);
    CHECK(update_type_of_field("edited_channel_post") == update_type::edited);
    CHECK(update_type_of_field("callback_query") == update_type::callback_query);
    CHECK(update_type_of_field("inline_query") == update_type::inline_query);
    CHECK(update_type_of_field("channel_post") == update_type::other);
    CHECK(update_type_of_field("business_connection") == update_type::other);
    CHECK(tgsearch::update_type_name(update_type::edited) == "edited");
    CHECK(tgsearch::api_method_name(api_method::answer_inline_query) == "answerInlineQuery");
}

TEST_CASE("bot metrics count calls, errors and replies", "[metrics]") {
    const auto start = std::chrono::steady_clock::now();
    bot_metrics metrics(false, std::chrono::system_clock::now(), start);
    metrics.update_received(update_type::message);
    metrics.update_received(update_type::message);
    metrics.update_received(update_type::edited);
    metrics.call_succeeded(api_method::get_updates);
    metrics.call_failed(api_method::send_message, 429);
    metrics.call_failed(api_method::send_message, 429);
    metrics.call_failed(api_method::send_message, 0);
    metrics.call_failed(api_method::get_updates, 502);
    metrics.call_retried(api_method::send_message);
    metrics.reply_sent(api_method::send_message, 3ms);
    metrics.reply_sent(api_method::answer_inline_query, std::nullopt);
    metrics.reply_dropped(api_method::edit_message_text);

    const std::string text = metrics.render();
    CHECK(contains_line(text, "tgsearch_updates_received_total{type=\"message\"} 2"));
    CHECK(contains_line(text, "tgsearch_updates_received_total{type=\"edited\"} 1"));
    CHECK(contains_line(text, "tgsearch_updates_received_total{type=\"other\"} 0"));
    CHECK(contains_line(text,
                        "tgsearch_bot_api_requests_total{method=\"getUpdates\",result=\"ok\"} 1"));
    CHECK(contains_line(
        text, "tgsearch_bot_api_requests_total{method=\"sendMessage\",result=\"error\"} 3"));
    CHECK(contains_line(text,
                        "tgsearch_bot_api_errors_total{method=\"sendMessage\",code=\"429\"} 2"));
    CHECK(
        contains_line(text, "tgsearch_bot_api_errors_total{method=\"getUpdates\",code=\"502\"} 1"));
    CHECK(contains_line(text, "tgsearch_bot_api_rate_limited_total{method=\"sendMessage\"} 2"));
    CHECK(contains_line(text, "tgsearch_bot_api_transport_errors_total{method=\"sendMessage\"} 1"));
    CHECK(contains_line(text, "tgsearch_bot_api_retries_total{method=\"sendMessage\"} 1"));
    CHECK(contains_line(text, "tgsearch_replies_total{method=\"sendMessage\",result=\"ok\"} 1"));
    CHECK(contains_line(text,
                        "tgsearch_replies_total{method=\"answerInlineQuery\",result=\"ok\"} 1"));
    CHECK(contains_line(text,
                        "tgsearch_replies_total{method=\"editMessageText\",result=\"error\"} 1"));
    CHECK(contains_line(text, "tgsearch_reply_latency_seconds_count{type=\"message\"} 1"));
    // A reply without a known arrival time is counted but has no latency.
    CHECK(contains_line(text, "tgsearch_reply_latency_seconds_count{type=\"inline_query\"} 0"));
    CHECK(text.find("tgsearch_redis") == std::string::npos);
}

TEST_CASE("bot metrics read state at each render", "[metrics]") {
    bot_metrics metrics(true, std::chrono::system_clock::now(), std::chrono::steady_clock::now());
    int reads = 0;
    metrics.set_state_reader([&reads] {
        ++reads;
        bot_state state;
        state.queued_messages = 7;
        state.message_capacity = 1024;
        state.index_documents = 218;
        state.spill_backlog = 3;
        state.healthy = true;
        return state;
    });
    metrics.tasks_spilled(5);
    const std::string text = metrics.render();
    CHECK(reads == 1);
    CHECK(contains_line(text, "tgsearch_ring_depth{ring=\"messages\"} 7"));
    CHECK(contains_line(text, "tgsearch_ring_capacity{ring=\"messages\"} 1024"));
    CHECK(contains_line(text, "tgsearch_index_documents 218"));
    CHECK(contains_line(text, "tgsearch_redis_spilled_tasks_total 5"));
    CHECK(contains_line(text, "tgsearch_redis_spill_backlog 3"));
    CHECK(contains_line(text, "tgsearch_healthy 1"));
}

TEST_CASE("stats report rates over the last minute", "[metrics]") {
    const auto start = std::chrono::steady_clock::time_point{} + 1h;
    bot_metrics metrics(false, std::chrono::system_clock::now(), start);
    // 100 updates in the first minute, then 30 in the next one.
    for (int i = 0; i < 100; ++i) {
        metrics.update_received(update_type::message);
        metrics.reply_sent(api_method::send_message, 2ms);
        metrics.search_seconds(update_type::message)->observe(200us);
    }
    for (auto at = start; at <= start + 60s; at += tgsearch::stats_sample_interval) {
        metrics.sample(at);
    }
    for (int i = 0; i < 30; ++i) {
        metrics.update_received(update_type::inline_query);
        metrics.reply_sent(api_method::answer_inline_query, 40ms);
    }
    const auto now = start + 120s;
    for (auto at = start + 65s; at <= now; at += tgsearch::stats_sample_interval) {
        metrics.sample(at);
    }

    bot_state state;
    state.queued_messages = 2;
    state.message_capacity = 1024;
    state.index_documents = 218;
    state.index_terms = 4000;
    state.index_bytes = 3 * 1024 * 1024;
    const std::string html = metrics.stats_html(now, state);
    CAPTURE(html);
    CHECK_THAT(html, Catch::Contains("Uptime: 2 min 0 s"));
    CHECK_THAT(html, Catch::Contains("Updates: 0.50/s in the last 60 s, 1.08/s since start "
                                     "(130 in all)"));
    // The last minute contains only the 30 inline replies, in the (25 ms, 50 ms] bucket.
    CHECK_THAT(html, Catch::Contains("last 60 s (30 replies): p50 37.5 ms"));
    CHECK_THAT(html, Catch::Contains("Reply latency since start: p50 2.0 ms"));
    CHECK_THAT(html, Catch::Contains("Search time since start: p50 175 µs"));
    CHECK_THAT(html, Catch::Contains("Search time per reply, last 60 s: none yet"));
    CHECK_THAT(html, Catch::Contains("Ring: 2 of 1024 messages queued"));
    CHECK_THAT(html, Catch::Contains("Redis spill-over: no Redis configured"));
    CHECK_THAT(html, Catch::Contains("Index: 218 documents, 4000 terms, 3.0 MiB"));
}
