#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tgsearch {

/// A text message, a button press or an inline query taken from one Telegram update (or a line
/// typed into the console chat).
struct incoming_message {
    enum class kind {
        message,         ///< a chat message: `text` is its text
        callback_query,  ///< a button press: `text` is the button's callback_data
        inline_query,    ///< "@bot words" typed in any chat: `text` is the query
    };

    kind type = kind::message;
    std::int64_t update_id = 0;
    /// Chat of the message, or of the message that carries the pressed button. 0 for inline
    /// queries and for presses on messages sent in inline mode, which come without a chat.
    std::int64_t chat_id = 0;
    /// The message, or the message that carries the pressed button; 0 when there is none.
    std::int64_t message_id = 0;
    std::string chat_type;  ///< "private", "group", "supergroup" or "channel"; may be empty
    std::string text;
    std::int64_t user_id = 0;  ///< sender ("from.id"); 0 when unknown
    /// Author of the message this message replies to ("reply_to_message.from.id"); 0 when it
    /// replies to nothing or the author is unknown.
    std::int64_t reply_to_user_id = 0;
    std::string query_id;  ///< callback_query.id or inline_query.id
    std::string offset;    ///< inline_query.offset: where the requested page of results starts
};

/// A button of an inline keyboard that sends `callback_data` back to the bot when pressed.
struct inline_button {
    std::string text;
    std::string callback_data;  ///< 1..64 bytes (Telegram's limit)
};

/// One result of an inline query, sent as an InlineQueryResultArticle.
struct inline_article {
    std::string id;            ///< 1..64 bytes, unique within one answer
    std::string title;         ///< plain text
    std::string description;   ///< plain text
    std::string message_html;  ///< the message the user sends by picking the result
    std::string url;           ///< the document's link; empty when it has none
};

/// Reply that a worker hands back to the I/O side for one update.
struct outgoing_reply {
    enum class kind {
        /// sendMessage: `parts` in order, `buttons` under the last one. An empty `html` means
        /// the update needs no reply (a group message not addressed to the bot) and is done.
        message,
        /// editMessageText of `message_id` with `html` and `buttons`, then answerCallbackQuery.
        edit,
        /// answerCallbackQuery alone, showing `callback_text` when it is not empty.
        callback_answer,
        /// answerInlineQuery with `articles` and `next_offset`.
        inline_answer,
    };

    kind type = kind::message;
    std::int64_t update_id = 0;
    std::int64_t chat_id = 0;
    std::int64_t reply_to_message_id = 0;  ///< 0 when the reply quotes nothing
    std::int64_t message_id = 0;           ///< the message an edit replaces
    /// Message text for parse_mode HTML: the whole reply, which the console prints.
    std::string html;
    /// `html` cut into messages that Telegram accepts; one element when it fits one message.
    std::vector<std::string> parts;
    /// One row of buttons under the message (under the last part); empty for none.
    std::vector<inline_button> buttons;
    std::string callback_query_id;  ///< the button press an edit or a callback answer answers
    std::string callback_text;      ///< notification shown to the user who pressed the button
    std::string inline_query_id;
    std::vector<inline_article> articles;
    std::string next_offset;  ///< offset of the next page of inline results; empty at the end
};

}  // namespace tgsearch
