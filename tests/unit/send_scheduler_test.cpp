#include "app/send_scheduler.hpp"
#include "app/user_flood_guard.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace {

using namespace std::chrono_literals;
using tgsearch::flood_limits;
using tgsearch::send_scheduler;
using tgsearch::user_flood_guard;
using clock_type = std::chrono::steady_clock;

/// Drives a scheduler on a simulated clock: picks whenever possible, else jumps to wake_at.
/// Each picked chat is queued again while it has messages left, as the bot does.
struct simulation {
    explicit simulation(flood_limits limits)
        : start(clock_type::time_point{} + 1h), now(start), scheduler(limits, start) {}

    void add(std::int64_t chat_id, int messages) {
        if (pending[chat_id] == 0) {
            scheduler.enqueue(chat_id);
        }
        pending[chat_id] += messages;
    }

    /// Runs until every message is picked or `limit` passes; returns the picks in order.
    std::vector<std::pair<std::int64_t, clock_type::duration>> run(clock_type::duration limit) {
        std::vector<std::pair<std::int64_t, clock_type::duration>> picks;
        while (!scheduler.empty() && now - start < limit) {
            clock_type::time_point wake_at;
            const std::optional<std::int64_t> chat_id = scheduler.next(now, wake_at);
            if (!chat_id) {
                REQUIRE(wake_at > now);
                REQUIRE(wake_at != clock_type::time_point::max());
                now = wake_at;
                continue;
            }
            picks.emplace_back(*chat_id, now - start);
            if (--pending[*chat_id] > 0) {
                scheduler.enqueue(*chat_id);
            }
        }
        return picks;
    }

    clock_type::time_point start;
    clock_type::time_point now;
    send_scheduler scheduler;
    std::map<std::int64_t, int> pending;
};

/// Returns the largest number of picks in any window of `window` (closed on the left).
std::size_t max_in_window(const std::vector<clock_type::duration>& times,
                          clock_type::duration window) {
    std::size_t best = 0;
    std::size_t first = 0;
    for (std::size_t last = 0; last < times.size(); ++last) {
        while (times[last] - times[first] >= window) {
            ++first;
        }
        best = std::max(best, last - first + 1);
    }
    return best;
}

}  // namespace

TEST_CASE("scheduler paces many chats at the overall rate", "[send_scheduler]") {
    simulation sim(flood_limits{});
    for (std::int64_t chat = 1; chat <= 1000; ++chat) {
        sim.add(chat, 1);
    }
    const auto picks = sim.run(120s);
    REQUIRE(picks.size() == 1000);
    std::vector<clock_type::duration> times;
    for (const auto& pick : picks) {
        times.push_back(pick.second);
    }
    // 30 per second after a burst of 10: the last of 1000 goes out at (1000 - 10) / 30 s.
    const double finished = std::chrono::duration<double>(times.back()).count();
    CHECK(finished == Approx(990.0 / 30.0).epsilon(0.01));
    CHECK(max_in_window(times, 1s) <= 10 + 30);
    // Chats are served in the order they were queued.
    CHECK(picks.front().first == 1);
    CHECK(picks.back().first == 1000);
}

TEST_CASE("scheduler keeps one chat to one message per second", "[send_scheduler]") {
    simulation sim(flood_limits{});
    sim.add(42, 10);
    const auto picks = sim.run(60s);
    REQUIRE(picks.size() == 10);
    // A burst of 3, then one per second.
    CHECK(picks[2].second == 0s);
    CHECK(picks[3].second >= 1s);
    CHECK(picks[9].second >= 7s);
    CHECK(picks[9].second < 7s + 10ms);
}

TEST_CASE("scheduler limits a group to 20 per window", "[send_scheduler]") {
    flood_limits limits;
    limits.chat_messages_per_second = 100.0;  // only the group rule applies
    limits.chat_burst = 100.0;
    simulation sim(limits);
    sim.add(-1001234567890, 45);
    const auto picks = sim.run(300s);
    REQUIRE(picks.size() == 45);
    std::vector<clock_type::duration> times;
    for (const auto& pick : picks) {
        times.push_back(pick.second);
    }
    CHECK(max_in_window(times, limits.group_window) == 20);
    CHECK(times[19] < 1s);
    CHECK(times[20] >= limits.group_window);
    CHECK(times[40] >= 2 * limits.group_window);
}

TEST_CASE("scheduler applies no group limit to private chats", "[send_scheduler]") {
    flood_limits limits;
    limits.chat_messages_per_second = 100.0;
    limits.chat_burst = 100.0;
    simulation sim(limits);
    sim.add(1234567890, 45);
    const auto picks = sim.run(300s);
    REQUIRE(picks.size() == 45);
    CHECK(picks.back().second < 3s);
}

TEST_CASE("busy chat does not delay a chat with one reply", "[send_scheduler]") {
    simulation sim(flood_limits{});
    sim.add(1, 50);
    sim.add(2, 1);
    const auto picks = sim.run(120s);
    REQUIRE(picks.size() == 51);
    // Round-robin: chat 2 goes second, right after chat 1's first message.
    CHECK(picks[1].first == 2);
    CHECK(picks[1].second == 0s);
}

