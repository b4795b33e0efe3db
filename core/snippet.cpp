#include "core/snippet.hpp"

#include "core/html.hpp"
#include "core/text_normalizer.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>

namespace tgsearch {
namespace {

constexpr std::string_view ellipsis = "\xE2\x80\xA6";  // U+2026 "…"

/// Returns true for bytes that start a code point (everything but 10xxxxxx).
bool starts_code_point(char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }

/// One character of the text as the snippet counts it.
struct char_info {
    std::size_t length = 1;  ///< bytes; an invalid byte is a character of its own (U+FFFD)
    bool space = false;      ///< whitespace or control character, collapsed to one space
};

char_info char_at(std::string_view text, std::size_t pos) {
    const auto byte = static_cast<unsigned char>(text[pos]);
    if (byte < 0x80) return {1, byte <= 0x20 || byte == 0x7F};
    std::int32_t cp = 0;
    const auto length =
        utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                         static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
    if (length <= 0) return {1, false};
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_ZS:
        case UTF8PROC_CATEGORY_ZL:
        case UTF8PROC_CATEGORY_ZP:
        case UTF8PROC_CATEGORY_CC:
            return {static_cast<std::size_t>(length), true};
        default:
            return {static_cast<std::size_t>(length), false};
    }
}

/// A token with its place counted in code points of the text with whitespace runs collapsed,
/// which is how long the passage will be when shown.
struct placed_token {
    std::size_t begin = 0;  ///< byte offsets into the text
    std::size_t end = 0;
    std::size_t char_begin = 0;  ///< collapsed code point offsets
    std::size_t char_end = 0;
    int query_term = -1;  ///< index into the distinct query terms, -1 when unmatched
};

/// A passage chosen for display: byte range [begin, end) of the text.
struct passage {
    std::size_t begin = 0;
    std::size_t end = 0;
};

class snippet_builder {
public:
    snippet_builder(std::string_view text, const std::vector<std::string>& query_terms)
        : text_(text) {
        for (const std::string& term : query_terms) {
            if (std::find(terms_.begin(), terms_.end(), term) == terms_.end()) {
                terms_.push_back(term);
            }
        }
        place_tokens();
    }

    std::string build(std::size_t max_chars) {
        if (max_chars == 0 || content_begin_ == content_end_) return {};
        if (content_chars_ <= max_chars) return render({content_begin_, content_end_}, max_chars);
        // Two characters stay free for the ellipses at the cut ends.
        if (max_chars <= 2) return std::string(ellipsis);
        const std::size_t budget = max_chars - 2;
        return render(choose(budget), budget);
    }

private:
    void place_tokens() {
        // NOTE: the whole text is tokenized for every snippet, so the cost grows with document
        // length; a 180 KB manual page takes tens of milliseconds, mostly in normalization.
        std::vector<token> tokens;
        tokenize(text_, tokens);
        // Longer tokens first where two start together, so that a joined word (`x86-64`)
        // comes before the parts it covers.
        const auto before = [](const token& a, const token& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
        };
        // The tokenizer nearly always emits them in this order already.
        if (!std::is_sorted(tokens.begin(), tokens.end(), before)) {
            std::stable_sort(tokens.begin(), tokens.end(), before);
        }
        tokens_.reserve(tokens.size());
        // The joined word whose parts are being placed: its parts stand for it, and take its
        // match when they have none of their own.
        std::size_t joined_end = 0;
        int joined_term = -1;
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            const token& t = tokens[i];
            int query_term = -1;
            const auto found = std::find(terms_.begin(), terms_.end(), t.term);
            if (found != terms_.end()) query_term = static_cast<int>(found - terms_.begin());
            const bool covers_next = i + 1 < tokens.size() && tokens[i + 1].begin < t.end &&
                                     tokens[i + 1].end <= t.end &&
                                     (tokens[i + 1].begin != t.begin || tokens[i + 1].end != t.end);
            if (covers_next && t.begin >= joined_end) {
                joined_end = t.end;
                joined_term = query_term;
                continue;
            }
            if (t.begin >= joined_end) joined_term = -1;
            if (query_term < 0) query_term = joined_term;
            // A word may come with a spelling variant over the same bytes; it is one word here.
            if (!tokens_.empty() && t.begin < tokens_.back().end) {
                if (tokens_.back().query_term < 0) tokens_.back().query_term = query_term;
                continue;
            }
            placed_token placed;
            placed.begin = t.begin;
            placed.end = t.end;
            placed.query_term = query_term;
            tokens_.push_back(placed);
        }

