#pragma once

// Per-user flood control on incoming queries, so that one user who sends many queries in a few
// seconds cannot take the search workers and the send budget from everyone else.

#include "app/send_scheduler.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace tgsearch {

/// How many queries one user may send: a burst, then a steady rate.
struct user_query_limits {
    double burst = 15.0;
    double queries_per_minute = 20.0;
};

/// Decides for each incoming query whether its user is within user_query_limits.
///
/// A query over the limit is dropped, not delayed: waiting queries would hold back the offset
/// that confirms everyone's updates, and the user would get stale replies long after they
/// stopped typing. The first dropped query of a flood gets a notice, so the user learns why
/// the bot went quiet. Later dropped queries get nothing until the user is within the limit
/// again. Not thread-safe; the I/O thread owns it.
class user_flood_guard {
public:
    using clock_type = std::chrono::steady_clock;

    /// Action for one query.
    enum class verdict {
        accept,             ///< search and reply as usual
        reject_and_notify,  ///< drop the query and send the flood notice
        reject,             ///< drop the query silently; the notice went out already
    };

    explicit user_flood_guard(user_query_limits limits = {});

    /// Counts one query from `user_id` at `now` and returns what to do with it.
    verdict check(std::int64_t user_id, clock_type::time_point now);

    /// Returns how long `user_id` has to wait from `now` until one more query is accepted.
    clock_type::duration wait_time(std::int64_t user_id, clock_type::time_point now);

    /// Number of users whose state is kept; users idle long enough to refill are dropped.
    std::size_t tracked_users() const { return users_.size(); }

private:
    struct user_state {
        token_bucket bucket;
        bool notified = false;
    };

    void forget_idle_users(clock_type::time_point now);

    user_query_limits limits_;
    std::unordered_map<std::int64_t, user_state> users_;
    std::size_t checks_since_cleanup_ = 0;
};

}  // namespace tgsearch
