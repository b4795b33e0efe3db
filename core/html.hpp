#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tgsearch {

/// Appends `text` to `out` with `<`, `>`, `&` and `"` replaced by HTML entities, the escaping
/// Telegram's HTML parse mode requires for text and attribute values. Invalid UTF-8 bytes
/// become U+FFFD so the result is always valid UTF-8.
void append_html_escaped(std::string& out, std::string_view text);
std::string html_escape(std::string_view text);

/// Returns `text` with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD.
std::string replace_invalid_utf8(std::string_view text);

/// Counts Unicode code points in valid UTF-8 `text`.
std::size_t utf8_length(std::string_view text);

/// Returns the largest prefix length `<= max_bytes` that does not end inside a UTF-8 sequence.
std::size_t utf8_floor(std::string_view text, std::size_t max_bytes);

/// Returns the length Telegram checks for a message sent with parse_mode HTML: tags are
/// removed, entities count as one character, and the rest counts in code points. This is the
/// length Telegram limits to 4096.
std::size_t telegram_html_length(std::string_view html);

/// Converts Telegram HTML to plain text the way a chat shows it: tags removed, entities
/// decoded, and links written as "text (url)" so a terminal user can see them.
std::string html_to_plain_text(std::string_view html);

}  // namespace tgsearch
