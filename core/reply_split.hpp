#pragma once

// Cutting a long Telegram HTML reply into messages that Telegram accepts.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// Telegram's limit on a message's text after entity parsing, in characters (code points, as
/// telegram_html_length counts them).
inline constexpr std::size_t telegram_max_message_chars = 4096;

/// Upper bound on the raw HTML of one message in bytes. Telegram's documentation states no
/// limit on the text before parsing; this bound keeps tags and entities from growing a message
/// without end.
inline constexpr std::size_t telegram_max_message_bytes = 32768;

/// Cuts `html` into parts that each have at most `max_chars` characters as
/// telegram_html_length counts them and at most `max_bytes` bytes. A cut goes after the last
/// blank line that fits, else after the last line break, else after the last space, else
/// between two grapheme clusters, and never inside a UTF-8 sequence, a tag or an entity. Tags
/// open at a cut are closed at the end of the part and opened again, attributes included, at
/// the start of the next one. The parts' visible texts joined give the visible text of `html`,
/// except that trailing white space after the last character may be dropped. Returns `html`
/// as the only part when it fits, and no part when it has no visible character other than
/// white space. `max_chars` must be at least 1 and `max_bytes` large enough for the longest
/// nesting of tags plus one character.
std::vector<std::string> split_html_message(std::string_view html,
                                            std::size_t max_chars = telegram_max_message_chars,
                                            std::size_t max_bytes = telegram_max_message_bytes);

}  // namespace tgsearch
