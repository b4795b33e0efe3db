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
    /// Number of consecutive positions the term stands for: 1 for a word, n for the joined
    /// form of n parts (`e-mail` gives `email` with span 2 beside `e` and `mail`). The word
    /// after a joined term is at `position + span`.
    std::uint32_t span = 1;
};

/// Normalizes one word the same way for documents and queries. The steps:
/// - NFKC case folding, and combining marks removed except the breve of Cyrillic й and ў and
///   the diaeresis of Ukrainian ї. Cyrillic ё becomes е.
/// - Latin letters without a decomposition spelled the way an ASCII keyboard types them: æ ae,
///   œ oe, ø o, ł l, đ d, ð d, þ th, ħ h, ŧ t, and the Turkish dotless ı as i. So the Turkish
///   İ, I, ı and i all fold to i.
/// - Arabic tatweel removed, alef forms unified, alef maqsura to yeh, and teh marbuta and
///   Persian ae (ە, the base of ۀ) to heh. Persian kaf and yeh become the Arabic letters, and
///   the Quranic hamza + alef (ءا) becomes alef.
/// - Arabic-Indic and Persian digits to ASCII. The Arabic decimal separator becomes `.`, and
///   the Arabic thousands separator is removed.
/// - Zero-width joiners and other format characters removed, and invalid UTF-8 bytes dropped.
/// Thread-safe. Once a thread's scratch buffers have grown, allocates only the returned string.
std::string normalize_word(std::string_view word);

/// Splits `text` into words and appends their tokens to `out`, in text order. Positions count
/// words from 0. A word is a run of letters, digits and combining marks. Spaces, punctuation
/// and invalid UTF-8 bytes separate words, with these exceptions:
///
/// - Part breaks. Between two letters or digits, some characters split a word into parts. They
///   are the ZWNJ (U+200C, which Persian writes between a stem and its affixes), the
///   apostrophes ' ’ ʼ, the hyphens - ‐ ‑, `_`, `@`, and `.` unless both neighbors are
///   digits. So do `,` and the Arabic thousands separator ٬ between two digits, and the Hebrew
///   geresh ׳ and gershayim ״ (also typed as ' and "). Each part is a token at a position of
///   its own. The joined term (`e-mail` gives `email`) is an extra token at the first part's
///   position, with `span` set to the number of parts. After 16 parts the word ends and the
///   rest starts a new word.
/// - A `.` or the Arabic decimal separator ٫ between two digits stays in the term: `3.14`.
/// - A word followed by `++` or `#` and then by no letter or digit keeps them: `c++`, `c#`.
/// - A `#`, `@` or `.` that starts a word after a space, an opening bracket or quote, `/` or
///   `~` stays in the term (`#hashtag`, `@username`, `.net`), and the bare word is an
///   alternative at the same position.
/// - Other invisible format characters (zero-width joiner, soft hyphen, word joiner, bidi
///   marks) between two letters are dropped and the word continues.
/// - A Persian affix written as a separate word after a space also yields the joined term:
///   "می خواهم" gives می, میخواهم (span 2) and خواهم. The affixes are the prefixes می نمی بی
///   and the suffixes ها های هایی ای ی ام اش ایم اید اند تر ترین, and the stem needs 2 letters
///   or more. A word written without a space is never split, because splitting at a prefix
///   would also cut unrelated words: بیمار (sick) is not بی + مار (snake).
///
/// Every emoji or other symbol character is a token of its own. Two regional indicators make
/// one flag token, and an emoji ZWJ sequence (the family 👨 ZWJ 👩 ZWJ 👧) or tag sequence is
/// one token whose term keeps the joiners. Skin-tone modifiers and variation selectors are
/// dropped, so 👍🏽 is 👍. Tokens whose term is empty after normalization are skipped.
///
/// A word written with the Arabic superscript alef U+0670 yields a second token over the same
/// bytes, with the mark read as the letter alef: Quranic ٱلۡعَٰلَمِينَ gives العلمين and
/// العالمين, so the modern spellings العالمين and (for ٱلرَّحۡمَٰنِ) الرحمن both match.
///
/// Tokens are in position order, and the tokens of one position share the `begin` of the
/// first of them. That first token is the word as written: the joined term for a word with
/// part breaks, and the first word for words joined across a space. Thread-safe.
void tokenize(std::string_view text, std::vector<token>& out);

/// Returns the normalized terms of a query, in order, duplicates and alternatives kept.
std::vector<std::string> query_terms(std::string_view query);

/// One word of a query with every spelling a document may use for it. A spelling of several
/// terms is a phrase: its terms must stand at consecutive positions in the document. The first
/// spelling is the one the user typed.
struct query_word {
    std::vector<std::vector<std::string>> spellings;
    std::size_t begin = 0;  ///< byte offset of the word in the query
    std::size_t end = 0;    ///< byte offset one past the word in the query
};

/// Splits a query into words, in order, duplicates kept, each with its alternative spellings.
/// Tokens joined by a term with a span above 1 form one word: `e-mail` gives the spellings
/// [email] and [e, mail], and "می خواهم" gives [می, خواهم] and [میخواهم]. The spellings are
/// every way to cover the word's positions with its tokens, at most 16, the way the query was
/// typed first. Quotes are not interpreted here.
std::vector<query_word> parse_query_words(std::string_view query);

}  // namespace tgsearch
