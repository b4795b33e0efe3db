#pragma once

// Splitting a search query into clauses: plain words and quoted phrases.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch::detail {

/// Query words beyond this many (a phrase counts each of its words) are ignored, which bounds
/// the work one message can cause.
inline constexpr std::size_t max_query_words = 64;

/// One word of a clause with every spelling a document may use for it, as from
/// parse_query_words: a spelling of several terms must stand at consecutive positions.
struct query_slot {
    std::vector<std::vector<std::string>> spellings;
    std::size_t begin = 0;  ///< byte offset of the word in the whole query
    std::size_t end = 0;    ///< byte offset one past the word in the whole query
    bool prefix = false;    ///< the word may also be the start of a longer term
};

/// A plain word (one slot) or a quoted phrase, whose slots must match at consecutive positions
/// in one field of a document, in order.
struct query_clause {
    std::vector<query_slot> slots;
};

/// Splits `query` into clauses, in query order. Text between two double quotes (", “, ”, „,
/// « or », in any pairing) is a phrase. An unclosed quote is ignored, so the text after it is
/// read as plain words: a half-typed phrase still finds its words. A clause equal to an
/// earlier one is dropped, and so are clauses past max_query_words words. With `prefix_last`,
/// the last plain word is marked as a prefix when nothing follows it in the query, not even a
/// space, because a trailing space means the user finished the word.
std::vector<query_clause> parse_search_query(std::string_view query, bool prefix_last);

}  // namespace tgsearch::detail
