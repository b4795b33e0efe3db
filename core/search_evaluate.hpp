#pragma once

// Top-k evaluation of a resolved query with MaxScore dynamic pruning.

#include "core/search_index.hpp"
#include "core/search_index_data.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tgsearch::detail {

/// Term ids at consecutive positions: one spelling of a word.
using term_sequence = std::vector<std::uint32_t>;

/// A query clause with its terms looked up: for each word (slot) the spellings that exist in
/// the index. A clause of one slot whose spellings are single terms is scored as the best of
/// those terms' BM25 scores. Any other clause is a phrase, scored as
/// sum(idf) * tf * (k1 + 1) / (tf + length_norm) where tf counts the phrase's occurrences
/// (title ones title_boost times) and sum(idf) adds, per slot, the largest sum of idf over
/// that slot's spellings.
struct resolved_clause {
    std::vector<std::vector<term_sequence>> slots;
};

/// The top hits of a query and the number of documents it matches.
struct evaluation {
    std::vector<search_hit> hits;  ///< best first
    std::size_t total_matches = 0;
    bool total_is_estimate = false;
};

/// Returns the best `top_count` documents by (matched words, score, document number) over
/// `clauses`, at most 64 of them, or with `match_all` only among the documents that match every
/// clause. Unless `exhaustive`, documents that cannot enter the top are skipped (MaxScore);
/// the hits are the same either way.
evaluation evaluate_query(const index_data& data, const std::vector<resolved_clause>& clauses,
                          std::size_t top_count, bool exhaustive, bool match_all = false);

}  // namespace tgsearch::detail
