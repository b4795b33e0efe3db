#pragma once

// Turns a getUpdates response body into the text messages, button presses and inline queries
// the bot answers, one update at a time, so that one malformed or unexpected update never holds
// back the others.

#include "core/bot_messages.hpp"
#include "core/reply_pages.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// Telegram's limit on the text of a message, in characters.
constexpr std::size_t max_incoming_text_characters = 4096;

/// Maximum UTF-8 size of a message text in bytes. A character takes at most 4 bytes, so a
/// longer text did not come from Telegram, and its update is malformed.
constexpr std::size_t max_incoming_text_bytes = max_incoming_text_characters * 4;

/// Telegram's limit on the text of an inline query, in characters.
constexpr std::size_t max_inline_query_characters = 256;

/// Maximum UTF-8 size of an inline query in bytes, for the same reason as
/// max_incoming_text_bytes.
constexpr std::size_t max_inline_query_bytes = max_inline_query_characters * 4;

/// Telegram's limit on an inline query's offset, in bytes. The limit on callback_data is
/// max_callback_data_bytes.
constexpr std::size_t max_inline_offset_size = 64;

/// One update of a getUpdates response.
struct parsed_update {
    enum class kind {
        /// an update to answer: a text message, a button press (callback_query) or an inline
        /// query, as `message.type` shows; `message` and `user_id` are set
        message,
        ignored,    ///< a valid update the bot does not answer (another type, or no text)
        malformed,  ///< an update that breaks the Bot API's schema or Telegram's limits
    };

    kind type = kind::malformed;
    std::int64_t update_id = 0;
    incoming_message message;
    /// Sender of the message, button press or inline query ("from.id"), or the chat id when
    /// a message has no sender, as for posts on behalf of a channel.
    std::int64_t user_id = 0;
    /// Why the update is ignored or malformed, for the log; never contains message text.
    std::string reason;
    /// The update object as minified JSON (after any UTF-8 repair), to store it as received.
    std::string json;
};

/// All updates of one getUpdates response.
struct parsed_batch {
    /// False when the body is not {"ok":true,"result":[...]}, even after the repair below.
    bool usable = false;
    /// True when invalid UTF-8 or lone surrogate escapes had to be replaced to read the body.
    bool repaired = false;
    /// Updates with a numeric update_id, in the order of the response.
    std::vector<parsed_update> updates;
    /// Elements of "result" without a numeric update_id. They cannot be confirmed on their
    /// own, and a later offset covers them.
    std::size_t without_id = 0;
};

/// Parses getUpdates response bodies. Keeps its JSON parser between calls, so its buffers are
/// reused. Not thread-safe: use one instance per thread.
class update_parser {
public:
    update_parser();
    ~update_parser();
    update_parser(const update_parser&) = delete;
    update_parser& operator=(const update_parser&) = delete;

    /// Parses `body`. Never throws for any input except std::bad_alloc; problems are reported
    /// in the result.
    parsed_batch parse(std::string_view body);

private:
    // simdjson stays out of this header: its class layout depends on compile definitions
    // that only the targets linking simdjson get.
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace tgsearch
