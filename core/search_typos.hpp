#pragma once

// Typo correction against an index vocabulary, by edit distance in code points.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch::detail {

/// Words shorter than this many code points are never corrected: within one edit, a one- or
/// two-letter word turns into dozens of unrelated words.
inline constexpr std::size_t min_corrected_code_points = 3;

/// Words of this many code points or more are corrected within 2 edits, shorter ones within 1.
inline constexpr std::size_t two_edit_code_points = 8;

/// Terms longer than this many code points are neither corrected nor offered as corrections,
/// which bounds the edit-distance table.
inline constexpr std::size_t max_corrected_code_points = 48;

/// Decodes UTF-8 into code points, skipping invalid bytes. Returns false when `text` has more
/// than `max_code_points` of them.
bool decode_code_points(std::string_view text, std::size_t max_code_points,
                        std::vector<char32_t>& out);

/// Returns the optimal string alignment distance between `a` and `b` (insertions, deletions,
/// substitutions and swaps of two adjacent code points, each one edit), or `limit + 1` as soon
/// as it is known to exceed `limit`.
std::size_t bounded_edit_distance(const std::vector<char32_t>& a, const std::vector<char32_t>& b,
                                  std::size_t limit);

/// Returned by find_correction when no term is close enough.
inline constexpr std::uint32_t no_correction = 0xFFFFFFFFu;

/// Finds the best correction of `word`, a normalized term that is not in the dictionary where
/// term t is term_text[term_offsets[t], term_offsets[t + 1]) and terms ascend bytewise. The
/// best has the fewest edits (at most 1, or 2 from two_edit_code_points on), then the highest
/// `doc_frequency`, then the lowest term id. Returns its term id, or `no_correction`.
///
/// The sorted dictionary is walked as a trie, each prefix a contiguous range of terms found by
/// binary search, with one row of the edit-distance table per prefix. A prefix whose row
/// exceeds the allowed edits everywhere is left with all its terms, and where the row has no
/// edit to spare, only children that match a query code point are visited. So a lookup
/// visits only the prefixes within reach of the word and needs no table of its own.
std::uint32_t find_correction(std::string_view word, const std::string& term_text,
                              const std::vector<std::uint32_t>& term_offsets,
                              const std::vector<std::uint32_t>& doc_frequency);

}  // namespace tgsearch::detail
