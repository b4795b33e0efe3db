#pragma once

// Matching and scoring one query clause: a word with its spellings, or a quoted phrase.

#include "core/search_accel.hpp"
#include "core/search_evaluate.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tgsearch::detail {

/// Relative margin added to score bounds before comparing them with a real score. Scores are
/// float sums whose rounding differs from the bound arithmetic; 1e-4 is far above the error of
/// summing 64 floats (about 64 * 2^-24, or 4e-6), so pruning never drops a document that an
/// exhaustive evaluation would rank.
inline constexpr double bound_margin = 1e-4;

/// Ranks hits: more matched words first, then higher score, then lower document number.
inline bool better_hit(const search_hit& a, const search_hit& b) {
    if (a.matched_words != b.matched_words) return a.matched_words > b.matched_words;
    if (a.score != b.score) return a.score > b.score;
    return a.doc < b.doc;
}

/// Finds the documents that match one clause, in ascending order, and scores them.
class clause_matcher {
public:
    clause_matcher(const index_data& data, const resolved_clause& clause) : data_(&data) {
        float weight_idf = 0.0f;
        std::string span_text;
        for (const std::vector<term_sequence>& spellings : clause.slots) {
            const std::size_t first_alternative = alternatives_.size();
            float best_spelling_idf = 0.0f;
            for (const term_sequence& spelling : spellings) {
                alternatives_.push_back({terms_.size(), spelling.size()});
                float spelling_idf = 0.0f;
                for (const std::uint32_t term : spelling) {
                    terms_.push_back({lazy_posting_cursor(data, term), data.idf(term), term, 0.0});
                    spelling_idf += terms_.back().idf;
                }
                best_spelling_idf = std::max(best_spelling_idf, spelling_idf);
            }
            if (clause.slots.size() > 1) {
                // In a phrase, a one-term spelling may also stand for a joined word whose
                // parts cover several positions: its span terms mark where such a word ends.
                // They add places to match but no weight.
                for (const term_sequence& spelling : spellings) {
                    if (spelling.size() != 1) continue;
                    for (std::uint32_t span = 2; span <= max_indexed_span; ++span) {
                        make_span_term(data.term_at(spelling.front()), span, span_text);
                        const std::size_t term = data.find_term(span_text);
                        if (term == data.term_count()) continue;
                        const auto id = static_cast<std::uint32_t>(term);
                        alternatives_.push_back({terms_.size(), 1, 0, false, span});
                        terms_.push_back({lazy_posting_cursor(data, id), data.idf(id), id, 0.0});
                    }
                }
            }
            slots_.push_back({first_alternative, alternatives_.size() - first_alternative});
            weight_idf += best_spelling_idf;
        }
        positional_ = slots_.size() > 1 || terms_.size() > alternatives_.size();
        k1_plus_one_ = data.params.k1 + 1.0f;
        if (positional_) {
            weight_idf_ = weight_idf;
            // The saturation tf * (k1 + 1) / (tf + norm) stays below k1 + 1.
            upper_bound_ = static_cast<double>(weight_idf) * k1_plus_one_;
            positions_.resize(terms_.size());
        } else {
            for (term_state& state : terms_) {
                state.bound = static_cast<double>(state.idf) * state.cursor.list_max_saturation();
                upper_bound_ = std::max(upper_bound_, state.bound);
            }
        }
        count_is_exact_ = !positional_ && terms_.size() == 1;
        doc_frequency_estimate_ = estimate_doc_frequency();
        advance(0);
    }

    /// Moves back to the first matching document, as if newly constructed, reusing memory.
    void restart() {
        for (term_state& state : terms_) state.cursor = lazy_posting_cursor(*data_, state.term);
        for (alternative& spelling : alternatives_) spelling.doc_known = false;
        doc_ = no_more_docs;
        advance(0);
    }

    std::uint32_t doc() const { return doc_; }
    std::uint32_t weight() const { return static_cast<std::uint32_t>(slots_.size()); }
    bool positional() const { return positional_; }
    double upper_bound() const { return upper_bound_; }

    /// Moves to the first matching document at or after `target`.
    void advance(std::uint32_t target) {
        if (positional_) {
            advance_phrase(target);
            return;
        }
        if (terms_.size() == 1) {
            terms_.front().cursor.advance(target);
            doc_ = terms_.front().cursor.doc();
            return;
        }
        doc_ = no_more_docs;
        for (term_state& state : terms_) {
            state.cursor.advance(target);
            doc_ = std::min(doc_, state.cursor.doc());
        }
    }

    /// Returns the clause's score in the current document.
    float score() const {
        const float norm = data_->length_norm[doc_];
        if (positional_) return weight_idf_ * bm25_saturation(phrase_tf_, norm, k1_plus_one_);
        float best = 0.0f;
        for (const term_state& state : terms_) {
            if (state.cursor.doc() != doc_) continue;
            const float tf = weighted_tf(state.cursor.title_tf(), state.cursor.body_tf(),
                                         data_->params.title_boost);
            best = std::max(best, state.idf * bm25_saturation(tf, norm, k1_plus_one_));
        }
        return best;
    }

