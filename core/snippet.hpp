#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// Picks the passage of `text` of at most `max_chars` code points that contains the most
/// distinct `query_terms` (normalized, as from `query_terms()`), and returns it as Telegram
/// HTML: every matched word wrapped in <b>…</b>, everything else escaped, "…" added where the
/// passage is cut from a longer text. Never cuts inside a UTF-8 sequence. With no match the
/// passage is the start of the text. Words are found as `tokenize` finds them. A long text is
/// read only up to the first line break at least 262,144 characters past its first match, or
/// 1,048,576 characters when it has none, so a passage past that is never chosen.
/// Thread-safe.
std::string make_snippet_html(std::string_view text, const std::vector<std::string>& query_terms,
                              std::size_t max_chars);

/// Returns make_snippet_html(text, query_terms, n) for each n of `max_chars`, in order, but
/// tokenizes the text only once. Thread-safe.
std::vector<std::string> make_snippets_html(std::string_view text,
                                            const std::vector<std::string>& query_terms,
                                            std::span<const std::size_t> max_chars);

/// A word of a text as snippets place it: a token of `tokenize`, or a part of a joined word.
struct snippet_word {
    std::size_t begin = 0;  ///< byte offsets into the text
    std::size_t end = 0;
    /// Number of the distinct query term that the word matches, counted in query order, or
    /// -1 for none.
    int query_term = -1;

    bool operator==(const snippet_word&) const = default;
};

/// Ways to find the words of a text for a snippet. All of them give the same words.
enum class snippet_word_scan {
    /// Line by line, with lines of pure ASCII split without building terms. Snippets use it.
    ascii_fast_path,
    by_line,     ///< line by line, every line through tokenize
    whole_text,  ///< the whole text through tokenize at once
};

/// Returns the words of the whole `text` that a snippet places, in text order, found with
/// `scan`. Tests use it to check that the scans agree.
std::vector<snippet_word> find_snippet_words(std::string_view text,
                                             const std::vector<std::string>& query_terms,
                                             snippet_word_scan scan);

}  // namespace tgsearch
