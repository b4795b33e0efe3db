#include "core/html.hpp"

#include <utf8proc.h>

#include <cstdint>
#include <optional>

namespace tgsearch {
namespace {

constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

/// Decodes the code point at `text[pos]` and returns its byte length. Returns a negative value
/// when the bytes there are not valid UTF-8, which includes overlong forms and surrogates.
std::ptrdiff_t decode_at(std::string_view text, std::size_t pos, std::int32_t& code_point) {
    return utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                            static_cast<utf8proc_ssize_t>(text.size() - pos), &code_point);
}

void append_code_point(std::string& out, std::int32_t code_point) {
    if (!utf8proc_codepoint_valid(code_point) || code_point == 0) {
        out += replacement_character;
        return;
    }
    utf8proc_uint8_t bytes[4];
    const auto length = utf8proc_encode_char(code_point, bytes);
    out.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(length));
}

bool is_ascii_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/// A character reference recognised by Telegram's HTML parser: the four named entities and
/// decimal or hexadecimal numeric references.
struct entity {
    std::size_t length = 0;  ///< bytes from '&' through ';'
    std::int32_t code_point = 0;
};

/// Parses the entity starting at `html[pos]` (which is '&'); returns nothing when the bytes
/// there are not a complete entity, in which case the '&' is an ordinary character.
std::optional<entity> parse_entity(std::string_view html, std::size_t pos) {
    // Longer references than this are not entities Telegram accepts (&#x10FFFF; is 10 bytes).
    constexpr std::size_t max_entity_bytes = 12;
    const std::size_t semicolon = html.find(';', pos + 1);
    if (semicolon == std::string_view::npos || semicolon - pos > max_entity_bytes) {
        return std::nullopt;
    }
    const std::string_view body = html.substr(pos + 1, semicolon - pos - 1);
    const std::size_t length = semicolon - pos + 1;
    if (body == "lt") return entity{length, '<'};
    if (body == "gt") return entity{length, '>'};
    if (body == "amp") return entity{length, '&'};
    if (body == "quot") return entity{length, '"'};
    if (body.size() < 2 || body[0] != '#') return std::nullopt;

    const bool hex = body[1] == 'x' || body[1] == 'X';
    const std::string_view digits = body.substr(hex ? 2 : 1);
    if (digits.empty()) return std::nullopt;
    std::int32_t value = 0;
    for (const char c : digits) {
        int digit = 0;
        if (c >= '0' && c <= '9') {
            digit = c - '0';
        } else if (hex && c >= 'a' && c <= 'f') {
            digit = c - 'a' + 10;
        } else if (hex && c >= 'A' && c <= 'F') {
            digit = c - 'A' + 10;
        } else {
            return std::nullopt;
        }
        value = value * (hex ? 16 : 10) + digit;
        if (value > 0x10FFFF) return std::nullopt;
    }
    return entity{length, value};
}

/// Finds the '>' that closes the tag opened at `html[pos]`, skipping quoted attribute values;
/// returns npos for an unterminated tag.
std::size_t find_tag_end(std::string_view html, std::size_t pos) {
    char quote = 0;
    for (std::size_t i = pos + 1; i < html.size(); ++i) {
        const char c = html[i];
        if (quote != 0) {
            if (c == quote) quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '>') {
            return i;
        }
    }
    return std::string_view::npos;
}

/// Appends `text` with its entities decoded.
void append_decoded(std::string& out, std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        if (text[i] == '&') {
            if (const auto parsed = parse_entity(text, i)) {
                append_code_point(out, parsed->code_point);
                i += parsed->length;
                continue;
            }
        }
        out += text[i];
        ++i;
    }
}

