#include "core/reply_pages.hpp"

#include <fmt/format.h>

#include <charconv>
#include <utility>

namespace tgsearch {
namespace {

constexpr std::string_view callback_prefix = "p:";
constexpr std::size_t key_digits = 16;
/// Page numbers have at most this many digits; search_index ranks at most 10,000 hits.
constexpr std::size_t max_page_digits = 5;

}  // namespace

page_store::page_store(page_store_limits limits)
    : limits_(limits), random_(std::random_device{}()) {}

std::string page_store::add(paged_search search, clock_type::time_point now) {
    std::lock_guard lock(mutex_);
    evict_expired(now);
    while (!entries_.empty() && entries_.size() >= limits_.capacity) {
        by_key_.erase(entries_.back().key);
        entries_.pop_back();
    }
    std::string key;
    do {
        key = fmt::format("{:016x}", random_());
    } while (by_key_.contains(key));
    entries_.push_front(entry{key, std::move(search), now});
    by_key_.emplace(key, entries_.begin());
    return key;
}

std::optional<paged_search> page_store::find(std::string_view key, std::int64_t chat_id,
                                             clock_type::time_point now) {
    std::lock_guard lock(mutex_);
    evict_expired(now);
    const auto found = by_key_.find(std::string(key));
    if (found == by_key_.end() || found->second->search.chat_id != chat_id) {
        return std::nullopt;
    }
    const entry_list::iterator item = found->second;
    item->last_used = now;
    entries_.splice(entries_.begin(), entries_, item);
    return item->search;
}

std::size_t page_store::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void page_store::evict_expired(clock_type::time_point now) {
    // The list is ordered by last use, so the expired entries are at its back.
    while (!entries_.empty() && now - entries_.back().last_used >= limits_.expiry) {
        by_key_.erase(entries_.back().key);
        entries_.pop_back();
    }
}

std::string page_callback_data(std::string_view key, std::size_t page) {
    return fmt::format("{}{}:{}", callback_prefix, key, page);
}

std::optional<page_request> parse_page_callback_data(std::string_view data) {
    if (!data.starts_with(callback_prefix)) {
        return std::nullopt;
    }
    data.remove_prefix(callback_prefix.size());
    const std::size_t colon = data.find(':');
    if (colon != key_digits) {
        return std::nullopt;
    }
    const std::string_view key = data.substr(0, colon);
    for (const char c : key) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return std::nullopt;
        }
    }
    const std::string_view digits = data.substr(colon + 1);
    if (digits.empty() || digits.size() > max_page_digits) {
        return std::nullopt;
    }
    page_request request;
    request.key = std::string(key);
    const auto [end, error] =
        std::from_chars(digits.data(), digits.data() + digits.size(), request.page);
    if (error != std::errc() || end != digits.data() + digits.size()) {
        return std::nullopt;
    }
    return request;
}

}  // namespace tgsearch