    /// Returns an upper bound of the score in document `target`, from block maxima when the
    /// clause is not a phrase.
    double bound_at(std::uint32_t target) {
        if (positional_) return upper_bound_;
        double bound = 0.0;
        for (term_state& state : terms_) {
            bound = std::max(
                bound, static_cast<double>(state.idf) * state.cursor.block_max_saturation(target));
        }
        return bound;
    }

    /// Returns the last document up to which bound_at(target) holds: the end of the
    /// earliest block, among the clause's terms, that holds a document at or after `target`.
    std::uint32_t block_end(std::uint32_t target) {
        if (positional_) return no_more_docs;
        std::uint32_t end = no_more_docs;
        for (term_state& state : terms_) end = std::min(end, state.cursor.block_last_doc(target));
        return end;
    }

    /// Stops reading the spellings whose score cannot exceed `floor`, the score a document
    /// needs from this clause alone to enter the top. Such a spelling cannot lift a document
    /// into the top, and where it was the best spelling of a document that document stays
    /// out either way, so no hit changes. Returns true when a spelling was dropped.
    bool raise_floor(double floor) {
        if (positional_ || terms_.size() < 2) return false;
        const std::size_t before = terms_.size();
        std::erase_if(terms_, [&](const term_state& state) {
            return state.bound * (1.0 + bound_margin) <= floor;
        });
        if (terms_.size() == before) return false;
        doc_ = no_more_docs;
        for (const term_state& state : terms_) doc_ = std::min(doc_, state.cursor.doc());
        return true;
    }

    /// True when doc_frequency_estimate is the exact number of matching documents.
    bool count_is_exact() const { return count_is_exact_; }

    double doc_frequency_estimate() const { return doc_frequency_estimate_; }

private:
    /// Estimates the matching documents: for a word, as if its spellings occurred
    /// independently; for a phrase, by its rarest word.
    double estimate_doc_frequency() const {
        const auto df = [&](std::uint32_t term) {
            return static_cast<double>(data_->doc_frequency[term]);
        };
        const double n = static_cast<double>(std::max<std::size_t>(data_->document_count, 1));
        if (!positional_) {
            double missing = 1.0;
            for (const term_state& state : terms_) missing *= 1.0 - df(state.term) / n;
            return n * (1.0 - missing);
        }
        double rarest = n;
        for (const slot& current : slots_) {
            double slot_df = 0.0;
            for (std::size_t a = 0; a < current.alternative_count; ++a) {
                const alternative& spelling = alternatives_[current.first_alternative + a];
                double spelling_df = n;
                for (std::size_t t = 0; t < spelling.term_count; ++t) {
                    spelling_df = std::min(spelling_df, df(terms_[spelling.first_term + t].term));
                }
                slot_df = std::max(slot_df, spelling_df);
            }
            rarest = std::min(rarest, slot_df);
        }
        return rarest;
    }

    struct term_state {
        lazy_posting_cursor cursor;
        float idf = 0.0f;
        std::uint32_t term = 0;
        double bound = 0.0;  ///< largest score of the term in any document
    };
    struct alternative {
        std::size_t first_term = 0;
        std::size_t term_count = 0;
        /// Lowest document at or after the last target that contains every term, once known.
        std::uint32_t doc = 0;
        bool doc_known = false;
        /// Positions a match covers: term_count, or for a span term the joined word's span.
        std::uint32_t span = 0;
    };
    struct slot {
        std::size_t first_alternative = 0;
        std::size_t alternative_count = 0;
    };
    /// A place where a slot's spelling, or a run of slots, matches.
    struct span {
        std::uint32_t start = 0;
        std::uint32_t end = 0;  ///< one past the last position
        bool in_title = false;
    };

    /// Returns the first document at or after `target` that holds all terms of `spelling`.
    std::uint32_t next_with_all_terms(alternative& spelling, std::uint32_t target) {
        if (spelling.doc_known && spelling.doc >= target) return spelling.doc;
        std::uint32_t candidate = target;
        for (std::size_t t = 0; t < spelling.term_count;) {
            lazy_posting_cursor& cursor = terms_[spelling.first_term + t].cursor;
            cursor.advance(candidate);
            if (cursor.doc() == no_more_docs) {
                candidate = no_more_docs;
                break;
            }
            if (cursor.doc() > candidate) {
                candidate = cursor.doc();
                t = 0;  // every earlier term must reach the new candidate too
                continue;
            }
            ++t;
        }
        spelling.doc = candidate;
        spelling.doc_known = true;
        return candidate;
    }

