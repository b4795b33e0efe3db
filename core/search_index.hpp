#pragma once

#include "core/document.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// BM25 parameters. `title_boost` weighs a title occurrence of a word as that many body ones.
struct bm25_params {
    float k1 = 1.2f;
    float b = 0.75f;
    float title_boost = 3.0f;
};

/// One ranked result of a query.
struct search_hit {
    std::uint32_t doc = 0;            ///< index into the corpus, see search_index::document_at
    float score = 0.0f;               ///< BM25 score summed over the matched query terms
    std::uint32_t matched_terms = 0;  ///< how many distinct query terms the document contains
};

/// An immutable in-memory inverted index with BM25 ranking.
///
/// Built once, then shared read-only by all search workers: every const member function is
/// safe to call from several threads at once. Results depend only on the index and the query,
/// never on which thread runs it.
class search_index {
public:
    /// Builds the index over `docs`, taking ownership of them. Titles and texts are tokenized
    /// with `tokenize`; a title word counts `params.title_boost` times. A corpus of 2048
    /// documents or more is split across up to 8 threads (no more than the hardware has); the
    /// index comes out the same for any thread count. Throws std::bad_alloc when memory runs
    /// out and std::length_error past 2^32 - 1 documents or 4 GiB of distinct terms.
    static std::shared_ptr<const search_index> build(std::vector<document> docs,
                                                     bm25_params params = {});

    /// Returns up to `limit` documents for `query`, best first. Documents that contain more
    /// distinct query terms rank above those with fewer; ties break by BM25 score, then by
    /// lower document number. An empty or all-punctuation query returns nothing. A repeated
    /// word counts once, and words past the 64th distinct one are ignored. Each thread keeps a
    /// score buffer of one slot per document, so apart from the query's own terms a call
    /// allocates in proportion to `limit`.
    std::vector<search_hit> search(std::string_view query, std::size_t limit) const;

    const document& document_at(std::uint32_t doc) const { return docs_[doc]; }
    std::size_t document_count() const { return docs_.size(); }
    std::size_t term_count() const;

    /// Estimates the heap bytes held by the index and its documents from string and vector
    /// capacities. Excludes the per-thread score buffers (8 bytes per document per thread that
    /// has searched) and allocator overhead.
    std::size_t memory_bytes() const;

    search_index(const search_index&) = delete;
    search_index& operator=(const search_index&) = delete;
    ~search_index();

private:
    search_index();
    struct impl;
    std::vector<document> docs_;
    std::unique_ptr<impl> impl_;
};

}  // namespace tgsearch