/// Returns the decoded value of the href attribute of an `<a ...>` tag body, or "".
std::string href_of(std::string_view tag) {
    std::size_t pos = 0;
    while ((pos = tag.find("href", pos)) != std::string_view::npos) {
        const bool starts_name = pos > 0 && !is_ascii_alnum(tag[pos - 1]) && tag[pos - 1] != '-';
        std::size_t i = pos + 4;
        pos = i;
        if (!starts_name) continue;
        while (i < tag.size() && tag[i] == ' ') ++i;
        if (i >= tag.size() || tag[i] != '=') continue;
        ++i;
        while (i < tag.size() && tag[i] == ' ') ++i;
        if (i >= tag.size()) break;
        std::string_view value;
        if (tag[i] == '"' || tag[i] == '\'') {
            const std::size_t close = tag.find(tag[i], i + 1);
            if (close == std::string_view::npos) break;
            value = tag.substr(i + 1, close - i - 1);
        } else {
            std::size_t end = i;
            while (end < tag.size() && tag[end] != ' ' && tag[end] != '/') ++end;
            value = tag.substr(i, end - i);
        }
        std::string decoded;
        append_decoded(decoded, value);
        return decoded;
    }
    return {};
}

/// Returns the lower-case ASCII name of the tag whose body (between '<' and '>') is `tag`,
/// without a leading '/'.
std::string_view tag_name(std::string_view tag) {
    std::size_t begin = 0;
    if (begin < tag.size() && tag[begin] == '/') ++begin;
    std::size_t end = begin;
    while (end < tag.size() && (is_ascii_alnum(tag[end]) || tag[end] == '-')) ++end;
    return tag.substr(begin, end - begin);
}

/// Appends the UTF-8 sequence that starts at `pos`, or U+FFFD when it is invalid, and returns
/// the position after what was consumed.
std::size_t append_sequence_or_replacement(std::string& out, std::string_view text,
                                           std::size_t pos) {
    std::int32_t code_point = 0;
    const auto length = decode_at(text, pos, code_point);
    if (length <= 0) {
        out += replacement_character;
        return pos + 1;
    }
    out.append(text.substr(pos, static_cast<std::size_t>(length)));
    return pos + static_cast<std::size_t>(length);
}

/// Returns whether `c` is a byte that append_html_escaped cannot copy as it is: one of the
/// characters it replaces, or a byte of a UTF-8 sequence, which must be checked.
bool needs_escape_check(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x80 || c == '<' || c == '>' || c == '&' || c == '"';
}

bool is_html_space(std::int32_t code_point) {
    return code_point == ' ' || code_point == '\t' || code_point == '\n' || code_point == '\r';
}

}  // namespace

void append_html_escaped(std::string& out, std::string_view text) {
    out.reserve(out.size() + text.size());
    for (std::size_t i = 0; i < text.size();) {
        // Most text is ASCII without special characters, and is copied a run at a time.
        std::size_t run_end = i;
        while (run_end < text.size() && !needs_escape_check(text[run_end])) ++run_end;
        if (run_end > i) {
            out.append(text.data() + i, run_end - i);
            i = run_end;
            continue;
        }
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte < 0x80) {
            switch (byte) {
                case '<':
                    out += "&lt;";
                    break;
                case '>':
                    out += "&gt;";
                    break;
                case '&':
                    out += "&amp;";
                    break;
                case '"':
                    out += "&quot;";
                    break;
                default:
                    out += static_cast<char>(byte);
                    break;
            }
            ++i;
            continue;
        }
        i = append_sequence_or_replacement(out, text, i);
    }
}

std::string html_escape(std::string_view text) {
    std::string out;
    append_html_escaped(out, text);
    return out;
}

std::string replace_invalid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            out += text[i];
            ++i;
            continue;
        }
        i = append_sequence_or_replacement(out, text, i);
    }
    return out;
}

std::size_t utf8_length(std::string_view text) {
    std::size_t count = 0;
    for (const char c : text) {
        // Every code point has exactly one byte that is not a continuation byte (10xxxxxx).
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
    }
    return count;
}

std::size_t utf8_floor(std::string_view text, std::size_t max_bytes) {
    if (max_bytes >= text.size()) return text.size();
    std::size_t end = max_bytes;
    // A UTF-8 sequence has at most three continuation bytes, so valid text needs at most
    // three steps back; the bound keeps invalid input from walking further.
    for (int step = 0; step < 3 && end > 0; ++step) {
        if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80) break;
        --end;
    }
    return end;
}

