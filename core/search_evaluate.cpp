#include "core/search_evaluate.hpp"

#include "core/search_accel.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

namespace tgsearch::detail {
namespace {

/// Relative margin added to score bounds before comparing them with a real score. Scores are
/// float sums whose rounding differs from the bound arithmetic; 1e-4 is far above the error of
/// summing 64 floats (about 64 * 2^-24, or 4e-6), so pruning never drops a document that an
/// exhaustive evaluation would rank.
constexpr double bound_margin = 1e-4;

/// Ranks hits: more matched words first, then higher score, then lower document number.
bool better_hit(const search_hit& a, const search_hit& b) {
    if (a.matched_words != b.matched_words) return a.matched_words > b.matched_words;
    if (a.score != b.score) return a.score > b.score;
    return a.doc < b.doc;
}

/// Finds the documents that match one clause, in ascending order, and scores them.
class clause_matcher {
public:
    clause_matcher(const index_data& data, const resolved_clause& clause) : data_(&data) {
        float weight_idf = 0.0f;
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
        for (std::size_t k = 0; k < first.size(); ++k) {
            const std::uint32_t start = first[k];
            bool found = true;
            for (std::uint32_t t = 1; found && t < length; ++t) {
                const std::vector<std::uint32_t>& next = positions_[spelling.first_term + t];
                found = std::binary_search(next.begin(), next.end(), start + t);
            }
            if (found) out.push_back({start, start + length, k < title_count});
        }
    }

