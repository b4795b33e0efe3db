#include "core/snippet.hpp"

#include "core/html.hpp"
#include "core/text_normalizer.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace tgsearch {
namespace {

constexpr std::string_view ellipsis = "\xE2\x80\xA6";  // U+2026 "…"

/// Returns true for bytes that start a code point (everything but 10xxxxxx).
bool starts_code_point(char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }

/// Returns whether `cp` has the general category Zs, Zl, Zp or Cc, which a snippet shows as
/// one space. The list is that of Unicode 15.0, which utf8proc 2.8 implements, and a unit
/// test compares it with utf8proc_category for every code point. It saves a property lookup
/// per character.
bool is_space_or_control(std::int32_t cp) {
    if (cp < 0x80) return cp <= 0x20 || cp == 0x7F;
    if (cp <= 0xA0) return true;  // C1 controls U+0080..U+009F and the no-break space U+00A0
    if (cp < 0x1680) return false;
    return cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/// One character of the text as the snippet counts it.
struct char_info {
    std::size_t length = 1;  ///< bytes; an invalid byte is a character of its own (U+FFFD)
    bool space = false;      ///< whitespace or control character, collapsed to one space
};

/// Returns the character info of the non-ASCII character at `text[pos]`.
char_info non_ascii_char_at(std::string_view text, std::size_t pos) {
    std::int32_t cp = 0;
    const auto length =
        utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                         static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
    if (length <= 0) return {1, false};
    return {static_cast<std::size_t>(length), is_space_or_control(cp)};
}

inline char_info char_at(std::string_view text, std::size_t pos) {
    const auto byte = static_cast<unsigned char>(text[pos]);
    if (byte < 0x80) return {1, byte <= 0x20 || byte == 0x7F};
    return non_ascii_char_at(text, pos);
}

bool is_ascii(std::string_view text) {
    std::size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
        std::uint64_t chunk = 0;
        std::memcpy(&chunk, text.data() + i, 8);
        if ((chunk & 0x8080808080808080ULL) != 0) return false;
    }
    for (; i < text.size(); ++i) {
        if (static_cast<unsigned char>(text[i]) >= 0x80) return false;
    }
    return true;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

/// A byte range [begin, end) of the text.
struct byte_range {
    std::size_t begin = 0;
    std::size_t end = 0;
};

/// The distinct query terms, numbered in the order they first occur in the query.
class term_matcher {
public:
    explicit term_matcher(const std::vector<std::string>& terms) {
        for (const std::string& term : terms) {
            if (std::find(terms_.begin(), terms_.end(), term) != terms_.end()) continue;
            terms_.push_back(term);
            // Only an ASCII term can equal the lower-cased bytes of an ASCII word.
            if (is_ascii(term)) ascii_terms_.push_back(static_cast<int>(terms_.size() - 1));
        }
    }

    std::size_t size() const { return terms_.size(); }

    /// Returns the number of `term`, or -1 when it is not a query term.
    int find(std::string_view term) const {
        const auto found = std::find(terms_.begin(), terms_.end(), term);
        return found == terms_.end() ? -1 : static_cast<int>(found - terms_.begin());
    }

    /// Returns the number of the term that equals the ASCII bytes of `ranges` of `text`,
    /// lower-cased and joined, or -1. This is the term tokenize gives an ASCII word.
    int find_lowered(std::string_view text, std::span<const byte_range> ranges) const {
        std::size_t length = 0;
        for (const byte_range& range : ranges) length += range.end - range.begin;
        for (const int number : ascii_terms_) {
            const std::string_view term = terms_[static_cast<std::size_t>(number)];
            if (term.size() != length) continue;
            std::size_t at = 0;
            bool equal = true;
            for (const byte_range& range : ranges) {
                for (std::size_t i = range.begin; equal && i < range.end; ++i) {
                    equal = ascii_lower(text[i]) == term[at++];
                }
            }
            if (equal) return number;
        }
        return -1;
    }

private:
    std::vector<std::string_view> terms_;
    std::vector<int> ascii_terms_;  ///< numbers of the terms that are pure ASCII
};

/// tokenize's limit on the parts of one word (see max_word_parts in text_normalizer.cpp).
constexpr std::size_t max_word_parts = 16;

/// Marks the bytes of `chars` in a table indexed by byte value.
constexpr std::array<bool, 256> byte_table(std::string_view chars) {
    std::array<bool, 256> table{};
    for (const char c : chars) table[static_cast<unsigned char>(c)] = true;
    return table;
}

constexpr std::array<bool, 256> ascii_alnum_table =
    byte_table("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");

/// ASCII punctuation that tokenize may keep inside a word.
constexpr std::array<bool, 256> word_punctuation = byte_table(".'-_@,\"+#");

/// Characters after which tokenize lets a `#`, `@` or `.` start a word.
constexpr std::array<bool, 256> word_prefix_openers = byte_table(" \t\r\n([{<\"'/~");

/// A run of letters and digits of a word between part breaks.
struct word_part {
    std::size_t begin = 0;
    std::size_t end = 0;
    bool prefixed = false;  ///< starts with a `#`, `@` or `.` that the bare alternative drops
};

/// Splits lines of pure ASCII text into words and parts at the same places as `tokenize`,
/// but without building their terms, and calls `on_word(parts)` for each word.
///
/// NOTE: this repeats the ASCII rules of tokenize (part breaks, decimal points, `c++` and `c#`,
/// a leading `#`, `@` or `.`, 16 parts at most). A unit test compares the two on texts that
/// use every rule, and must be extended when tokenize gains an ASCII rule.
template <typename OnWord>
class ascii_word_splitter {
public:
    /// Splits text[begin, end), whole lines: `end` follows a line break or is the end of the
    /// text, and tokenize ends any word in both places.
    ascii_word_splitter(std::string_view text, std::size_t begin, std::size_t end, OnWord& on_word)
        : text_(text), begin_(begin), end_(end), on_word_(on_word) {}

    void run() {
        std::size_t i = begin_;
        while (i < end_) {
            const char c = text_[i];
            if (is_alnum(c)) {
                std::size_t run_end = i + 1;
                while (run_end < end_ && is_alnum(text_[run_end])) ++run_end;
                extend_part(i, run_end, text_[run_end - 1]);
                i = run_end;
            } else {
                i = handle_punctuation(i);
            }
        }
        end_word();
    }

private:
    static bool is_alnum(char c) { return ascii_alnum_table[static_cast<unsigned char>(c)]; }
    static bool is_digit(char c) { return c >= '0' && c <= '9'; }
    bool alnum_at(std::size_t pos) const { return pos < end_ && is_alnum(text_[pos]); }
    bool digit_at(std::size_t pos) const { return pos < end_ && is_digit(text_[pos]); }
    bool in_part() const { return part_begin_ != std::string_view::npos; }

    /// Returns whether a `#`, `@` or `.` at `pos` may start a word, as tokenize decides it.
    /// `begin_` follows a line break or is the start of the text, and tokenize accepts both.
    bool starts_word_after(std::size_t pos) const {
        return pos == begin_ || word_prefix_openers[static_cast<unsigned char>(text_[pos - 1])];
    }

    std::size_t handle_punctuation(std::size_t i) {
        const char c = text_[i];
        if (!word_punctuation[static_cast<unsigned char>(c)]) {
            end_word();
            return i + 1;
        }
        if (c != '+' && c != '#' && !alnum_at(i + 1)) {
            end_word();
            return i + 1;
        }
        if (in_part()) {
            switch (c) {
                case '.':
                    if (is_digit(part_last_) && digit_at(i + 1)) {
                        extend_part(i, i + 1, c);
                        return i + 1;
                    }
                    [[fallthrough]];
                case '\'':
                case '-':
                case '_':
                case '@':
                    if (alnum_at(i + 1)) {
                        break_part();
                        return i + 1;
                    }
                    break;
                case ',':
                    if (is_digit(part_last_) && digit_at(i + 1)) {
                        break_part();
                        return i + 1;
                    }
                    break;
                case '+':
                    if (i + 1 < end_ && text_[i + 1] == '+' && !alnum_at(i + 2)) {
                        extend_part(i, i + 2, '+');
                        end_word();
                        return i + 2;
                    }
                    break;
                case '#':
                    if (!alnum_at(i + 1)) {
                        extend_part(i, i + 1, c);
                        end_word();
                        return i + 1;
                    }
                    break;
                default:
                    // `"` joins Hebrew letters only.
                    break;
            }
        } else if ((c == '#' || c == '@' || c == '.') && alnum_at(i + 1) && starts_word_after(i)) {
            extend_part(i, i + 1, c);
            part_prefixed_ = true;
            return i + 1;
        }
        end_word();
        return i + 1;
    }

    void extend_part(std::size_t begin, std::size_t end, char last) {
        if (!in_part()) {
            part_begin_ = begin;
            part_prefixed_ = false;
        }
        part_end_ = end;
        part_last_ = last;
    }

    void close_part() {
        if (!in_part()) return;
        parts_[part_count_++] = word_part{part_begin_, part_end_, part_prefixed_};
        part_begin_ = std::string_view::npos;
    }

    void break_part() {
        close_part();
        if (part_count_ == max_word_parts) end_word();
    }

    void end_word() {
        if (part_count_ == 0 && !in_part()) return;
        close_part();
        on_word_(std::span<const word_part>(parts_.data(), part_count_));
        part_count_ = 0;
    }

    std::string_view text_;
    std::size_t begin_;
    std::size_t end_;
    OnWord& on_word_;
    std::size_t part_begin_ = std::string_view::npos;
    std::size_t part_end_ = 0;
    bool part_prefixed_ = false;
    char part_last_ = 0;
    std::array<word_part, max_word_parts> parts_;
    std::size_t part_count_ = 0;
};

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

/// A snippet scans a long text up to this many characters past its first match, or 8 times
/// the longest snippet requested if that is more. Debian package descriptions (up to 81 KB)
/// and manual pages (up to 187 KB, proc(5)) are scanned whole, while the cost of a text file
/// of megabytes stays bounded. A limit of 65,536 changed the replies to 13 of 2,000 sample
/// queries on Debian's package descriptions (bench/render_bench.cpp), because long package
/// lists have their best passage far from their first match. See place_tokens.
constexpr std::size_t min_scan_chars_after_match = 1 << 18;
constexpr std::size_t scan_chars_per_snippet_char = 8;

/// A text without a match is scanned for one up to this many characters.
constexpr std::size_t max_scan_chars_for_match = 1 << 20;

/// Pure ASCII lines are split in groups of about this many bytes, between which the scan of a
/// long text may stop.
constexpr std::size_t ascii_group_bytes = 2048;

/// Returns how many characters past the first match a snippet of at most `max_chars`
/// characters scans.
std::size_t scan_chars_for(std::size_t max_chars) {
    if (max_chars > std::string_view::npos / scan_chars_per_snippet_char) {
        return std::string_view::npos;
    }
    return std::max(min_scan_chars_after_match, scan_chars_per_snippet_char * max_chars);
}

class snippet_builder {
public:
    /// Finds the words of `text` with `scan`. The scan may stop at a line break once it has
    /// counted `scan_chars` characters past the first match, as place_tokens describes. With
    /// std::string_view::npos it scans the whole text.
    snippet_builder(std::string_view text, const std::vector<std::string>& query_terms,
                    snippet_word_scan scan, std::size_t scan_chars)
        : text_(text), terms_(query_terms), scan_chars_(scan_chars) {
        place_tokens(scan);
        if (truncated_) find_content_end();
    }

    /// Returns the placed tokens as words.
    std::vector<snippet_word> words() const {
        std::vector<snippet_word> result;
        result.reserve(tokens_.size());
        for (const placed_token& t : tokens_) result.push_back({t.begin, t.end, t.query_term});
        return result;
    }

    /// Renders the snippet of at most `max_chars` characters. A builder whose scan stopped
    /// early must have been made with scan_chars_for(n) for some n >= max_chars.
    std::string build(std::size_t max_chars) const {
        if (max_chars == 0 || content_begin_ == content_end_) return {};
        // A scan that stopped has counted more than max_chars, so the text does not fit.
        if (!truncated_ && content_chars_ <= max_chars) {
            return render({content_begin_, content_end_}, content_end_);
        }
        // Two characters stay free for the ellipses at the cut ends.
        if (max_chars <= 2) return std::string(ellipsis);
        const std::size_t budget = max_chars - 2;
        const passage chosen = choose(budget);
        return render(chosen, cut_position(chosen, budget));
    }

private:
    /// Places and counts the words of the text, segment by segment. tokenize ends every word
    /// at a line break and starts afresh after it. So each line can be tokenized on its own
    /// with the same result, and pure ASCII lines, most of all text, take a path that builds
    /// no terms.
    ///
    /// A long text is scanned only scan_chars_ characters past its first match, and at most
    /// max_scan_chars_for_match characters when it has none. The scan stops at the first line
    /// break past that point, so a text of one long line is scanned whole. Shorter texts get
    /// exactly the snippet that a full scan gives. A longer one gets a different passage when
    /// one with more distinct query terms, or as many and more matches, lies past the point
    /// where the scan stopped, and shows no match when its first match lies past the limit.
    void place_tokens(snippet_word_scan scan) {
        // An estimate: English text has about one word in six bytes.
        tokens_.reserve(std::min(text_.size(), scan_chars_) / 6 + 4);
        std::vector<token> line_tokens;
        if (scan == snippet_word_scan::whole_text) {
            tokenize(text_, line_tokens);
            place_line_tokens(line_tokens, 0);
            count_segment(text_.size());
            return;
        }
        const bool fast = scan == snippet_word_scan::ascii_fast_path;
        // A text shorter than scan_chars_ bytes has fewer characters, so its scan never stops.
        if (fast && text_.size() <= scan_chars_ && is_ascii(text_)) {
            place_ascii_lines(0, text_.size());
            count_segment(text_.size());
            return;
        }
        std::size_t ascii_begin = std::string_view::npos;  // first of the ASCII lines pending
        std::size_t line_begin = 0;
        while (line_begin < text_.size()) {
            const std::size_t newline = text_.find('\n', line_begin);
            const std::size_t line_end =
                newline == std::string_view::npos ? text_.size() : newline + 1;
            const std::string_view line = text_.substr(line_begin, line_end - line_begin);
            if (fast && is_ascii(line)) {
                if (ascii_begin == std::string_view::npos) ascii_begin = line_begin;
                if (line_end - ascii_begin >= ascii_group_bytes) {
                    place_ascii_lines(ascii_begin, line_end);
                    ascii_begin = std::string_view::npos;
                    if (!count_segment(line_end)) return;
                }
            } else {
                if (ascii_begin != std::string_view::npos) {
                    place_ascii_lines(ascii_begin, line_begin);
                    ascii_begin = std::string_view::npos;
                    if (!count_segment(line_begin)) return;
                }
                line_tokens.clear();
                tokenize(line, line_tokens);
                place_line_tokens(line_tokens, line_begin);
                if (!count_segment(line_end)) return;
            }
            line_begin = line_end;
        }
        if (ascii_begin != std::string_view::npos) {
            place_ascii_lines(ascii_begin, text_.size());
            count_segment(text_.size());
        }
    }

    /// Places the words of text_[begin, end), whole lines of pure ASCII.
    void place_ascii_lines(std::size_t begin, std::size_t end) {
        const auto on_word = [this](std::span<const word_part> parts) { place_ascii_word(parts); };
        ascii_word_splitter<decltype(on_word)> splitter(text_, begin, end, on_word);
        splitter.run();
    }

    /// Places the parts of an ASCII word with the match that place_line_tokens would give
    /// them: a part's own term first, else the word's joined term, else the part without its
    /// leading `#`, `@` or `.`.
    void place_ascii_word(std::span<const word_part> parts) {
        int joined_term = -1;
        if (parts.size() > 1) {
            std::array<byte_range, max_word_parts> ranges;
            for (std::size_t i = 0; i < parts.size(); ++i) {
                ranges[i] = {parts[i].begin, parts[i].end};
            }
            joined_term = terms_.find_lowered(text_, std::span(ranges.data(), parts.size()));
        }
        for (const word_part& part : parts) {
            const byte_range whole{part.begin, part.end};
            int query_term = terms_.find_lowered(text_, std::span(&whole, 1));
            if (query_term < 0) query_term = joined_term;
            if (query_term < 0 && part.prefixed) {
                const byte_range bare{part.begin + 1, part.end};
                query_term = terms_.find_lowered(text_, std::span(&bare, 1));
            }
            tokens_.push_back({part.begin, part.end, 0, 0, query_term});
        }
    }

    /// Places the tokens that tokenize gave the line starting at byte `offset`.
    void place_line_tokens(std::vector<token>& tokens, std::size_t offset) {
        // Longer tokens first where two start together, so that a joined word (`x86-64`)
        // comes before the parts it covers.
        const auto before = [](const token& a, const token& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
        };
        // The tokenizer nearly always emits them in this order already.
        if (!std::is_sorted(tokens.begin(), tokens.end(), before)) {
            std::stable_sort(tokens.begin(), tokens.end(), before);
        }
        // The joined word whose parts are being placed: its parts stand for it, and take its
        // match when they have none of their own.
        std::size_t joined_end = 0;
        int joined_term = -1;
        const std::size_t line_first_token = tokens_.size();
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            const token& t = tokens[i];
            int query_term = terms_.find(t.term);
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
            if (tokens_.size() > line_first_token && offset + t.begin < tokens_.back().end) {
                if (tokens_.back().query_term < 0) tokens_.back().query_term = query_term;
                continue;
            }
            tokens_.push_back({offset + t.begin, offset + t.end, 0, 0, query_term});
        }
    }

    /// Counts collapsed characters up to `target`, noting where the content starts and ends.
    void count_to(std::size_t target) {
        while (count_pos_ < target) {
            const char_info current = char_at(text_, count_pos_);
            if (current.space) {
                if (!in_space_) ++chars_;
                in_space_ = true;
            } else {
                if (!seen_content_) {
                    seen_content_ = true;
                    content_begin_ = count_pos_;
                    content_first_char_ = chars_;
                }
                ++chars_;
                in_space_ = false;
                content_end_ = count_pos_ + current.length;
                content_chars_ = chars_ - content_first_char_;
            }
            count_pos_ += current.length;
        }
    }

    /// Assigns collapsed offsets to the tokens placed since the last call, lists their
    /// matches and counts the text up to `segment_end`, the end of the text or of a line.
    /// Returns false when the scan stops there.
    bool count_segment(std::size_t segment_end) {
        for (; counted_tokens_ < tokens_.size(); ++counted_tokens_) {
            placed_token& t = tokens_[counted_tokens_];
            count_to(t.begin);
            t.char_begin = chars_;
            count_to(t.end);
            t.char_end = chars_;
            if (t.query_term >= 0) matches_.push_back(counted_tokens_);
        }
        count_to(segment_end);
        if (segment_end == text_.size()) return true;
        const std::size_t from = matches_.empty() ? 0 : tokens_[matches_.front()].char_begin;
        // Either way at least scan_chars_ characters are counted, so that a text whose scan
        // stopped is longer than any snippet requested.
        const bool enough = matches_.empty()
                                ? chars_ >= std::max(max_scan_chars_for_match, scan_chars_)
                                : chars_ - from >= scan_chars_;
        if (!enough) return true;
        truncated_ = true;
        scan_end_ = segment_end;
        return false;
    }

    /// Sets content_end_ to the end of the last character of the text that is not
    /// whitespace, for a scan that stopped before it. The scan counted content, so there is
    /// such a character.
    void find_content_end() {
        std::size_t pos = text_.size();
        while (pos > scan_end_) {
            const std::size_t previous = previous_char(scan_end_, pos);
            if (!char_at(text_, previous).space) break;
            pos = previous;
        }
        content_end_ = std::max(pos, content_end_);
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
        std::size_t first = 0;
        std::size_t last = 0;
        if (!matches_.empty()) {
            std::vector<std::size_t> counts(terms_.size(), 0);
            std::size_t distinct = 0;
            std::size_t best_distinct = 0;
            std::size_t best_total = 0;
            std::size_t right = 0;  // one past the last match in the window
            for (std::size_t left = 0; left < matches_.size(); ++left) {
                right = std::max(right, left);
                while (right < matches_.size() &&
                       (right == left ||
                        tokens_[matches_[right]].char_end - tokens_[matches_[left]].char_begin <=
                            budget)) {
                    if (counts[tokens_[matches_[right]].query_term]++ == 0) ++distinct;
                    ++right;
                }
                const std::size_t total = right - left;
                if (distinct > best_distinct || (distinct == best_distinct && total > best_total)) {
                    best_distinct = distinct;
                    best_total = total;
                    first = matches_[left];
                    last = matches_[right - 1];
                }
                if (--counts[tokens_[matches_[left]].query_term] == 0) --distinct;
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
        if (matches_.empty() && first == 0) chosen.begin = content_begin_;
        // A scan that stopped ends at a line break, which the loop below stops at.
        std::size_t limit_after = truncated_ ? scan_end_ : content_end_;
        if (last + 1 < tokens_.size()) limit_after = tokens_[last + 1].begin;
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

    /// Returns whether text_[chosen) shows as at most `max_chars` collapsed characters.
    bool fits(passage chosen, std::size_t max_chars) const {
        std::size_t chars = 0;
        bool in_space = false;
        for (std::size_t pos = chosen.begin; pos < chosen.end;) {
            const char_info current = char_at(text_, pos);
            if (!current.space || !in_space) ++chars;
            if (chars > max_chars) return false;
            in_space = current.space;
            pos += current.length;
        }
        return true;
    }

    /// Returns where text_[chosen) must end to show at most `max_chars` collapsed characters.
    /// That is chosen.end when all of it fits. Otherwise it is the end of the last word that
    /// fits, if that keeps at least half the room, or else the start of the grapheme cluster
    /// (a letter with its marks, a flag, an emoji sequence) that does not fit.
    std::size_t cut_position(passage chosen, std::size_t max_chars) const {
        // choose() nearly always returns a passage that fits, and then no cluster is needed.
        if (fits(chosen, max_chars)) return chosen.end;
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

    /// Appends text_[begin, end) to `out` as escaped HTML with every whitespace run shown as
    /// one space. `in_space` is true when a space was written last, and is updated.
    void append_collapsed(std::string& out, std::size_t begin, std::size_t end,
                          bool& in_space) const {
        std::size_t run_begin = begin;  // start of bytes not yet written
        for (std::size_t pos = begin; pos < end;) {
            const char_info current = char_at(text_, pos);
            if (!current.space) {
                in_space = false;
                pos += current.length;
                continue;
            }
            // The first space of a run, when it is a plain space, is copied with the text
            // around it. Other whitespace is replaced.
            if (!in_space && text_[pos] == ' ') {
                in_space = true;
                ++pos;
                continue;
            }
            append_html_escaped(out, text_.substr(run_begin, pos - run_begin));
            if (!in_space) out += ' ';
            in_space = true;
            pos += current.length;
            run_begin = pos;
        }
        append_html_escaped(out, text_.substr(run_begin, end - run_begin));
    }

    /// Writes text_[chosen.begin, limit) as HTML, with "…" on each side that leaves text out.
    /// `limit` is at most chosen.end, where cut_position cuts the passage. Matched tokens
    /// that start in that range are bold, and one that `limit` cuts is closed there.
    std::string render(passage chosen, std::size_t limit) const {
        std::string out;
        // Escaping rarely grows the text, and the ellipses and tags add a few dozen bytes. A
        // long run of whitespace shrinks to one space, hence the bound.
        constexpr std::size_t max_reserve_bytes = 4096;
        out.reserve(std::min(limit - chosen.begin, max_reserve_bytes) + 64);
        if (chosen.begin > content_begin_) out += ellipsis;
        const bool cut = limit < chosen.end;
        chosen.end = limit;

        // Placed tokens do not overlap and contain no whitespace, so their starts and ends
        // both increase, and a whitespace run never falls inside a bold word.
        auto match = std::partition_point(matches_.begin(), matches_.end(), [&](std::size_t i) {
            return tokens_[i].begin < chosen.begin;
        });
        bool in_space = false;
        std::size_t pos = chosen.begin;
        for (; match != matches_.end() && tokens_[*match].begin < chosen.end; ++match) {
            const placed_token& bold = tokens_[*match];
            append_collapsed(out, pos, bold.begin, in_space);
            out += "<b>";
            pos = std::min(bold.end, chosen.end);
            append_collapsed(out, bold.begin, pos, in_space);
            out += "</b>";
        }
        append_collapsed(out, pos, chosen.end, in_space);
        if (cut || chosen.end < content_end_) out += ellipsis;
        return out;
    }

    std::string_view text_;
    term_matcher terms_;
    std::vector<placed_token> tokens_;
    std::vector<std::size_t> matches_;  ///< indexes of the tokens that match a query term
    std::size_t scan_chars_;            ///< see the constructor
    bool truncated_ = false;            ///< the scan stopped before the end of the text
    std::size_t scan_end_ = 0;          ///< where it stopped, after a line break
    std::size_t content_begin_ = 0;     ///< first byte that is not whitespace
    std::size_t content_end_ = 0;       ///< one past the last byte that is not whitespace
    /// Collapsed length of [content_begin_, content_end_), or of the part scanned when the
    /// scan stopped.
    std::size_t content_chars_ = 0;

    // State of the count of collapsed characters, which follows the placing of tokens.
    std::size_t count_pos_ = 0;           ///< byte counted up to
    std::size_t chars_ = 0;               ///< collapsed characters before count_pos_
    bool in_space_ = false;               ///< count_pos_ follows whitespace
    bool seen_content_ = false;           ///< a character that is not whitespace was counted
    std::size_t content_first_char_ = 0;  ///< collapsed offset of content_begin_
    std::size_t counted_tokens_ = 0;      ///< tokens that have their collapsed offsets
};

}  // namespace

std::string make_snippet_html(std::string_view text, const std::vector<std::string>& query_terms,
                              std::size_t max_chars) {
    return snippet_builder(text, query_terms, snippet_word_scan::ascii_fast_path,
                           scan_chars_for(max_chars))
        .build(max_chars);
}

std::vector<std::string> make_snippets_html(std::string_view text,
                                            const std::vector<std::string>& query_terms,
                                            std::span<const std::size_t> max_chars) {
    const std::size_t longest =
        max_chars.empty() ? 0 : *std::max_element(max_chars.begin(), max_chars.end());
    const snippet_builder builder(text, query_terms, snippet_word_scan::ascii_fast_path,
                                  scan_chars_for(longest));
    std::vector<std::string> snippets;
    snippets.reserve(max_chars.size());
    for (const std::size_t limit : max_chars) snippets.push_back(builder.build(limit));
    return snippets;
}

std::vector<snippet_word> find_snippet_words(std::string_view text,
                                             const std::vector<std::string>& query_terms,
                                             snippet_word_scan scan) {
    return snippet_builder(text, query_terms, scan, std::string_view::npos).words();
}

}  // namespace tgsearch
