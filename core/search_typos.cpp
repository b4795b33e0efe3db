#include "core/search_typos.hpp"

#include <algorithm>
#include <numeric>

namespace tgsearch::detail {
namespace {

/// Sets one bit per distinct code point class (the low 6 bits of the code point). An edit
/// removes at most one code point, so a term within d edits of a word lacks at most d of the
/// word's classes and adds at most d of its own. Swaps change neither set. The low bits
/// separate the letters within each of the Latin, Cyrillic and Arabic blocks.
std::uint64_t signature_of(const std::vector<char32_t>& code_points) {
    std::uint64_t signature = 0;
    for (const char32_t cp : code_points) signature |= std::uint64_t{1} << (cp & 63u);
    return signature;
}

}  // namespace

bool decode_code_points(std::string_view text, std::size_t max_code_points,
                        std::vector<char32_t>& out) {
    out.clear();
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t width = 0;
        char32_t cp = 0;
        if (lead < 0x80) {
            width = 1;
            cp = lead;
        } else if ((lead & 0xE0) == 0xC0) {
            width = 2;
            cp = lead & 0x1Fu;
        } else if ((lead & 0xF0) == 0xE0) {
            width = 3;
            cp = lead & 0x0Fu;
        } else if ((lead & 0xF8) == 0xF0) {
            width = 4;
            cp = lead & 0x07u;
        }
        bool valid = width > 0 && i + width <= text.size();
        for (std::size_t k = 1; valid && k < width; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            valid = (next & 0xC0) == 0x80;
            cp = (cp << 6) | (next & 0x3Fu);
        }
        if (!valid) {
            ++i;  // normalized terms are valid UTF-8; this only guards against misuse
            continue;
        }
        if (out.size() == max_code_points) return false;
        out.push_back(cp);
        i += width;
    }
    return true;
}

std::size_t bounded_edit_distance(const std::vector<char32_t>& a, const std::vector<char32_t>& b,
                                  std::size_t limit) {
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    if ((n > m ? n - m : m - n) > limit) return limit + 1;
    // Three rows of the dynamic programme: two before the current one, for swaps.
    thread_local std::vector<std::size_t> rows;
    rows.assign(3 * (m + 1), 0);
    std::size_t* before_previous = rows.data();
    std::size_t* previous = before_previous + (m + 1);
    std::size_t* current = previous + (m + 1);
    std::iota(previous, previous + m + 1, std::size_t{0});
    for (std::size_t i = 1; i <= n; ++i) {
        current[0] = i;
        std::size_t row_min = current[0];
        for (std::size_t j = 1; j <= m; ++j) {
            const std::size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            std::size_t best = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                best = std::min(best, before_previous[j - 2] + 1);
            }
            current[j] = best;
            row_min = std::min(row_min, best);
        }
        // Every later cell descends from a cell of this row, so none can be smaller.
        if (row_min > limit) return limit + 1;
        std::size_t* recycled = before_previous;
        before_previous = previous;
        previous = current;
        current = recycled;
    }
    return std::min(previous[m], limit + 1);
}

typo_table::typo_table(const std::string& term_text,
                       const std::vector<std::uint32_t>& term_offsets) {
    const std::size_t term_count = term_offsets.empty() ? 0 : term_offsets.size() - 1;
    const auto term_at = [&](std::uint32_t term) {
        return std::string_view(term_text).substr(term_offsets[term],
                                                  term_offsets[term + 1] - term_offsets[term]);
    };
    std::vector<std::uint8_t> lengths(term_count, 0);
    std::vector<char32_t> code_points;
    length_start_.assign(max_corrected_code_points + 2, 0);
    for (std::uint32_t term = 0; term < term_count; ++term) {
        if (!decode_code_points(term_at(term), max_corrected_code_points, code_points)) continue;
        lengths[term] = static_cast<std::uint8_t>(code_points.size());
        ++length_start_[code_points.size() + 1];
    }
    std::partial_sum(length_start_.begin(), length_start_.end(), length_start_.begin());
    // Terms too long to correct keep length 0 here and are left out.
    terms_.resize(length_start_.back());
    signatures_.resize(length_start_.back());
    std::vector<std::uint32_t> next(length_start_.begin(), length_start_.end() - 1);
    for (std::uint32_t term = 0; term < term_count; ++term) {
        if (lengths[term] == 0) continue;
        decode_code_points(term_at(term), max_corrected_code_points, code_points);
        const std::uint32_t slot = next[lengths[term]]++;
        terms_[slot] = term;
        signatures_[slot] = signature_of(code_points);
    }
}

std::uint32_t typo_table::correct(std::string_view word, const std::string& term_text,
                                  const std::vector<std::uint32_t>& term_offsets,
                                  const std::vector<std::uint32_t>& doc_frequency) const {
    const auto term_at = [&](std::uint32_t term) {
        return std::string_view(term_text).substr(term_offsets[term],
                                                  term_offsets[term + 1] - term_offsets[term]);
    };
    std::vector<char32_t> query;
    if (terms_.empty() || !decode_code_points(word, max_corrected_code_points, query)) {
        return no_correction;
    }
    const std::size_t length = query.size();
    if (length < min_corrected_code_points) return no_correction;
    const std::size_t max_edits = length >= two_edit_code_points ? 2 : 1;
    const std::uint64_t query_signature = signature_of(query);

    std::uint32_t best = no_correction;
    std::size_t best_edits = max_edits + 1;
    std::vector<char32_t> candidate;
    const std::size_t shortest = length - std::min(length - 1, max_edits);
    const std::size_t longest = std::min(length + max_edits, max_corrected_code_points);
    for (std::size_t candidate_length = shortest; candidate_length <= longest; ++candidate_length) {
        for (std::uint32_t slot = length_start_[candidate_length];
             slot < length_start_[candidate_length + 1]; ++slot) {
            // At most best_edits classes missing and as many added: the two sets differ in
            // at most 2 * best_edits bits. Clearing that many lowest set bits must leave
            // nothing, which avoids a popcount call on CPUs built without the instruction.
            std::uint64_t differing = signatures_[slot] ^ query_signature;
            for (std::size_t k = 0; k < 2 * best_edits && differing != 0; ++k) {
                differing &= differing - 1;
            }
            if (differing != 0) continue;
            const std::uint32_t term = terms_[slot];
            decode_code_points(term_at(term), max_corrected_code_points, candidate);
            const std::size_t edits = bounded_edit_distance(query, candidate, best_edits);
            if (edits > max_edits || edits == 0) continue;
            const bool better = edits < best_edits ||
                                (edits == best_edits &&
                                 (doc_frequency[term] > doc_frequency[best] ||
                                  (doc_frequency[term] == doc_frequency[best] && term < best)));
            if (better) {
                best = term;
                best_edits = edits;
            }
        }
    }
    return best;
}

std::size_t typo_table::memory_bytes() const {
    return terms_.capacity() * sizeof(std::uint32_t) +
           signatures_.capacity() * sizeof(std::uint64_t) +
           length_start_.capacity() * sizeof(std::uint32_t);
}

}  // namespace tgsearch::detail
