#include "core/search_evaluate.hpp"

#include "core/search_accel.hpp"
#include "core/search_clause.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

namespace tgsearch::detail {
namespace {

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
/// Documents that score below `floor` are left out.
template <typename accept_function>
std::vector<search_hit> rank_term(const index_data& data, std::uint32_t term, std::size_t top_count,
                                  accept_function accept, float floor = -1.0f) {
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
    // The worst top score once the top is full, and until then the floor.
    float worst_score = floor;
    std::uint32_t docs[posting_block_size];
    std::uint32_t title_tfs[posting_block_size];
    std::uint32_t body_tfs[posting_block_size];
    search_hit candidates[posting_block_size];
    for (const auto& [max_saturation, block] : blocks) {
        const double bound = static_cast<double>(idf) * max_saturation;
        if (bound * (1.0 + bound_margin) <= static_cast<double>(worst_score)) break;
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

/// Returns the best `top_count` documents, among those for which `accept(doc)` is true, of
/// one word whose spellings are all single terms (a prefix expanded to the terms it starts,
/// say), scored by their best spelling. A document in the word's top is in the top of the
/// spelling that gives its score, so the union of the spellings' own tops contains the best
/// documents. Spellings go by falling score bound, and once the top is full, those that
/// cannot reach its worst score are skipped.
template <typename accept_function>
std::vector<search_hit> rank_spellings(const index_data& data,
                                       const std::vector<term_sequence>& spellings,
                                       std::size_t top_count, accept_function accept) {
    if (spellings.size() == 1) return rank_term(data, spellings.front().front(), top_count, accept);
    struct spelling_bound {
        double bound = 0.0;
        std::uint32_t term = 0;
    };
    std::vector<spelling_bound> order;
    order.reserve(spellings.size());
    for (const term_sequence& spelling : spellings) {
        const std::uint32_t term = spelling.front();
        const lazy_posting_cursor cursor(data, term);
        order.push_back({static_cast<double>(data.idf(term)) * cursor.list_max_saturation(), term});
    }
    std::sort(order.begin(), order.end(),
              [](const spelling_bound& a, const spelling_bound& b) { return a.bound > b.bound; });

    // Every document found so far with its best score, sorted by document while merging.
    std::vector<search_hit> found;
    std::vector<search_hit> best;
    float floor = -1.0f;
    const auto by_doc_best_first = [](const search_hit& a, const search_hit& b) {
        return a.doc != b.doc ? a.doc < b.doc : a.score > b.score;
    };
    const auto same_doc = [](const search_hit& a, const search_hit& b) { return a.doc == b.doc; };
    for (const spelling_bound& spelling : order) {
        if (spelling.bound * (1.0 + bound_margin) <= static_cast<double>(floor)) break;
        const std::vector<search_hit> hits =
            rank_term(data, spelling.term, top_count, accept, floor);
        found.insert(found.end(), hits.begin(), hits.end());
        std::sort(found.begin(), found.end(), by_doc_best_first);
        found.erase(std::unique(found.begin(), found.end(), same_doc), found.end());
        if (found.size() >= top_count) {
            // A found score is at most the document's final one, so the final top's worst
            // score is at least the worst of the best found.
            best = found;
            const auto worst = best.begin() + static_cast<std::ptrdiff_t>(top_count - 1);
            std::nth_element(best.begin(), worst, best.end(), better_hit);
            floor = worst->score;
        }
    }
    std::sort(found.begin(), found.end(), better_hit);
    if (found.size() > top_count) found.resize(top_count);
    return found;
}

/// Ranks the documents of one word whose spellings are all single terms. The count is
/// exact for one spelling, its document count, and an estimate for several.
evaluation evaluate_spellings(const index_data& data, const std::vector<term_sequence>& spellings,
                              std::size_t top_count) {
    evaluation result;
    result.hits = rank_spellings(data, spellings, top_count, [](std::uint32_t) { return true; });
    if (spellings.size() == 1) {
        result.total_matches = data.doc_frequency[spellings.front().front()];
        return result;
    }
    // As if the spellings occurred independently.
    const double total = static_cast<double>(std::max<std::size_t>(data.document_count, 1));
    double missing = 1.0;
    for (const term_sequence& spelling : spellings) {
        missing *= 1.0 - static_cast<double>(data.doc_frequency[spelling.front()]) / total;
    }
    result.total_matches = std::max(
        result.hits.size(), static_cast<std::size_t>(std::llround(total * (1.0 - missing))));
    result.total_is_estimate = true;
    return result;
}

/// Returns the spellings of a clause that is one word whose spellings are all single terms,
/// or null for any other clause.
const std::vector<term_sequence>* single_term_spellings(const resolved_clause& clause) {
    if (clause.slots.size() != 1) return nullptr;
    const std::vector<term_sequence>& spellings = clause.slots.front();
    const bool single_terms = std::all_of(spellings.begin(), spellings.end(),
                                          [](const term_sequence& s) { return s.size() == 1; });
    return single_terms && !spellings.empty() ? &spellings : nullptr;
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

/// Estimates the documents that match every clause, as if clauses occurred independently,
/// between `seen`, the matching documents actually met, and the rarest clause's estimate.
std::size_t estimate_all_matched(const index_data& data,
                                 const std::vector<clause_matcher>& matchers, std::size_t seen) {
    const double total = static_cast<double>(data.document_count);
    double all = total;
    double rarest = total;
    for (const clause_matcher& matcher : matchers) {
        all *= std::min(1.0, matcher.doc_frequency_estimate() / total);
        rarest = std::min(rarest, matcher.doc_frequency_estimate());
    }
    return std::max(seen, static_cast<std::size_t>(std::llround(std::min(all, rarest))));
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
/// the top. With `matches` not null, nothing is skipped and the documents that match every
/// required clause are counted into it.
std::vector<search_hit> evaluate_conjunction(std::vector<clause_matcher>& matchers,
                                             clause_mask required, clause_mask excluded,
                                             std::size_t top_count,
                                             std::size_t* matches = nullptr) {
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
        const bool pruning = top.full() && matches == nullptr;
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
        if (matches != nullptr) ++*matches;
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
            const std::vector<term_sequence>* spellings = single_term_spellings(clauses[only]);
            if (subset == (clause_mask{1} << only) && spellings != nullptr) {
                // One word alone: rank it block by block, as a one-word query.
                found = rank_spellings(data, *spellings, open_slots, [&](std::uint32_t doc) {
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
                          std::size_t top_count, bool exhaustive, bool match_all) {
    evaluation result;
    const std::size_t n = std::min<std::size_t>(clauses.size(), 64);
    if (n == 0 || top_count == 0) return result;

    if (match_all && n >= 2) {
        std::vector<clause_matcher> conjunction;
        conjunction.reserve(n);
        for (std::size_t c = 0; c < n; ++c) conjunction.emplace_back(data, clauses[c]);
        std::size_t matches = 0;
        result.hits = evaluate_conjunction(conjunction, all_clauses(n), 0, top_count,
                                           exhaustive ? &matches : nullptr);
        if (exhaustive || result.hits.size() < top_count) {
            // Without pruning every match was counted, and a top that is not full contains them
            // all.
            result.total_matches = exhaustive ? matches : result.hits.size();
        } else {
            result.total_matches = estimate_all_matched(data, conjunction, result.hits.size());
            result.total_is_estimate = true;
        }
        return result;
    }

    if (!exhaustive && n == 1) {
        if (const std::vector<term_sequence>* spellings = single_term_spellings(clauses.front())) {
            return evaluate_spellings(data, *spellings, top_count);
        }
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