    void advance_phrase(std::uint32_t target) {
        std::uint32_t candidate = target;
        while (true) {
            // Find a document where every slot has a spelling with all its terms.
            bool settled = false;
            while (!settled) {
                settled = true;
                for (const slot& current : slots_) {
                    std::uint32_t slot_doc = no_more_docs;
                    for (std::size_t a = 0; a < current.alternative_count; ++a) {
                        slot_doc = std::min(
                            slot_doc, next_with_all_terms(
                                          alternatives_[current.first_alternative + a], candidate));
                    }
                    if (slot_doc == no_more_docs) {
                        doc_ = no_more_docs;
                        return;
                    }
                    if (slot_doc > candidate) {
                        candidate = slot_doc;
                        settled = false;
                    }
                }
            }
            if (match_positions(candidate)) {
                doc_ = candidate;
                return;
            }
            ++candidate;
        }
    }

    /// Appends the places where `spelling`, whose terms are all in `doc`, matches.
    void spelling_spans(const alternative& spelling, std::vector<span>& out) {
        for (std::size_t t = 0; t < spelling.term_count; ++t) {
            terms_[spelling.first_term + t].cursor.read_positions(
                positions_[spelling.first_term + t]);
        }
        const std::vector<std::uint32_t>& first = positions_[spelling.first_term];
        const std::uint32_t title_count = terms_[spelling.first_term].cursor.title_tf();
        const auto length = static_cast<std::uint32_t>(spelling.term_count);
        const std::uint32_t covered = spelling.span != 0 ? spelling.span : length;
        for (std::size_t k = 0; k < first.size(); ++k) {
            const std::uint32_t start = first[k];
            bool found = true;
            for (std::uint32_t t = 1; found && t < length; ++t) {
                const std::vector<std::uint32_t>& next = positions_[spelling.first_term + t];
                found = std::binary_search(next.begin(), next.end(), start + t);
            }
            if (found) out.push_back({start, start + covered, k < title_count});
        }
    }

    /// Removes the one-position pieces that start where a span term's piece starts: both are
    /// the same joined word, which covers all the positions of its parts.
    static void drop_joined_starts(std::vector<span>& pieces) {
        std::vector<std::uint32_t> joined;
        for (const span& piece : pieces) {
            if (piece.end - piece.start > 1) joined.push_back(piece.start);
        }
        std::erase_if(pieces, [&](const span& piece) {
            return piece.end - piece.start == 1 &&
                   std::find(joined.begin(), joined.end(), piece.start) != joined.end();
        });
    }

    /// Counts the phrase's occurrences in `doc` into phrase_tf_; false when there are none.
    bool match_positions(std::uint32_t doc) {
        chain_.clear();
        for (std::size_t s = 0; s < slots_.size(); ++s) {
            slot_spans_.clear();
            std::size_t span_pieces = 0;
            for (std::size_t a = 0; a < slots_[s].alternative_count; ++a) {
                alternative& spelling = alternatives_[slots_[s].first_alternative + a];
                if (spelling.doc_known && spelling.doc == doc) {
                    const std::size_t before = slot_spans_.size();
                    spelling_spans(spelling, slot_spans_);
                    if (spelling.span != 0) span_pieces += slot_spans_.size() - before;
                }
            }
            if (span_pieces > 0) drop_joined_starts(slot_spans_);
            if (s == 0) {
                chain_ = slot_spans_;
            } else {
                // Extend each partial match by a spelling of this slot that starts where it
                // ends. Different spellings may have different lengths, so a match can fork.
                next_chain_.clear();
                for (const span& partial : chain_) {
                    for (const span& piece : slot_spans_) {
                        if (piece.start == partial.end) {
                            next_chain_.push_back({partial.start, piece.end, partial.in_title});
                        }
                    }
                }
                chain_.swap(next_chain_);
            }
            if (chain_.empty()) return false;
        }
        // Count each start once, whatever spellings reached it.
        std::sort(chain_.begin(), chain_.end(),
                  [](const span& a, const span& b) { return a.start < b.start; });
        std::uint32_t title_count = 0;
        std::uint32_t body_count = 0;
        for (std::size_t i = 0; i < chain_.size(); ++i) {
            if (i > 0 && chain_[i].start == chain_[i - 1].start) continue;
            ++(chain_[i].in_title ? title_count : body_count);
        }
        phrase_tf_ = weighted_tf(title_count, body_count, data_->params.title_boost);
        return true;
    }

    const index_data* data_;
    bool positional_ = false;
    bool count_is_exact_ = false;
    double doc_frequency_estimate_ = 0.0;
    float k1_plus_one_ = 0.0f;
    std::vector<term_state> terms_;
    std::vector<alternative> alternatives_;
    std::vector<slot> slots_;
    std::uint32_t doc_ = no_more_docs;
    double upper_bound_ = 0.0;
    float weight_idf_ = 0.0f;  ///< sum(idf) of a phrase
    float phrase_tf_ = 0.0f;   ///< weighted occurrences of the phrase in doc_
    std::vector<std::vector<std::uint32_t>> positions_;  ///< per term, in the current document
    std::vector<span> slot_spans_;
    std::vector<span> chain_;
    std::vector<span> next_chain_;
};

}  // namespace tgsearch::detail