        // One pass over the text assigns collapsed offsets to token boundaries in order and
        // finds where the content starts and ends once outer whitespace is trimmed.
        std::size_t chars = 0;
        std::size_t content_first_char = 0;
        bool seen_content = false;
        bool in_space = false;
        std::size_t next_begin = 0;
        std::size_t next_end = 0;
        std::size_t pos = 0;
        while (true) {
            while (next_end < tokens_.size() && tokens_[next_end].end == pos) {
                tokens_[next_end++].char_end = chars;
            }
            while (next_begin < tokens_.size() && tokens_[next_begin].begin == pos) {
                tokens_[next_begin++].char_begin = chars;
            }
            if (pos >= text_.size()) break;
            const char_info current = char_at(text_, pos);
            if (current.space) {
                if (!in_space) ++chars;
                in_space = true;
            } else {
                if (!seen_content) {
                    seen_content = true;
                    content_begin_ = pos;
                    content_first_char = chars;
                }
                ++chars;
                in_space = false;
                content_end_ = pos + current.length;
                content_chars_ = chars - content_first_char;
            }
            pos += current.length;
        }
    }

    /// Returns the byte offset of the character that ends just before `pos`, looking no
    /// further back than `floor`. Both must be character boundaries.
    std::size_t previous_char(std::size_t floor, std::size_t pos) const {
        // A code point is at most 4 bytes. A lead byte whose sequence does not end at `pos`
        // means the byte before `pos` is an invalid byte, which is a character of its own.
        for (std::size_t back = 1; back <= 4 && pos >= floor + back; ++back) {
            const std::size_t start = pos - back;
            if (starts_code_point(text_[start])) {
                return char_at(text_, start).length == back ? start : pos - 1;
            }
        }
        return pos - 1;
    }

    /// Picks the passage of at most `budget` collapsed characters, cut at token boundaries.
    passage choose(std::size_t budget) const {
        if (tokens_.empty()) return {content_begin_, content_end_};
        // Without a match, the passage is the start of the text, cut after a whole word.

        // The core is the run of matched tokens with the most distinct query terms, then the
        // most matches, found with a sliding window over the matched tokens.
        std::vector<std::size_t> matches;
        for (std::size_t i = 0; i < tokens_.size(); ++i) {
            if (tokens_[i].query_term >= 0) matches.push_back(i);
        }
        std::size_t first = 0;
        std::size_t last = 0;
        if (!matches.empty()) {
            std::vector<std::size_t> counts(terms_.size(), 0);
            std::size_t distinct = 0;
            std::size_t best_distinct = 0;
            std::size_t best_total = 0;
            std::size_t right = 0;  // one past the last match in the window
            for (std::size_t left = 0; left < matches.size(); ++left) {
                right = std::max(right, left);
                while (right < matches.size() &&
                       (right == left ||
                        tokens_[matches[right]].char_end - tokens_[matches[left]].char_begin <=
                            budget)) {
                    if (counts[tokens_[matches[right]].query_term]++ == 0) ++distinct;
                    ++right;
                }
                const std::size_t total = right - left;
                if (distinct > best_distinct || (distinct == best_distinct && total > best_total)) {
                    best_distinct = distinct;
                    best_total = total;
                    first = matches[left];
                    last = matches[right - 1];
                }
                if (--counts[tokens_[matches[left]].query_term] == 0) --distinct;
            }
        }

        // Context goes mostly after the core: a third of the room before it, the rest after,
        // and whatever the end of the text leaves unused goes back before it.
        const auto span = [&](std::size_t from, std::size_t to) {
            return tokens_[to].char_end - tokens_[from].char_begin;
        };
        if (span(first, last) <= budget) {
            const std::size_t core = span(first, last);
            const std::size_t before_allowance = core + (budget - core) / 3;
            while (first > 0 && span(first - 1, last) <= before_allowance) --first;
            while (last + 1 < tokens_.size() && span(first, last + 1) <= budget) ++last;
            while (first > 0 && span(first - 1, last) <= budget) --first;
        }
        std::size_t room = budget > span(first, last) ? budget - span(first, last) : 0;

        // Punctuation touching the outer tokens (a full stop, a bracket) is kept when it fits
        // and stops short of the next word.
        passage chosen{tokens_[first].begin, tokens_[last].end};
        if (matches.empty() && first == 0) chosen.begin = content_begin_;
        const std::size_t limit_after =
            last + 1 < tokens_.size() ? tokens_[last + 1].begin : content_end_;
        while (room > 0 && chosen.end < limit_after) {
            const char_info next = char_at(text_, chosen.end);
            if (next.space) break;
            chosen.end += next.length;
            --room;
        }
        const std::size_t limit_before = first > 0 ? tokens_[first - 1].end : content_begin_;
        while (room > 0 && chosen.begin > limit_before) {
            const std::size_t previous = previous_char(limit_before, chosen.begin);
            if (char_at(text_, previous).space) break;
            chosen.begin = previous;
            --room;
        }
        return chosen;
    }

