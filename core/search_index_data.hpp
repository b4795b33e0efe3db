#pragma once

// The contents of a built search_index, shared by the build and the query code.

#include "core/document.hpp"
#include "core/postings.hpp"
#include "core/search_documents.hpp"
#include "core/search_index.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tgsearch::detail {

/// Term frequency with a title occurrence counted `title_boost` times.
inline float weighted_tf(std::uint32_t title_tf, std::uint32_t body_tf, float title_boost) {
    return static_cast<float>(body_tf) + title_boost * static_cast<float>(title_tf);
}

/// The term-frequency part of BM25: tf * (k1 + 1) / (tf + length_norm). Build and query both
/// call this, so block maxima bound query scores up to rounding of the idf product.
inline float bm25_saturation(float tf, float length_norm, float k1_plus_one) {
    return tf * k1_plus_one / (tf + length_norm);
}

/// First byte of a span term. A joined term covers several word positions: `e-mail` gives
/// `email` over two. It is indexed at its first position, once as itself and once as the span
/// term of that many positions, so that a phrase can step from it to the word after its parts.
/// Normalized terms never contain this control character, so span terms never match a word,
/// a prefix or a typo correction.
inline constexpr char span_marker = '\x01';

/// Widest span that gets a span term. A phrase can still start or end with a wider joined
/// word, but cannot continue past one.
inline constexpr std::uint32_t max_indexed_span = 8;

/// Writes into `out` the span term of `term` covering `span` positions, 2 to max_indexed_span.
inline void make_span_term(std::string_view term, std::uint32_t span, std::string& out) {
    out.assign(1, span_marker);
    out += static_cast<char>(span);
    out += term;
}

struct index_data {
    bm25_params params;

    // The dictionary keeps terms sorted, so that all terms with a given prefix form one
    // contiguous range of term ids, found by binary search. Exact lookups go through a hash
    // table instead, which touches a few cache lines where a binary search touches dozens.
    std::string term_text;                     ///< every term, concatenated in sorted order
    std::vector<std::uint32_t> term_offsets;   ///< term t is term_text[off[t], off[t + 1])
    std::vector<std::uint32_t> doc_frequency;  ///< documents containing term t
    /// Open addressing with linear probing: 0 marks an empty slot, any other slot contains the
    /// term's hash in its high 32 bits and term id + 1 in its low 32 bits. Built by
    /// build_term_lookup from the dictionary, never stored in an index file.
    std::vector<std::uint64_t> term_lookup;

    // The three arrays below are views, because a loaded index file maps them instead of
    // copying them. They point into the owned_ vectors of a built index.

    /// Every term's posting list record (see postings.hpp), term after term, followed by
    /// posting_stream_padding bytes.
    std::span<const std::uint8_t> posting_stream;
    std::span<const std::uint32_t> posting_offset;  ///< where term t's record starts

    /// k1 * (1 - b + b * length / average_length) for each document: the part of the BM25
    /// denominator that does not depend on the term. A document's length counts its word
    /// positions, with a title word counted title_boost times.
    std::span<const float> length_norm;
    double average_length = 0.0;
    std::size_t document_count = 0;

    std::vector<std::uint8_t> owned_posting_stream;
    std::vector<std::uint32_t> owned_posting_offset;
    std::vector<float> owned_length_norm;

    std::size_t term_count() const { return term_offsets.empty() ? 0 : term_offsets.size() - 1; }

    std::string_view term_at(std::size_t term) const {
        return std::string_view(term_text).substr(term_offsets[term],
                                                  term_offsets[term + 1] - term_offsets[term]);
    }

    /// Returns the id of `term`, or term_count() when the index does not contain it.
    std::size_t find_term(std::string_view term) const;

    /// Fills term_lookup from term_text and term_offsets; call once both are complete.
    void build_term_lookup();

    /// Returns the ids [first, last) of the terms that start with `prefix`.
    std::pair<std::size_t, std::size_t> prefix_range(std::string_view prefix) const;

    /// BM25 inverse document frequency, log(1 + (N - df + 0.5) / (df + 0.5)).
    float idf(std::uint32_t term) const;

    posting_cursor cursor(std::uint32_t term) const {
        return posting_cursor(posting_stream.data(), posting_offset[term], doc_frequency[term]);
    }

    /// Heap bytes held, from capacities: the views count only when they point into owned_.
    std::size_t memory_bytes() const;
};

/// Fills `data` (whose params are set) with the index of `docs`. A corpus of 2048 documents or
/// more is split across up to 8 threads; the result is the same for any thread count. Calls
/// `progress`, when set, as documents are tokenized (see build_progress). Throws
/// std::length_error past 2^32 - 1 documents or 4 GiB of terms or of postings and positions.
void build_index_data(const document_store& docs, index_data& data, const build_progress& progress);

}  // namespace tgsearch::detail
