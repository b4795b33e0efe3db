#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

/// Returns whether `html` shows a character other than a space, tab or line break: text
/// outside tags, or an entity, as tokenize_html splits them.
bool has_visible_content(std::string_view html);

/// Converts Telegram HTML to plain text the way a chat shows it: tags removed, entities
/// decoded, and links written as "text (url)" so a terminal user can see them.
std::string html_to_plain_text(std::string_view html);

/// One piece of Telegram HTML, as telegram_html_length counts it.
struct html_token {
    enum class kind {
        character,  ///< one code point of text, or one byte that is not valid UTF-8
        entity,     ///< a character reference such as "&amp;", shown as one character
        start_tag,  ///< "<b>", "<a href=\"...\">"
        end_tag,    ///< "</b>"
    };
    kind type = kind::character;
    std::size_t begin = 0;  ///< byte offset in the tokenized text
    std::size_t end = 0;    ///< byte offset one past the token
    /// The character or the entity's character; -1 for a byte that is not valid UTF-8 and for
    /// tags.
    std::int32_t code_point = -1;
    /// Lower-case ASCII tag name without "<", "/" and attributes; empty for characters.
    std::string name;
};

/// Splits `html` into tokens that cover it without gaps. A "<" without a closing ">" and an
/// "&" that starts no entity are characters, as in telegram_html_length.
std::vector<html_token> tokenize_html(std::string_view html);

}  // namespace tgsearch