    /// Returns where text_[chosen) must end to show at most `max_chars` collapsed characters.
    /// That is chosen.end when all of it fits. Otherwise it is the end of the last word that
    /// fits, if that keeps at least half the room, or else the start of the grapheme cluster
    /// (a letter with its marks, a flag, an emoji sequence) that does not fit.
    std::size_t cut_position(passage chosen, std::size_t max_chars) const {
        std::size_t chars = 0;
        bool in_space = false;
        std::size_t word_end = chosen.begin;  // end of the last word followed by a space
        std::size_t word_end_chars = 0;
        std::size_t cluster_begin = chosen.begin;
        std::int32_t previous = -1;
        std::int32_t break_state = 0;
        for (std::size_t pos = chosen.begin; pos < chosen.end;) {
            const char_info current = char_at(text_, pos);
            std::int32_t cp = -1;
            if (current.length > 1 || static_cast<unsigned char>(text_[pos]) < 0x80) {
                utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text_.data() + pos),
                                 static_cast<utf8proc_ssize_t>(current.length), &cp);
            }
            const bool boundary = previous < 0 || cp < 0 ||
                                  utf8proc_grapheme_break_stateful(previous, cp, &break_state);
            if (boundary) cluster_begin = pos;
            previous = cp;
            if (current.space) {
                if (!in_space) {
                    word_end = pos;
                    word_end_chars = chars;
                    ++chars;
                }
                in_space = true;
            } else {
                ++chars;
                in_space = false;
            }
            if (chars > max_chars) {
                if (word_end > chosen.begin && 2 * word_end_chars >= max_chars) return word_end;
                return current.space ? pos : cluster_begin;
            }
            pos += current.length;
        }
        return chosen.end;
    }

    /// Writes text_[chosen) as HTML, at most `max_chars` collapsed characters of it, with
    /// "…" on each side that leaves text out.
    std::string render(passage chosen, std::size_t max_chars) const {
        std::string out;
        if (chosen.begin > content_begin_) out += ellipsis;
        const std::size_t limit = cut_position(chosen, max_chars);
        const bool cut = limit < chosen.end;
        chosen.end = limit;

        bool in_space = false;
        std::size_t next_token = 0;
        while (next_token < tokens_.size() && tokens_[next_token].end <= chosen.begin) {
            ++next_token;
        }
        std::size_t pos = chosen.begin;
        std::size_t run_begin = pos;  // start of bytes not yet written
        const placed_token* open_token = nullptr;

        const auto flush = [&](std::size_t until) {
            append_html_escaped(out, text_.substr(run_begin, until - run_begin));
            run_begin = until;
        };
        while (pos < chosen.end) {
            while (next_token < tokens_.size() && tokens_[next_token].begin < pos) ++next_token;
            if (open_token == nullptr && next_token < tokens_.size() &&
                tokens_[next_token].begin == pos) {
                if (tokens_[next_token].query_term >= 0) {
                    flush(pos);
                    out += "<b>";
                    open_token = &tokens_[next_token];
                }
                ++next_token;
            }
            const char_info current = char_at(text_, pos);
            if (current.space) {
                flush(pos);
                if (!in_space) out += ' ';
                in_space = true;
                pos += current.length;
                run_begin = pos;
                continue;
            }
            in_space = false;
            pos += current.length;
            if (open_token != nullptr && pos >= open_token->end) {
                flush(pos);
                out += "</b>";
                open_token = nullptr;
            }
        }
        flush(pos);
        if (open_token != nullptr) out += "</b>";
        if (cut || chosen.end < content_end_) out += ellipsis;
        return out;
    }

    std::string_view text_;
    std::vector<std::string> terms_;
    std::vector<placed_token> tokens_;
    std::size_t content_begin_ = 0;  ///< first byte that is not whitespace
    std::size_t content_end_ = 0;    ///< one past the last byte that is not whitespace
    std::size_t content_chars_ = 0;  ///< collapsed length of [content_begin_, content_end_)
};

}  // namespace

std::string make_snippet_html(std::string_view text, const std::vector<std::string>& query_terms,
                              std::size_t max_chars) {
    return snippet_builder(text, query_terms).build(max_chars);
}

}  // namespace tgsearch
