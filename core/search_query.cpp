#include "core/search_query.hpp"

#include "core/text_normalizer.hpp"

#include <array>

namespace tgsearch::detail {
namespace {

/// Returns the byte length of the quote mark at `pos`, or 0 when there is none.
std::size_t quote_length_at(std::string_view query, std::size_t pos) {
    if (query[pos] == '"') return 1;
    static constexpr std::array<std::string_view, 5> marks = {"\u201C", "\u201D", "\u201E",
                                                              "\u00AB", "\u00BB"};  // “ ” „ « »
    for (const std::string_view mark : marks) {
        if (query.substr(pos).starts_with(mark)) return mark.size();
    }
    return 0;
}

/// A piece of the query between quote marks.
struct segment {
    std::size_t begin = 0;
    std::size_t end = 0;
    bool quoted = false;
};

std::vector<segment> split_quotes(std::string_view query) {
    std::vector<segment> segments;
    std::size_t start = 0;
    std::size_t open_quote_end = std::string_view::npos;  // set while inside quotes
    for (std::size_t pos = 0; pos < query.size();) {
        const std::size_t length = quote_length_at(query, pos);
        if (length == 0) {
            ++pos;
            continue;
        }
        if (open_quote_end == std::string_view::npos) {
            segments.push_back({start, pos, false});
            open_quote_end = pos + length;
        } else {
            segments.push_back({open_quote_end, pos, true});
            open_quote_end = std::string_view::npos;
        }
        pos += length;
        start = pos;
    }
    // An unclosed quote: its text is read as plain words.
    if (open_quote_end != std::string_view::npos) start = open_quote_end;
    segments.push_back({start, query.size(), false});
    return segments;
}

/// Compares spellings only: a word repeated as the prefix word counts once, as a prefix.
bool same_words(const query_clause& a, const query_clause& b) {
    if (a.slots.size() != b.slots.size()) return false;
    for (std::size_t i = 0; i < a.slots.size(); ++i) {
        if (a.slots[i].spellings != b.slots[i].spellings) return false;
    }
    return true;
}

}  // namespace

std::vector<query_clause> parse_search_query(std::string_view query, bool prefix_last) {
    std::vector<query_clause> clauses;
    std::size_t words = 0;
    const auto add = [&](query_clause clause) {
        if (clause.slots.empty() || words + clause.slots.size() > max_query_words) return;
        for (query_clause& earlier : clauses) {
            if (!same_words(earlier, clause)) continue;
            if (clause.slots.size() == 1 && clause.slots.front().prefix) {
                earlier.slots.front().prefix = true;
            }
            return;
        }
        words += clause.slots.size();
        clauses.push_back(std::move(clause));
    };
    const auto to_slot = [](query_word& word, std::size_t offset) {
        query_slot slot;
        slot.spellings = std::move(word.spellings);
        slot.begin = word.begin + offset;
        slot.end = word.end + offset;
        return slot;
    };

    const std::vector<segment> segments = split_quotes(query);
    for (const segment& piece : segments) {
        std::vector<query_word> parsed =
            parse_query_words(query.substr(piece.begin, piece.end - piece.begin));
        if (piece.quoted) {
            query_clause phrase;
            for (query_word& word : parsed) phrase.slots.push_back(to_slot(word, piece.begin));
            add(std::move(phrase));
            continue;
        }
        for (std::size_t i = 0; i < parsed.size(); ++i) {
            query_clause plain;
            plain.slots.push_back(to_slot(parsed[i], piece.begin));
            const bool last_in_query = &piece == &segments.back() && i + 1 == parsed.size() &&
                                       plain.slots.front().end == query.size();
            plain.slots.front().prefix = prefix_last && last_in_query;
            add(std::move(plain));
        }
    }
    return clauses;
}

}  // namespace tgsearch::detail
