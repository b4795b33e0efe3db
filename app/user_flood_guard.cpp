#include "app/user_flood_guard.hpp"

namespace tgsearch {
namespace {

/// State of idle users is dropped after this many checks, which keeps the cost of a cleanup
/// small per query.
constexpr std::size_t cleanup_interval = 4096;

}  // namespace

user_flood_guard::user_flood_guard(user_query_limits limits) : limits_(limits) {}

user_flood_guard::verdict user_flood_guard::check(std::int64_t user_id,
                                                  clock_type::time_point now) {
    if (++checks_since_cleanup_ >= cleanup_interval) {
        forget_idle_users(now);
    }
    auto found = users_.find(user_id);
    if (found == users_.end()) {
        const token_bucket bucket(limits_.queries_per_minute / 60.0, limits_.burst, now);
        found = users_.emplace(user_id, user_state{bucket, false}).first;
    }
    user_state& user = found->second;
    if (user.bucket.available_at(now) <= now) {
        user.bucket.take(now);
        user.notified = false;
        return verdict::accept;
    }
    if (user.notified) {
        return verdict::reject;
    }
    user.notified = true;
    return verdict::reject_and_notify;
}

user_flood_guard::clock_type::duration user_flood_guard::wait_time(std::int64_t user_id,
                                                                   clock_type::time_point now) {
    const auto found = users_.find(user_id);
    if (found == users_.end()) {
        return clock_type::duration::zero();
    }
    return found->second.bucket.available_at(now) - now;
}

void user_flood_guard::forget_idle_users(clock_type::time_point now) {
    checks_since_cleanup_ = 0;
    // A user whose bucket refilled is indistinguishable from a new one, and a dropped notice
    // flag only matters while the bucket is empty.
    for (auto item = users_.begin(); item != users_.end();) {
        if (item->second.bucket.full(now)) {
            item = users_.erase(item);
        } else {
            ++item;
        }
    }
}

}  // namespace tgsearch
