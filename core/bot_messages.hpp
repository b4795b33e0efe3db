#pragma once

#include <cstdint>
#include <string>

namespace tgsearch {

/// A text message taken from one Telegram update (or typed into the console chat).
struct incoming_message {
    std::int64_t update_id = 0;
    std::int64_t chat_id = 0;
    std::int64_t message_id = 0;
    std::string chat_type;  ///< "private", "group", "supergroup" or "channel"
    std::string text;
};

/// Reply that a worker hands back to the I/O side for one update. An empty `html` means the update
/// needs no reply (a group message that is not addressed to the bot) and is simply done.
struct outgoing_reply {
    std::int64_t update_id = 0;
    std::int64_t chat_id = 0;
    std::int64_t reply_to_message_id = 0;  ///< 0 when the reply quotes nothing
    std::string html;                      ///< message text for parse_mode HTML
};

}  // namespace tgsearch
