#include "app/send_scheduler.hpp"

#include <algorithm>

namespace tgsearch {
namespace {

using clock_type = std::chrono::steady_clock;

/// Limit state of idle chats is dropped after this many picks, which bounds the work of a
/// cleanup to a small share of the sends.
constexpr std::size_t cleanup_interval = 1024;

}  // namespace

token_bucket::token_bucket(double rate, double burst, clock_type::time_point now)
    : rate_(rate), burst_(std::max(1.0, burst)), tokens_(burst_), last_(now) {}

void token_bucket::refill(clock_type::time_point now) {
    if (now <= last_) {
        return;
    }
    const std::chrono::duration<double> elapsed = now - last_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
    last_ = now;
}

clock_type::time_point token_bucket::available_at(clock_type::time_point now) {
    refill(now);
    if (tokens_ >= 1.0) {
        return now;
    }
    const std::chrono::duration<double> missing((1.0 - tokens_) / rate_);
    // Rounded up, so that a caller woken at that time finds the whole token there.
    return now + std::chrono::ceil<clock_type::duration>(missing);
}

void token_bucket::take(clock_type::time_point now) {
    refill(now);
    tokens_ -= 1.0;
}

bool token_bucket::full(clock_type::time_point now) {
    refill(now);
    return tokens_ >= burst_;
}

send_scheduler::send_scheduler(flood_limits limits, clock_type::time_point now)
    : limits_(limits), overall_(limits.messages_per_second, limits.burst, now) {}

void send_scheduler::enqueue(std::int64_t chat_id, clock_type::time_point not_before) {
    const auto queued = std::find_if(queue_.begin(), queue_.end(), [chat_id](const auto& entry) {
        return entry.chat_id == chat_id;
    });
    if (queued != queue_.end()) {
        queued->not_before = std::max(queued->not_before, not_before);
        return;
    }
    queue_.push_back({chat_id, not_before});
}

send_scheduler::chat_limits& send_scheduler::limits_for(std::int64_t chat_id,
                                                        clock_type::time_point now) {
    auto found = chats_.find(chat_id);
    if (found == chats_.end()) {
        found = chats_
                    .emplace(chat_id, chat_limits{token_bucket(limits_.chat_messages_per_second,
                                                               limits_.chat_burst, now),
                                                  {}})
                    .first;
    }
    return found->second;
}

clock_type::time_point send_scheduler::ready_at(const queued_chat& chat,
                                                clock_type::time_point now) {
    chat_limits& limits = limits_for(chat.chat_id, now);
    clock_type::time_point ready = std::max(chat.not_before, limits.bucket.available_at(now));
    // Telegram counts every negative chat id (group, supergroup or channel) under the group
    // limit.
    if (chat.chat_id < 0 && limits_.group_messages > 0) {
        auto& sends = limits.group_sends;
        while (!sends.empty() && sends.front() + limits_.group_window <= now) {
            sends.pop_front();
        }
        if (sends.size() >= limits_.group_messages) {
            const auto oldest_to_expire = sends[sends.size() - limits_.group_messages];
            ready = std::max(ready, oldest_to_expire + limits_.group_window);
        }
    }
    return ready;
}

std::optional<std::int64_t> send_scheduler::next(clock_type::time_point now,
                                                 clock_type::time_point& wake_at) {
    wake_at = clock_type::time_point::max();
    if (queue_.empty()) {
        return std::nullopt;
    }
    const clock_type::time_point overall_ready = overall_.available_at(now);
    if (overall_ready > now) {
        wake_at = overall_ready;
        return std::nullopt;
    }

    for (auto entry = queue_.begin(); entry != queue_.end(); ++entry) {
        const clock_type::time_point ready = ready_at(*entry, now);
        if (ready > now) {
            wake_at = std::min(wake_at, ready);
            continue;
        }
        const std::int64_t chat_id = entry->chat_id;
        queue_.erase(entry);
        overall_.take(now);
        chat_limits& limits = limits_for(chat_id, now);
        limits.bucket.take(now);
        if (chat_id < 0) {
            limits.group_sends.push_back(now);
        }
        if (++picks_since_cleanup_ >= cleanup_interval) {
            forget_idle_chats(now);
        }
        return chat_id;
    }
    return std::nullopt;
}

void send_scheduler::forget_idle_chats(clock_type::time_point now) {
    picks_since_cleanup_ = 0;
    // A chat whose bucket is full and whose group window is empty behaves exactly like a chat
    // that never sent, so its state can go.
    for (auto item = chats_.begin(); item != chats_.end();) {
        chat_limits& limits = item->second;
        while (!limits.group_sends.empty() &&
               limits.group_sends.front() + limits_.group_window <= now) {
            limits.group_sends.pop_front();
        }
        if (limits.group_sends.empty() && limits.bucket.full(now)) {
            item = chats_.erase(item);
        } else {
            ++item;
        }
    }
}

}  // namespace tgsearch