    /// Counts the phrase's occurrences in `doc` into phrase_tf_; false when there are none.
    bool match_positions(std::uint32_t doc) {
        chain_.clear();
        for (std::size_t s = 0; s < slots_.size(); ++s) {
            slot_spans_.clear();
            for (std::size_t a = 0; a < slots_[s].alternative_count; ++a) {
                alternative& spelling = alternatives_[slots_[s].first_alternative + a];
                if (spelling.doc_known && spelling.doc == doc) {
                    spelling_spans(spelling, slot_spans_);
                }
            }
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

/// The best hits seen so far, at most `capacity` of them, in a heap whose front is the worst.
class top_hits {
public:
    explicit top_hits(std::size_t capacity) : capacity_(capacity) { heap_.reserve(capacity); }

    bool full() const { return heap_.size() == capacity_; }
    std::size_t size() const { return heap_.size(); }
    /// The hit a newcomer must beat once full() is true.
    const search_hit& worst() const { return heap_.front(); }

    void offer(const search_hit& hit) {
        if (heap_.size() < capacity_) {
            heap_.push_back(hit);
            std::push_heap(heap_.begin(), heap_.end(), better_hit);
        } else if (better_hit(hit, heap_.front())) {
            std::pop_heap(heap_.begin(), heap_.end(), better_hit);
            heap_.back() = hit;
            std::push_heap(heap_.begin(), heap_.end(), better_hit);
        }
    }

    /// Returns the hits best first and leaves the heap empty.
    std::vector<search_hit> take_sorted() {
        std::sort_heap(heap_.begin(), heap_.end(), better_hit);
        return std::move(heap_);
    }

private:
    std::size_t capacity_;
    std::vector<search_hit> heap_;
};

/// Returns the best `top_count` documents of one term for which `accept(doc)` is true. Blocks
/// are decoded by falling block maximum, so the top fills with high scores first, and once
/// the next block's maximum cannot beat the worst of a full top, neither can any later block.
/// Within a block, the documents that could enter are offered best first, so `accept` is
/// called only for documents that enter the top at that moment, in no particular order.
template <typename accept_function>
std::vector<search_hit> rank_term(const index_data& data, std::uint32_t term, std::size_t top_count,
                                  accept_function accept) {
    const lazy_posting_cursor cursor(data, term);
    const float idf = data.idf(term);
    const float k1_plus_one = data.params.k1 + 1.0f;
    const float title_boost = data.params.title_boost;
    std::vector<std::pair<float, std::uint32_t>> blocks(cursor.block_count());
    for (std::size_t block = 0; block < blocks.size(); ++block) {
        blocks[block] = {cursor.max_saturation_of_block(block), static_cast<std::uint32_t>(block)};
    }
    std::sort(blocks.begin(), blocks.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    top_hits top(top_count);
    // The worst top score once the top is full, and until then -1, below every score.
    float worst_score = -1.0f;
    std::uint32_t docs[posting_block_size];
    std::uint32_t title_tfs[posting_block_size];
    std::uint32_t body_tfs[posting_block_size];
    search_hit candidates[posting_block_size];
    for (const auto& [max_saturation, block] : blocks) {
        if (top.full()) {
            const double bound = static_cast<double>(idf) * max_saturation;
            if (bound * (1.0 + bound_margin) <= static_cast<double>(worst_score)) break;
        }
        const std::size_t entries = cursor.decode_whole_block(block, docs, title_tfs, body_tfs);
        std::size_t candidate_count = 0;
        for (std::size_t i = 0; i < entries; ++i) {
            const float tf = weighted_tf(title_tfs[i], body_tfs[i], title_boost);
            const float score = idf * bm25_saturation(tf, data.length_norm[docs[i]], k1_plus_one);
            if (score >= worst_score) candidates[candidate_count++] = {docs[i], score, 1};
        }
        // Usually only the best top_count candidates are needed, so only those are sorted at
        // first, and the rest only once `accept` has turned enough of them down.
        search_hit* end = candidates + candidate_count;
        search_hit* sorted_end = std::min(end, candidates + top_count);
        std::nth_element(candidates, sorted_end, end, better_hit);
        std::sort(candidates, sorted_end, better_hit);
        for (search_hit* hit = candidates; hit != end; ++hit) {
            if (hit == sorted_end) {
                if (top.full()) {
                    end = std::remove_if(sorted_end, end, [&](const search_hit& other) {
                        return !better_hit(other, top.worst());
                    });
                }
                std::sort(sorted_end, end, better_hit);
                sorted_end = end;
                if (hit == end) break;
            }
            // Blocks come out of document order, so a tie needs the full comparison.
            if (top.full() && !better_hit(*hit, top.worst())) break;
            if (!accept(hit->doc)) continue;
            top.offer(*hit);
            if (top.full()) worst_score = top.worst().score;
        }
    }
    return top.take_sorted();
}

/// Ranks the documents of one term. The count is exact: the term's document count.
evaluation evaluate_single_term(const index_data& data, std::uint32_t term, std::size_t top_count) {
    evaluation result;
    result.hits = rank_term(data, term, top_count, [](std::uint32_t) { return true; });
    result.total_matches = data.doc_frequency[term];
    return result;
}

/// Returns the term of a clause that is one word with one single-term spelling, or
/// no_more_docs for any other clause.
std::uint32_t single_term_of(const resolved_clause& clause) {
    if (clause.slots.size() != 1 || clause.slots.front().size() != 1 ||
        clause.slots.front().front().size() != 1) {
        return no_more_docs;
    }
    return clause.slots.front().front().front();
}

/// Estimates the documents that match at least one clause, as if clauses occurred
/// independently, and never below `seen`, the matching documents actually met.
std::size_t estimate_total(const index_data& data, const std::vector<clause_matcher>& matchers,
                           std::size_t seen) {
    const double total = static_cast<double>(data.document_count);
    double missing = 1.0;
    for (const clause_matcher& matcher : matchers) {
        missing *= 1.0 - std::min(1.0, matcher.doc_frequency_estimate() / total);
    }
    return std::max(seen, static_cast<std::size_t>(std::llround(total * (1.0 - missing))));
}

/// Bit c of a clause mask stands for clauses[c].
using clause_mask = std::uint64_t;

/// Returns the mask of the first `n` (at most 64) clauses.
clause_mask all_clauses(std::size_t n) {
    return n >= 64 ? ~clause_mask{0} : (clause_mask{1} << n) - 1;
}

/// Returns the best `top_count` documents among those that match every clause of `required`
/// (not empty) and none of `excluded`, or all of them when fewer match. `matchers` holds one
/// matcher per clause, all at their first document. The rarest required clause leads and
/// the others jump to its documents. Once the top is full, runs of documents where the block
/// maxima of the required clauses add up to no more than the worst top score are skipped
/// without decoding. Excluded clauses are checked last, only for documents that would enter
/// the top.
std::vector<search_hit> evaluate_conjunction(std::vector<clause_matcher>& matchers,
                                             clause_mask required, clause_mask excluded,
                                             std::size_t top_count) {
    const std::size_t n = matchers.size();
    std::uint32_t words = 0;
    std::size_t order[64];
    std::size_t count = 0;
    std::size_t excluded_order[64];
    std::size_t excluded_count = 0;
    for (std::size_t c = 0; c < n; ++c) {
        if ((required >> c) & 1u) {
            order[count++] = c;
            words += matchers[c].weight();
        } else if ((excluded >> c) & 1u) {
            excluded_order[excluded_count++] = c;
        }
    }
    // Phrases check positions, so they come last, where fewest documents reach them.
    std::stable_sort(order, order + count, [&](std::size_t a, std::size_t b) {
        if (matchers[a].positional() != matchers[b].positional()) {
            return matchers[b].positional();
        }
        return matchers[a].doc_frequency_estimate() < matchers[b].doc_frequency_estimate();
    });
    clause_matcher& lead = matchers[order[0]];

    top_hits top(top_count);
    float clause_scores[64];
    // Block maxima of each clause (in `order`) over the documents up to checked_until, once
    // the top is full. A candidate is dropped as soon as the scores found so far plus the
    // maxima of the clauses still to check cannot beat the worst top score.
    double block_bounds[64];
    double bound_total = 0.0;
    bool bound_checked = false;
    std::uint32_t checked_until = 0;
    // Documents come in ascending order, so a tie with the worst hit loses.
    const auto cannot_enter = [&](double bound) {
        return bound * (1.0 + bound_margin) <= static_cast<double>(top.worst().score);
    };
    // Whether `doc` matches no excluded clause.
    const auto outside_excluded = [&](std::uint32_t doc) {
        for (std::size_t i = 0; i < excluded_count; ++i) {
            clause_matcher& matcher = matchers[excluded_order[i]];
            matcher.advance(doc);
            if (matcher.doc() == doc) return false;
        }
        return true;
    };
    std::uint32_t candidate = lead.doc();
    while (candidate != no_more_docs) {
        const bool pruning = top.full();
        if (pruning && (!bound_checked || candidate > checked_until)) {
            bound_total = 0.0;
            std::uint32_t end = no_more_docs;
            for (std::size_t i = 0; i < count; ++i) {
                block_bounds[i] = matchers[order[i]].bound_at(candidate);
                bound_total += block_bounds[i];
                end = std::min(end, matchers[order[i]].block_end(candidate));
            }
            if (cannot_enter(bound_total)) {
                if (end == no_more_docs) break;
                lead.advance(end + 1);
                candidate = lead.doc();
                continue;
            }
            bound_checked = true;
            checked_until = end;
        }
        double remaining = bound_total;
        double found = 0.0;
        bool dropped = false;
        std::uint32_t next = candidate;
        for (std::size_t i = 0; i < count; ++i) {
            clause_matcher& matcher = matchers[order[i]];
            if (i > 0) {
                matcher.advance(candidate);
                if (matcher.doc() != candidate) {
                    next = matcher.doc();
                    break;
                }
            }
            clause_scores[order[i]] = matcher.score();
            if (pruning) {
                found += clause_scores[order[i]];
                remaining -= block_bounds[i];
                if (cannot_enter(found + remaining)) {
                    dropped = true;
                    break;
                }
            }
        }
        if (next != candidate) {
            if (next == no_more_docs) break;
            lead.advance(next);
            candidate = lead.doc();
            continue;
        }
        if (!dropped) {
            // Summed in query order, as the general evaluation does, so the scores are equal.
            float score = 0.0f;
            for (std::size_t c = 0; c < n; ++c) {
                if ((required >> c) & 1u) score += clause_scores[c];
            }
            const search_hit hit{candidate, score, words};
            if ((!top.full() || better_hit(hit, top.worst())) && outside_excluded(candidate)) {
                top.offer(hit);
            }
        }
        lead.advance(candidate + 1);
        candidate = lead.doc();
    }
    return top.take_sorted();
}

/// Queries of up to this many clauses that fewer than top_count documents match in full are
/// ranked by evaluate_partial_matches, one subset of the clauses at a time: 2^n - 2 subsets.
constexpr std::size_t max_subset_clauses = 4;

/// Appends to `hits` the best documents that match only some of the clauses, up to
/// `top_count` hits in all. `hits` holds every document that matches all clauses, fewer than
/// `top_count`, and `matchers` one matcher per clause (2 to max_subset_clauses of them).
///
/// Documents that match exactly the clauses of a subset S have w(S) matched words, the sum
/// over S, and the score of S. So the subsets are taken by falling w(S): each yields its best
/// documents, as many as slots remain, that match S and no other clause, and a level of
/// equal w(S) that fills the slots ends the search. Each subset skips by block maxima like a
/// full conjunction, which the general evaluation cannot do before its top holds documents
/// of the final matched-words level.
void evaluate_partial_matches(const index_data& data, const std::vector<resolved_clause>& clauses,
                              std::size_t top_count, std::vector<clause_matcher>& matchers,
                              std::vector<search_hit>& hits) {
    const std::size_t n = matchers.size();
    const clause_mask all = all_clauses(n);
    // The proper, non-empty subsets, by falling matched words.
    std::vector<std::pair<std::uint32_t, clause_mask>> subsets;
    for (clause_mask subset = 1; subset < all; ++subset) {
        std::uint32_t words = 0;
        for (std::size_t c = 0; c < n; ++c) {
            if ((subset >> c) & 1u) words += matchers[c].weight();
        }
        subsets.emplace_back(words, subset);
    }
    std::stable_sort(subsets.begin(), subsets.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });

    std::vector<search_hit> level;
    std::vector<search_hit> found;
    for (std::size_t first = 0; first < subsets.size() && hits.size() < top_count;) {
        const std::size_t open_slots = top_count - hits.size();
        std::size_t last = first;
        level.clear();
        for (; last < subsets.size() && subsets[last].first == subsets[first].first; ++last) {
            const clause_mask subset = subsets[last].second;
            for (clause_matcher& matcher : matchers) matcher.restart();
            const auto only = static_cast<std::size_t>(std::countr_zero(subset));
            const std::uint32_t term = single_term_of(clauses[only]);
            if (subset == (clause_mask{1} << only) && term != no_more_docs) {
                // One term alone: rank it block by block, as a one-word query.
                found = rank_term(data, term, open_slots, [&](std::uint32_t doc) {
                    for (std::size_t c = 0; c < n; ++c) {
                        if (c == only) continue;
                        // Matchers only move forward, and the documents come in any order.
                        if (matchers[c].doc() > doc) matchers[c].restart();
                        matchers[c].advance(doc);
                        if (matchers[c].doc() == doc) return false;
                    }
                    return true;
                });
            } else {
                found = evaluate_conjunction(matchers, subset, all & ~subset, open_slots);
            }
            level.insert(level.end(), found.begin(), found.end());
        }
        std::sort(level.begin(), level.end(), better_hit);
        const std::size_t kept = std::min(open_slots, level.size());
        hits.insert(hits.end(), level.begin(), level.begin() + static_cast<std::ptrdiff_t>(kept));
        first = last;
    }
}

}  // namespace

evaluation evaluate_query(const index_data& data, const std::vector<resolved_clause>& clauses,
                          std::size_t top_count, bool exhaustive) {
    evaluation result;
    const std::size_t n = std::min<std::size_t>(clauses.size(), 64);
    if (n == 0 || top_count == 0) return result;

    if (!exhaustive && n == 1 && single_term_of(clauses.front()) != no_more_docs) {
        return evaluate_single_term(data, single_term_of(clauses.front()), top_count);
    }
    if (!exhaustive && n >= 2) {
        std::vector<clause_matcher> conjunction;
        conjunction.reserve(n);
        for (std::size_t c = 0; c < n; ++c) conjunction.emplace_back(data, clauses[c]);
        std::vector<search_hit> hits =
            evaluate_conjunction(conjunction, all_clauses(n), 0, top_count);
        if (hits.size() < top_count && n <= max_subset_clauses) {
            evaluate_partial_matches(data, clauses, top_count, conjunction, hits);
            if (hits.size() < top_count) {
                // Every subset yielded all its documents, so these are all the matches.
                result.total_matches = hits.size();
                result.hits = std::move(hits);
                return result;
            }
        }
        if (hits.size() == top_count) {
            result.total_matches = estimate_total(data, conjunction, hits.size());
            result.total_is_estimate = true;
            result.hits = std::move(hits);
            return result;
        }
        // Fewer documents than requested match every clause, so the general evaluation below
        // finds them again along with the partial matches.
    }

    std::vector<clause_matcher> matchers;
    matchers.reserve(n);
    for (std::size_t c = 0; c < n; ++c) matchers.emplace_back(data, clauses[c]);

    // NOTE: a query of more than max_subset_clauses clauses that fewer than top_count
    // documents match in full still comes here. The matched-words order then allows little
    // pruning, and this document-at-a-time loop costs several times more per posting than a
    // term-at-a-time pass into an accumulator array.
    // MaxScore: clauses sorted by (words, score bound), ascending. A document found only in
    // the first `non_essential` of them cannot enter the top, so only the others are
    // iterated, and the first ones are looked up for the documents found.
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (matchers[a].weight() != matchers[b].weight()) {
            return matchers[a].weight() < matchers[b].weight();
        }
        return matchers[a].upper_bound() < matchers[b].upper_bound();
    });
    std::vector<std::uint32_t> prefix_weight(n + 1, 0);
    std::vector<double> prefix_bound(n + 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        prefix_weight[i + 1] = prefix_weight[i] + matchers[order[i]].weight();
        prefix_bound[i + 1] = prefix_bound[i] + matchers[order[i]].upper_bound();
    }

