#include "core/reply_split.hpp"

#include "core/html.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace tgsearch {
namespace {

bool is_space(std::int32_t code_point) {
    return code_point == ' ' || code_point == '\t' || code_point == '\n' || code_point == '\r';
}

/// A token of the text and how a cut right after it ranks.
struct split_token {
    html_token token;
    bool visible = false;  ///< counts as one character
    bool content = false;  ///< a visible character other than white space
    /// A cut right after this token ends a paragraph (3), a line (2), a word (1) or only a
    /// grapheme cluster (0). With -1, a cut here would split a grapheme cluster.
    int cut_rank = -1;
};

std::vector<split_token> classify(std::string_view html) {
    std::vector<split_token> tokens;
    for (html_token& token : tokenize_html(html)) {
        split_token item;
        item.visible =
            token.type == html_token::kind::character || token.type == html_token::kind::entity;
        item.content = item.visible && !is_space(token.code_point);
        item.token = std::move(token);
        tokens.push_back(std::move(item));
    }

    // A cut between two characters must not split a grapheme cluster, such as an emoji with
    // a skin tone or a letter with its combining marks. Tags and entities always allow a cut.
    utf8proc_int32_t state = 0;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        split_token& current = tokens[i];
        const bool last = i + 1 == tokens.size();
        const bool next_is_character = !last &&
                                       tokens[i + 1].token.type == html_token::kind::character &&
                                       tokens[i + 1].token.code_point >= 0;
        const bool is_character =
            current.token.type == html_token::kind::character && current.token.code_point >= 0;
        bool boundary = true;
        if (is_character && next_is_character) {
            boundary = utf8proc_grapheme_break_stateful(current.token.code_point,
                                                        tokens[i + 1].token.code_point, &state);
        } else {
            state = 0;
        }
        if (!boundary) {
            continue;
        }
        const std::int32_t code_point = current.visible ? current.token.code_point : -1;
        if (code_point == '\n') {
            const bool after_newline =
                i > 0 && tokens[i - 1].visible && tokens[i - 1].token.code_point == '\n';
            current.cut_rank = after_newline ? 3 : 2;
        } else if (is_space(code_point)) {
            current.cut_rank = 1;
        } else {
            current.cut_rank = 0;
        }
    }
    return tokens;
}

std::size_t closing_bytes(const std::vector<const html_token*>& open_tags) {
    std::size_t bytes = 0;
    for (const html_token* tag : open_tags) {
        bytes += tag->name.size() + 3;  // "</" name ">"
    }
    return bytes;
}

void apply_tag(std::vector<const html_token*>& open_tags, const html_token& token) {
    if (token.type == html_token::kind::start_tag) {
        open_tags.push_back(&token);
    } else if (token.type == html_token::kind::end_tag && !open_tags.empty()) {
        open_tags.pop_back();
    }
}

}  // namespace

std::vector<std::string> split_html_message(std::string_view html, std::size_t max_chars,
                                            std::size_t max_bytes) {
    // Most replies fit one message, which two linear scans show without tokenizing.
    if (html.size() <= max_bytes && telegram_html_length(html) <= max_chars) {
        if (!has_visible_content(html)) return {};
        return {std::string(html)};
    }
    const std::vector<split_token> tokens = classify(html);
    std::size_t last_content = tokens.size();
    for (std::size_t i = tokens.size(); i-- > 0;) {
        if (tokens[i].content) {
            last_content = i;
            break;
        }
    }
    if (last_content == tokens.size()) {
        return {};
    }

    std::vector<std::string> parts;
    std::vector<const html_token*> open_tags;  // open where the current part starts
    std::size_t start = 0;
    // Only white space and tags may follow the last part, whose end closes every open tag.
    while (start <= last_content) {
        std::string reopened;
        for (const html_token* tag : open_tags) {
            reopened.append(html.substr(tag->begin, tag->end - tag->begin));
        }

        // Find the furthest cut of each rank that keeps the part within both limits.
        std::vector<const html_token*> scan_tags = open_tags;
        std::size_t chars = 0;
        std::size_t bytes = reopened.size();
        bool has_content = false;
        std::size_t best_cut[4] = {0, 0, 0, 0};  // token index after the cut; 0 for none
        std::size_t end = start;
        while (end < tokens.size()) {
            const split_token& item = tokens[end];
            const std::size_t next_chars = chars + (item.visible ? 1 : 0);
            std::vector<const html_token*> next_tags = scan_tags;
            apply_tag(next_tags, item.token);
            const std::size_t next_bytes = bytes + (item.token.end - item.token.begin);
            if (next_chars > max_chars || next_bytes + closing_bytes(next_tags) > max_bytes) {
                break;
            }
            chars = next_chars;
            bytes = next_bytes;
            scan_tags = std::move(next_tags);
            has_content = has_content || item.content;
            ++end;
            if (has_content && item.cut_rank >= 0) {
                best_cut[item.cut_rank] = end;
            }
        }
        if (end < tokens.size() && end <= last_content) {
            std::size_t cut = 0;
            for (int rank = 3; rank >= 0 && cut == 0; --rank) {
                cut = best_cut[rank];
            }
            // Without any boundary (a grapheme cluster longer than the limit), cut where the
            // limit falls, but always take at least one token so that the loop ends.
            end = cut != 0 ? cut : std::max(end, start + 1);
            // A start tag at the end of a part would open an empty element: move it on.
            while (end > start + 1 && tokens[end - 1].token.type == html_token::kind::start_tag) {
                --end;
            }
        }

        std::vector<const html_token*> end_tags = open_tags;
        for (std::size_t i = start; i < end; ++i) {
            apply_tag(end_tags, tokens[i].token);
        }
        std::string part = std::move(reopened);
        part.append(html.substr(tokens[start].token.begin,
                                tokens[end - 1].token.end - tokens[start].token.begin));
        for (auto tag = end_tags.rbegin(); tag != end_tags.rend(); ++tag) {
            part += "</";
            part += (*tag)->name;
            part += '>';
        }
        parts.push_back(std::move(part));
        open_tags = std::move(end_tags);
        start = end;
    }
    return parts;
}

}  // namespace tgsearch