TEST_CASE("scheduler rotates over chats with pending replies", "[send_scheduler]") {
    flood_limits limits;
    limits.chat_messages_per_second = 100.0;
    limits.chat_burst = 100.0;
    simulation sim(limits);
    sim.add(1, 3);
    sim.add(2, 3);
    sim.add(3, 3);
    const auto picks = sim.run(60s);
    std::vector<std::int64_t> order;
    for (const auto& pick : picks) {
        order.push_back(pick.first);
    }
    CHECK(order == std::vector<std::int64_t>{1, 2, 3, 1, 2, 3, 1, 2, 3});
}

TEST_CASE("deferred chat waits while others are served", "[send_scheduler]") {
    const auto start = clock_type::time_point{} + 1h;
    send_scheduler scheduler(flood_limits{}, start);
    scheduler.enqueue(7, start + 5s);  // as after a 429 with retry_after 5
    scheduler.enqueue(8);
    clock_type::time_point wake_at;
    CHECK(scheduler.next(start, wake_at) == std::optional<std::int64_t>(8));
    CHECK_FALSE(scheduler.next(start, wake_at).has_value());
    CHECK(wake_at == start + 5s);
    CHECK(scheduler.next(start + 5s, wake_at) == std::optional<std::int64_t>(7));
    CHECK(scheduler.empty());
}

TEST_CASE("enqueue keeps one entry per chat and the later time", "[send_scheduler]") {
    const auto start = clock_type::time_point{} + 1h;
    send_scheduler scheduler(flood_limits{}, start);
    scheduler.enqueue(7, start + 2s);
    scheduler.enqueue(7, start + 1s);
    CHECK(scheduler.size() == 1);
    clock_type::time_point wake_at;
    CHECK_FALSE(scheduler.next(start + 1s, wake_at).has_value());
    CHECK(wake_at == start + 2s);
}

TEST_CASE("empty scheduler waits for ever", "[send_scheduler]") {
    send_scheduler scheduler;
    clock_type::time_point wake_at;
    CHECK_FALSE(scheduler.next(clock_type::now(), wake_at).has_value());
    CHECK(wake_at == clock_type::time_point::max());
}

TEST_CASE("scheduler forgets chats that went idle", "[send_scheduler]") {
    simulation sim(flood_limits{});
    for (std::int64_t chat = 1; chat <= 3000; ++chat) {
        sim.add(chat, 1);
    }
    sim.run(300s);
    // Cleanups run every 1024 picks; a chat idle for 3 s has a full bucket again.
    CHECK(sim.scheduler.tracked_chats() < 1100);
}

TEST_CASE("flood guard accepts a burst, then notifies once", "[flood_guard]") {
    const auto start = clock_type::time_point{} + 1h;
    user_flood_guard guard({.burst = 5, .queries_per_minute = 12});
    for (int i = 0; i < 5; ++i) {
        CHECK(guard.check(1, start) == user_flood_guard::verdict::accept);
    }
    CHECK(guard.check(1, start) == user_flood_guard::verdict::reject_and_notify);
    CHECK(guard.check(1, start) == user_flood_guard::verdict::reject);
    CHECK(guard.check(1, start + 1s) == user_flood_guard::verdict::reject);
    const auto wait = guard.wait_time(1, start + 1s);
    CHECK(wait > 3999ms);
    CHECK(wait < 4001ms);
}

TEST_CASE("flood guard slows a user to the steady rate", "[flood_guard]") {
    const auto start = clock_type::time_point{} + 1h;
    user_flood_guard guard({.burst = 5, .queries_per_minute = 12});
    for (int i = 0; i < 6; ++i) {
        guard.check(1, start);
    }
    // One query per 5 s refills; the notice is sent again only after an accepted query.
    CHECK(guard.check(1, start + 5100ms) == user_flood_guard::verdict::accept);
    CHECK(guard.check(1, start + 5100ms) == user_flood_guard::verdict::reject_and_notify);
    CHECK(guard.check(1, start + 6s) == user_flood_guard::verdict::reject);
}

TEST_CASE("flood guard keeps users apart", "[flood_guard]") {
    const auto start = clock_type::time_point{} + 1h;
    user_flood_guard guard({.burst = 2, .queries_per_minute = 1});
    guard.check(1, start);
    guard.check(1, start);
    CHECK(guard.check(1, start) == user_flood_guard::verdict::reject_and_notify);
    CHECK(guard.check(2, start) == user_flood_guard::verdict::accept);
    CHECK(guard.wait_time(2, start) == clock_type::duration::zero());
}

TEST_CASE("flood guard forgets refilled users", "[flood_guard]") {
    const auto start = clock_type::time_point{} + 1h;
    user_flood_guard guard({.burst = 2, .queries_per_minute = 60});
    for (std::int64_t user = 0; user < 5000; ++user) {
        guard.check(user, start + std::chrono::milliseconds(user));
    }
    // The cleanup after 4096 checks drops users whose 2 s refill is over.
    CHECK(guard.tracked_users() < 5000);
}