    std::vector<search_hit> heap;  // the best hits so far; front() is the worst of them
    heap.reserve(top_count);
    // Whether a document with `words` matched words and a score of at most `bound` could
    // enter the top. Documents come in ascending order, so a tie with the worst hit loses.
    const auto can_enter = [&](std::uint32_t words, double bound) {
        if (heap.size() < top_count) return true;
        const search_hit& worst = heap.front();
        if (words != worst.matched_words) return words > worst.matched_words;
        return bound * (1.0 + bound_margin) > static_cast<double>(worst.score);
    };

    bool skipped = false;  // whether some matching documents were never looked at
    // Block-max skipping: returns the first document at or after `doc` whose block maxima
    // could still lift it into the top, and sets checked_until to the last document that this
    // bound covers. No document before `doc` is needed any more, so every clause may look
    // ahead to it.
    std::uint32_t checked_until = 0;
    std::size_t non_essential = 0;
    const auto skip_blocks = [&](std::uint32_t doc) {
        std::uint32_t target = doc;
        while (target != no_more_docs) {
            double bound = 0.0;
            std::uint32_t end = no_more_docs;
            for (std::size_t i = 0; i < n; ++i) {
                bound += matchers[order[i]].bound_at(target);
                end = std::min(end, matchers[order[i]].block_end(target));
            }
            if (can_enter(prefix_weight[n], bound)) {
                checked_until = end;
                break;
            }
            target = end == no_more_docs ? no_more_docs : end + 1;
        }
        return target;
    };
    const double total_bound = prefix_bound[n];
    // Once every top hit matches all words, a document needs all words and a higher score,
    // so each clause must contribute more than the top's worst score minus what the other
    // clauses can add.
    const auto raise_floors = [&] {
        const search_hit& worst = heap.front();
        if (worst.matched_words != prefix_weight[n]) return;
        for (clause_matcher& matcher : matchers) {
            const double others = (total_bound - matcher.upper_bound()) * (1.0 + bound_margin);
            if (matcher.raise_floor(static_cast<double>(worst.score) - others)) skipped = true;
        }
    };

