#pragma once

#include "core/bot_messages.hpp"
#include "core/search_index.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace tgsearch {

/// Telegram's limit on a message's text after entity parsing, in characters.
inline constexpr std::size_t telegram_max_message_chars = 4096;

/// How many documents one reply lists.
inline constexpr std::size_t results_per_reply = 5;

/// Turns messages into replies: decides whether a message is addressed to the bot, runs the
/// search and renders the reply as Telegram HTML. Holds only immutable state, so one instance
/// may serve every worker thread at once.
class reply_builder {
public:
    /// `index` must outlive the builder. It may be a replaceable index (see
    /// search_index::make_replaceable): each reply takes one snapshot of it, so a reply never
    /// mixes two indexes. `bot_username` is the bot's username without "@", as getMe reports
    /// it; empty in the console, where every line is a query.
    reply_builder(const search_index& index, std::string bot_username);

    /// Returns the reply for `message`. In a private chat any text is a query; in groups only
    /// "/search words" (or "/search@ThisBot words") is. "/start" and "/help" return usage.
    /// Commands for other bots and other group messages return a reply with empty html.
    outgoing_reply reply_to(const incoming_message& message) const;

    /// Renders the results of `query` (the top `results_per_reply` documents, or a "nothing
    /// found" line). The result never exceeds `telegram_max_message_chars`.
    std::string render_search(std::string_view query) const;

    std::string render_help() const;

private:
    const search_index& index_;
    std::string bot_username_;
};

}  // namespace tgsearch
