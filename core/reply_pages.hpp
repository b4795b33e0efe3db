#pragma once

// Server-side state of the result pages that inline keyboard buttons turn. A button's
// callback_data holds only a short key and a page number, because Telegram allows 64 bytes.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tgsearch {

/// Telegram's limit on a button's callback_data, in bytes.
inline constexpr std::size_t max_callback_data_bytes = 64;

/// Bounds of a page_store.
struct page_store_limits {
    /// A search expires this long after it was stored or last paged. Its buttons then get
    /// the reply "This search has expired".
    std::chrono::seconds expiry{48 * 3600};
    /// At most this many searches are kept, and storing one more evicts the least recently
    /// used. A search takes an estimated 200 bytes plus its query (at most 512 bytes), so the
    /// default bounds the store to roughly 7 MB.
    std::size_t capacity = 10'000;
};

/// A search whose result pages a message's buttons turn.
struct paged_search {
    std::int64_t chat_id = 0;  ///< chat of the message with the buttons
    std::string query;
};

/// Searches behind pagination buttons, keyed by random 64-bit keys, bounded by count and age.
/// Thread-safe: workers store and look up searches concurrently.
class page_store {
public:
    using clock_type = std::chrono::steady_clock;

    explicit page_store(page_store_limits limits = {});

    /// Stores `search` and returns its key, 16 lower-case hexadecimal digits.
    std::string add(paged_search search, clock_type::time_point now = clock_type::now());

    /// Returns the search stored under `key` and marks it used at `now`. Returns nothing when
    /// the key is unknown, evicted or expired, or when the search belongs to another chat than
    /// `chat_id`, so a button copied to another chat reads as expired.
    std::optional<paged_search> find(std::string_view key, std::int64_t chat_id,
                                     clock_type::time_point now = clock_type::now());

    std::size_t size() const;
    const page_store_limits& limits() const { return limits_; }

private:
    struct entry {
        std::string key;
        paged_search search;
        clock_type::time_point last_used;
    };
    using entry_list = std::list<entry>;

    void evict_expired(clock_type::time_point now);

    page_store_limits limits_;
    mutable std::mutex mutex_;
    entry_list entries_;  ///< most recently used first
    std::unordered_map<std::string, entry_list::iterator> by_key_;
    std::mt19937_64 random_;
};

/// A button press on a result page: which search and which page (0-based).
struct page_request {
    std::string key;
    std::size_t page = 0;
};

/// Formats the callback_data of a button that shows `page` of the search stored under `key`:
/// "p:<key>:<page>", at most 24 bytes.
std::string page_callback_data(std::string_view key, std::size_t page);

/// Parses callback_data made by page_callback_data. Returns nothing for any other data.
std::optional<page_request> parse_page_callback_data(std::string_view data);

}  // namespace tgsearch