    float clause_scores[64];
    std::size_t counted = 0;
    while (true) {
        if (!exhaustive) {
            while (non_essential < n &&
                   !can_enter(prefix_weight[non_essential + 1], prefix_bound[non_essential + 1])) {
                ++non_essential;
            }
        }
        if (non_essential > 0) skipped = true;
        if (non_essential == n) break;

        std::uint32_t doc = no_more_docs;
        for (std::size_t i = non_essential; i < n; ++i) {
            doc = std::min(doc, matchers[order[i]].doc());
        }
        if (doc == no_more_docs) break;
        if (!exhaustive && doc > checked_until) {
            const std::uint32_t target = skip_blocks(doc);
            if (target != doc) {
                skipped = true;
                for (std::size_t i = non_essential; i < n; ++i) matchers[order[i]].advance(target);
                continue;
            }
        }
        ++counted;

        std::uint64_t present = 0;
        std::uint32_t words = 0;
        double bound = 0.0;
        for (std::size_t i = non_essential; i < n; ++i) {
            clause_matcher& matcher = matchers[order[i]];
            if (matcher.doc() != doc) continue;
            clause_scores[order[i]] = matcher.score();
            present |= std::uint64_t{1} << order[i];
            words += matcher.weight();
            bound += clause_scores[order[i]];
        }
        bool pruned = false;
        for (std::size_t i = non_essential; i-- > 0;) {
            clause_matcher& matcher = matchers[order[i]];
            if (!can_enter(words + prefix_weight[i + 1],
                           bound + prefix_bound[i] + matcher.bound_at(doc))) {
                pruned = true;
                break;
            }
            matcher.advance(doc);
            if (matcher.doc() != doc) continue;
            clause_scores[order[i]] = matcher.score();
            present |= std::uint64_t{1} << order[i];
            words += matcher.weight();
            bound += clause_scores[order[i]];
        }
        if (!pruned) {
            // Sum in query order, so the score does not depend on which clauses were
            // essential when this document was found.
            float score = 0.0f;
            for (std::size_t c = 0; c < n; ++c) {
                if ((present >> c) & 1u) score += clause_scores[c];
            }
            const search_hit hit{doc, score, words};
            if (heap.size() < top_count) {
                heap.push_back(hit);
                std::push_heap(heap.begin(), heap.end(), better_hit);
            } else if (better_hit(hit, heap.front())) {
                std::pop_heap(heap.begin(), heap.end(), better_hit);
                heap.back() = hit;
                std::push_heap(heap.begin(), heap.end(), better_hit);
            }
            if (!exhaustive && heap.size() == top_count) raise_floors();
        }
        for (std::size_t i = non_essential; i < n; ++i) {
            clause_matcher& matcher = matchers[order[i]];
            if (matcher.doc() == doc) matcher.advance(doc + 1);
        }
    }
    std::sort_heap(heap.begin(), heap.end(), better_hit);
    result.hits = std::move(heap);

    if (!skipped) {
        result.total_matches = counted;
    } else if (n == 1 && matchers.front().count_is_exact()) {
        result.total_matches =
            static_cast<std::size_t>(std::llround(matchers.front().doc_frequency_estimate()));
    } else {
        result.total_matches = estimate_total(data, matchers, counted);
        result.total_is_estimate = true;
    }
    return result;
}

}  // namespace tgsearch::detail