namespace {

/// Walks the text of Telegram HTML that a reader sees, skipping tags. Calls
/// `visit(value, is_entity)` with the code point of each entity and with each other byte, and
/// stops as soon as `visit` returns true. Returns whether it stopped early.
template <typename Visit>
bool find_in_shown_text(std::string_view html, Visit visit) {
    for (std::size_t i = 0; i < html.size();) {
        const char c = html[i];
        if (c == '<') {
            const std::size_t close = find_tag_end(html, i);
            if (close != std::string_view::npos) {
                i = close + 1;
                continue;
            }
        } else if (c == '&') {
            if (const auto parsed = parse_entity(html, i)) {
                if (visit(parsed->code_point, true)) return true;
                i += parsed->length;
                continue;
            }
        }
        if (visit(static_cast<std::int32_t>(static_cast<unsigned char>(c)), false)) return true;
        ++i;
    }
    return false;
}

}  // namespace

std::size_t telegram_html_length(std::string_view html) {
    std::size_t count = 0;
    find_in_shown_text(html, [&count](std::int32_t value, bool is_entity) {
        // An entity is one character, and so is every byte that starts a UTF-8 sequence.
        if (is_entity || (value & 0xC0) != 0x80) ++count;
        return false;
    });
    return count;
}

bool has_visible_content(std::string_view html) {
    // A byte that starts a non-ASCII character is not a space, so the walk stops there and
    // never sees a continuation byte.
    return find_in_shown_text(
        html, [](std::int32_t value, bool /*is_entity*/) { return !is_html_space(value); });
}

std::string html_to_plain_text(std::string_view html) {
    std::string out;
    out.reserve(html.size());
    // Links do not nest in Telegram HTML, so one pending link is enough.
    std::string link_url;
    std::size_t link_text_begin = 0;
    bool in_link = false;

    for (std::size_t i = 0; i < html.size();) {
        const char c = html[i];
        if (c == '<') {
            const std::size_t close = find_tag_end(html, i);
            if (close != std::string_view::npos) {
                const std::string_view tag = html.substr(i + 1, close - i - 1);
                const bool closing = !tag.empty() && tag[0] == '/';
                if (tag_name(tag) == "a") {
                    if (!closing) {
                        link_url = href_of(tag);
                        link_text_begin = out.size();
                        in_link = true;
                    } else if (in_link) {
                        // A link whose text is its own address is shown once.
                        const std::string_view link_text =
                            std::string_view(out).substr(link_text_begin);
                        if (!link_url.empty() && link_text != link_url) {
                            out += " (";
                            out += link_url;
                            out += ')';
                        }
                        in_link = false;
                    }
                }
                i = close + 1;
                continue;
            }
        } else if (c == '&') {
            if (const auto parsed = parse_entity(html, i)) {
                append_code_point(out, parsed->code_point);
                i += parsed->length;
                continue;
            }
        }
        out += c;
        ++i;
    }
    return out;
}

std::vector<html_token> tokenize_html(std::string_view html) {
    std::vector<html_token> tokens;
    for (std::size_t i = 0; i < html.size();) {
        html_token token;
        token.begin = i;
        const char c = html[i];
        if (c == '<') {
            const std::size_t close = find_tag_end(html, i);
            if (close != std::string_view::npos) {
                const std::string_view tag = html.substr(i + 1, close - i - 1);
                token.type = !tag.empty() && tag[0] == '/' ? html_token::kind::end_tag
                                                           : html_token::kind::start_tag;
                for (const char name_char : tag_name(tag)) {
                    token.name += static_cast<char>(
                        name_char >= 'A' && name_char <= 'Z' ? name_char - 'A' + 'a' : name_char);
                }
                token.end = close + 1;
                i = token.end;
                tokens.push_back(std::move(token));
                continue;
            }
        } else if (c == '&') {
            if (const auto parsed = parse_entity(html, i)) {
                token.type = html_token::kind::entity;
                token.code_point = parsed->code_point;
                token.end = i + parsed->length;
                i = token.end;
                tokens.push_back(std::move(token));
                continue;
            }
        }
        std::int32_t code_point = -1;
        const auto length = decode_at(html, i, code_point);
        token.code_point = length > 0 ? code_point : -1;
        token.end = i + (length > 0 ? static_cast<std::size_t>(length) : 1);
        i = token.end;
        tokens.push_back(std::move(token));
    }
    return tokens;
}

}  // namespace tgsearch
