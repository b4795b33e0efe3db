#include "core/search_typos.hpp"

#include "core/search_index_data.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

namespace tgsearch::detail {
namespace {

/// Decodes the code point at text[pos] into `cp` and returns its byte length, or 0 for an
/// invalid sequence.
std::size_t decode_one(std::string_view text, std::size_t pos, char32_t& cp) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    std::size_t width = 0;
    if (lead < 0x80) {
        cp = lead;
        return 1;
    }
    if ((lead & 0xE0) == 0xC0) {
        width = 2;
        cp = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
        width = 3;
        cp = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
        width = 4;
        cp = lead & 0x07u;
    } else {
        return 0;
    }
    if (pos + width > text.size()) return 0;
    for (std::size_t k = 1; k < width; ++k) {
        const auto next = static_cast<unsigned char>(text[pos + k]);
        if ((next & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (next & 0x3Fu);
    }
    return width;
}

}  // namespace

bool decode_code_points(std::string_view text, std::size_t max_code_points,
                        std::vector<char32_t>& out) {
    out.clear();
    std::size_t i = 0;
    while (i < text.size()) {
        char32_t cp = 0;
        const std::size_t width = decode_one(text, i, cp);
        if (width == 0) {
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

namespace {

/// Appends the UTF-8 encoding of `cp` to `out`.
void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

/// A depth-first walk of the sorted dictionary as a trie, computing one row of the
/// edit-distance table per trie node. Row i contains the distances between the node's prefix
/// (i code points) and every prefix of the query.
class correction_search {
public:
    correction_search(const std::vector<char32_t>& query, std::size_t max_edits,
                      const std::string& term_text, const std::vector<std::uint32_t>& term_offsets,
                      const std::vector<std::uint32_t>& doc_frequency)
        : query_(query),
          max_edits_(max_edits),
          columns_(query.size() + 1),
          term_text_(term_text),
          term_offsets_(term_offsets),
          doc_frequency_(doc_frequency) {
        // A row more than max_edits past the query's length has every cell above max_edits.
        max_depth_ = query.size() + max_edits + 1;
        rows_.resize((max_depth_ + 1) * columns_);
        for (std::size_t j = 0; j < columns_; ++j) rows_[j] = static_cast<std::uint8_t>(j);
    }

    std::uint32_t run() {
        const std::size_t term_count = term_offsets_.empty() ? 0 : term_offsets_.size() - 1;
        visit_children(0, term_count);
        return best_;
    }

private:
    std::size_t allowed() const { return std::min(best_edits_, max_edits_); }

    std::string_view term_at(std::size_t term) const {
        return std::string_view(term_text_)
            .substr(term_offsets_[term], term_offsets_[term + 1] - term_offsets_[term]);
    }

    /// Returns the first term in [low, high) that does not start with `prefix`. Every term of
    /// [low, high) that does comes before every one that does not.
    std::size_t end_of_prefix(std::size_t low, std::size_t high, std::string_view prefix) const {
        // Gallop first: most children of a node hold few terms.
        std::size_t step = 1;
        while (low + step < high && term_at(low + step).starts_with(prefix)) {
            low += step;
            step *= 2;
        }
        high = std::min(high, low + step);
        ++low;  // term_at(low) starts with the prefix
        while (low < high) {
            const std::size_t middle = low + (high - low) / 2;
            if (term_at(middle).starts_with(prefix)) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        return low;
    }

    /// Visits the children of the node at depth path_.size(), whose terms are [low, high).
    void visit_children(std::size_t low, std::size_t high) {
        const std::size_t depth = path_.size();
        const std::uint8_t* row = &rows_[depth * columns_];
        std::uint8_t row_min = row[0];
        for (std::size_t j = 1; j < columns_; ++j) row_min = std::min(row_min, row[j]);
        // A child's row can stay within the allowed edits only through a cell that matches
        // the child's code point with a query code point. The exceptions are a row with room
        // for one more edit and a child whose first cell (depth + 1 deletions) is in reach.
        const bool any_child = row_min < allowed() || depth + 1 <= allowed();
        if (any_child) {
            std::size_t term = low;
            // The node's own term, equal to the prefix, sorts first and has no child.
            if (term < high && term_at(term).size() == prefix_.size()) ++term;
            while (term < high) {
                char32_t cp = 0;
                const std::string_view text = term_at(term);
                const std::size_t width = decode_one(text, prefix_.size(), cp);
                if (width == 0) {
                    // Normalized terms are valid UTF-8, so this only skips damaged input.
                    term = end_of_prefix(term, high, text.substr(0, prefix_.size() + 1));
                    continue;
                }
                const std::size_t end =
                    end_of_prefix(term, high, text.substr(0, prefix_.size() + width));
                visit_child(cp, term, end);
                term = end;
            }
            return;
        }

        // Only code points that match the query where the row is within the allowed edits
        // can keep a child's row within them: directly, or as the first of a swapped pair.
        char32_t candidates[2 * max_corrected_code_points + 2];
        std::size_t candidate_count = 0;
        for (std::size_t j = 1; j < columns_; ++j) {
            if (row[j - 1] <= allowed()) candidates[candidate_count++] = query_[j - 1];
            if (depth > 0 && j > 1 && path_[depth - 1] == query_[j - 1] &&
                rows_[(depth - 1) * columns_ + j - 2] + 1u <= allowed()) {
                candidates[candidate_count++] = query_[j - 2];
            }
        }
        std::sort(candidates, candidates + candidate_count);
        const std::size_t unique = static_cast<std::size_t>(
            std::unique(candidates, candidates + candidate_count) - candidates);
        std::string child_prefix;
        for (std::size_t k = 0; k < unique; ++k) {
            child_prefix = prefix_;
            append_utf8(child_prefix, candidates[k]);
            // The first term not below the child's prefix.
            std::size_t first = low;
            std::size_t last = high;
            while (first < last) {
                const std::size_t middle = first + (last - first) / 2;
                if (term_at(middle) < child_prefix) {
                    first = middle + 1;
                } else {
                    last = middle;
                }
            }
            if (first == high || !term_at(first).starts_with(child_prefix)) continue;
            visit_child(candidates[k], first, end_of_prefix(first, high, child_prefix));
            low = first;
        }
    }

    /// Extends the path by `cp`, whose terms are [low, high), and visits that node.
    void visit_child(char32_t cp, std::size_t low, std::size_t high) {
        const std::size_t i = path_.size() + 1;
        if (i > max_depth_) return;
        const std::uint8_t* previous = &rows_[(i - 1) * columns_];
        std::uint8_t* current = &rows_[i * columns_];
        current[0] = static_cast<std::uint8_t>(std::min<std::size_t>(i, 255));
        std::uint8_t row_min = current[0];
        for (std::size_t j = 1; j < columns_; ++j) {
            const int substitution = previous[j - 1] + (cp == query_[j - 1] ? 0 : 1);
            int cell = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
            if (i > 1 && j > 1 && cp == query_[j - 2] && path_[i - 2] == query_[j - 1]) {
                cell = std::min(cell, rows_[(i - 2) * columns_ + j - 2] + 1);
            }
            current[j] = static_cast<std::uint8_t>(std::min(cell, 255));
            row_min = std::min(row_min, current[j]);
        }
        // No cell of a later row is below this row's minimum: each descends from a cell of
        // this row, or, for a swap, from one no smaller than a cell of this row. So when
        // the minimum exceeds the allowed edits, no term with this prefix can be close.
        if (row_min > allowed()) return;

        const std::size_t prefix_size = prefix_.size();
        append_utf8(prefix_, cp);
        path_.push_back(cp);
        if (term_at(low).size() == prefix_.size()) consider(low, current[columns_ - 1], i);
        visit_children(low, high);
        path_.pop_back();
        prefix_.resize(prefix_size);
    }

    void consider(std::size_t term, std::size_t edits, std::size_t length) {
        if (edits == 0 || edits > allowed() || length > max_corrected_code_points) return;
        if (term_at(term).starts_with(span_marker)) return;
        const auto id = static_cast<std::uint32_t>(term);
        const bool better = best_ == no_correction || edits < best_edits_ ||
                            doc_frequency_[id] > doc_frequency_[best_] ||
                            (doc_frequency_[id] == doc_frequency_[best_] && id < best_);
        if (better) {
            best_ = id;
            best_edits_ = edits;
        }
    }

    const std::vector<char32_t>& query_;
    std::size_t max_edits_;
    std::size_t columns_;
    std::size_t max_depth_ = 0;
    const std::string& term_text_;
    const std::vector<std::uint32_t>& term_offsets_;
    const std::vector<std::uint32_t>& doc_frequency_;
    std::vector<std::uint8_t> rows_;
    std::vector<char32_t> path_;
    std::string prefix_;
    std::uint32_t best_ = no_correction;
    std::size_t best_edits_ = std::numeric_limits<std::size_t>::max();
};

}  // namespace

std::uint32_t find_correction(std::string_view word, const std::string& term_text,
                              const std::vector<std::uint32_t>& term_offsets,
                              const std::vector<std::uint32_t>& doc_frequency) {
    std::vector<char32_t> query;
    if (!decode_code_points(word, max_corrected_code_points, query)) return no_correction;
    if (query.size() < min_corrected_code_points) return no_correction;
    const std::size_t max_edits = query.size() >= two_edit_code_points ? 2 : 1;
    return correction_search(query, max_edits, term_text, term_offsets, doc_frequency).run();
}

}  // namespace tgsearch::detail
