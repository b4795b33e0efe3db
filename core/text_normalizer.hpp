#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// A word found in a text: its normalized term and where it sits in the original bytes.
struct token {
    std::string term;       ///< normalized form, the key in the index
    std::size_t begin = 0;  ///< byte offset of the first byte in the original text
    std::size_t end = 0;    ///< byte offset one past the last byte in the original text
    /// Ordinal of the word in the text, counting from 0. Alternative terms for the same word
    /// (see tokenize) share the position of the word they stand for.
    std::uint32_t position = 0;
};

/// Normalizes one word the same way for documents and queries: NFKC case folding, combining
/// marks removed (except the breve of Cyrillic й), Arabic tatweel removed, alef forms unified,
/// alef maqsura to yeh, teh marbuta to heh, Persian kaf and yeh to Arabic, Arabic-Indic and
/// Persian digits to ASCII, Cyrillic ё to е, and the Quranic hamza + alef (ءا) to alef.
/// Zero-width joiners and other format characters are removed. Invalid UTF-8 bytes are dropped.
/// Thread-safe; once a thread's scratch buffers have grown, allocates only the returned string.
std::string normalize_word(std::string_view word);

/// Splits `text` into words and appends one token per word to `out`. A word is a run of
/// letters, digits and combining marks (a zero-width non-joiner inside a word is dropped and
/// joins its halves); every emoji or other symbol character is a token of its own, except that
/// two regional indicators make one flag token; skin-tone modifiers after an emoji and variation
/// selectors are dropped. Punctuation, spaces and invalid UTF-8 bytes
/// separate words. Tokens whose term is empty after normalization are skipped.
///
/// A word written with the Arabic superscript alef U+0670 yields a second token over the same
/// bytes, with the mark read as the letter alef: Quranic ٱلۡعَٰلَمِينَ gives العلمين and
/// العالمين, so the modern spellings العالمين and (for ٱلرَّحۡمَٰنِ) الرحمن both match.
/// Thread-safe.
void tokenize(std::string_view text, std::vector<token>& out);

/// Returns the normalized terms of a query, in order, duplicates kept.
std::vector<std::string> query_terms(std::string_view query);

/// One word of a query with every spelling a document may use for it. A spelling of several
/// terms is a phrase: its terms must stand at consecutive positions in the document. The first
/// spelling is the one the user typed.
struct query_word {
    std::vector<std::vector<std::string>> spellings;
    std::size_t begin = 0;  ///< byte offset of the word in the query
    std::size_t end = 0;    ///< byte offset one past the word in the query
};

/// Splits a query into words, in order, duplicates kept, each with its alternative spellings
/// (for example both readings of a Quranic superscript alef). Quotes are not interpreted here.
std::vector<query_word> parse_query_words(std::string_view query);

}  // namespace tgsearch
