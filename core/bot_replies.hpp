#pragma once

#include "core/bot_messages.hpp"
#include "core/reply_pages.hpp"
#include "core/reply_split.hpp"
#include "core/search_index.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// How many documents one reply lists by default.
inline constexpr std::size_t results_per_reply = 5;

/// Upper bound on reply_settings::page_size. A page with buttons must fit one message, so at
/// 20 results the snippets are already only a few words long.
inline constexpr std::size_t max_results_per_page = 20;

/// Telegram's limit on the results of one answerInlineQuery.
inline constexpr std::size_t max_inline_results = 50;

/// The bot's identity and the paging settings of a reply_builder.
struct reply_settings {
    /// The bot's username without "@", as getMe reports it; empty in the console, where every
    /// line is a query.
    std::string bot_username;
    /// The bot's user id from getMe: a group message that replies to this user is a query.
    /// 0 in the console.
    std::int64_t bot_id = 0;
    /// Results per page, 1 to max_results_per_page.
    std::size_t page_size = results_per_reply;
    /// Store for the searches behind pagination buttons. Null means no buttons: a reply lists
    /// the first page only, as the console shows it.
    page_store* pages = nullptr;
};

/// Turns messages, button presses and inline queries into replies: decides whether a message
/// is addressed to the bot, runs the search and renders the reply as Telegram HTML. Holds only
/// immutable state and a thread-safe page_store, so one instance may serve every worker thread
/// at once.
class reply_builder {
public:
    /// `index` must outlive the builder. It may be a replaceable index (see
    /// search_index::make_replaceable): each reply takes one snapshot of it, so a reply never
    /// mixes two indexes. The settings' page store, when set, must outlive the builder too.
    /// Throws std::invalid_argument when page_size is outside 1..max_results_per_page.
    reply_builder(const search_index& index, reply_settings settings);

    /// Creates a builder without buttons for the bot `bot_username` (empty in the console).
    reply_builder(const search_index& index, std::string bot_username);

    /// Returns the reply to `message`, which depends on its type.
    /// - A text message. In a private chat any text is a query. In groups "/search words",
    ///   "/search@ThisBot words" and a reply to one of the bot's messages are queries.
    ///   "/start" and "/help" return usage, and "/about" the corpus size and version.
    ///   Commands for other bots and other group messages return a reply with empty html.
    ///   A search with more than one page of results gets pagination buttons when a page
    ///   store is set. The reply's `parts` contain its html cut to Telegram's limits.
    /// - A button press. The reply edits its message to the requested page, or is a callback
    ///   answer that says the search has expired.
    /// - An inline query. The reply lists up to max_inline_results articles from its offset.
    outgoing_reply reply_to(const incoming_message& message) const;

    /// Renders the first page of results of `query` (or a "nothing found" line) without
    /// buttons. The result never exceeds telegram_max_message_chars.
    std::string render_search(std::string_view query) const;

    std::string render_help() const;

    /// Renders the project's name and version and the size of the corpus.
    std::string render_about() const;

private:
    /// One rendered page of results and the buttons that lead to its neighbours.
    struct rendered_page {
        std::string html;
        std::size_t hit_count = 0;  ///< results on this page
        bool has_next = false;      ///< more results follow this page
        std::size_t page_count = 0;
        bool page_count_is_estimate = false;
        std::size_t page = 0;  ///< the page shown: the last one for a request past the end
    };

    outgoing_reply reply_to_text(const incoming_message& message) const;
    outgoing_reply reply_to_button(const incoming_message& message) const;
    outgoing_reply reply_to_inline_query(const incoming_message& message) const;
    /// Renders the search reply to a message, with buttons when there is more than one page.
    void render_search_reply(std::string_view query, std::int64_t chat_id,
                             outgoing_reply& reply) const;
    /// The results of one page of a query, with the snapshot of the index they refer to.
    struct searched_page {
        std::shared_ptr<const search_index> index;
        search_result result;  ///< the page's hits, and one more when another page follows
    };

    /// Searches `page` (0-based) of `query` on one snapshot of the index.
    searched_page search_page(std::string_view query, std::size_t page) const;
    /// Renders `page` (0-based) of `query`. With `one_message` the snippets are shortened as
    /// needed and results that would still not fit are left out, so the page fits one
    /// message.
    rendered_page render_page(std::string_view query, std::size_t page, bool one_message) const;
    /// Renders `page` of `query` as render_page does, from the results `found` of
    /// search_page(query, page).
    rendered_page render_found_page(std::string_view query, std::size_t page,
                                    const searched_page& found, bool one_message) const;
    std::vector<inline_button> page_buttons(std::string_view key, std::size_t page,
                                            const rendered_page& rendered) const;

    const search_index& index_;
    reply_settings settings_;
};

}  // namespace tgsearch
