#include "core/search_index.hpp"

#include "core/text_normalizer.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <thread>

namespace tgsearch {
namespace {

/// Distinct query terms beyond this many are ignored, which bounds the work one message can
/// cause: each term costs a pass over its postings.
constexpr std::size_t max_query_terms = 64;

/// One document's entry in a term's posting list.
struct posting {
    std::uint32_t doc = 0;
    float tf = 0.0f;  ///< body occurrences + title_boost * title occurrences
};
static_assert(sizeof(posting) == 8, "postings are stored densely, 8 bytes each");

/// Documents below this count are indexed on one thread, where starting threads would cost
/// more than it saves.
constexpr std::size_t parallel_build_min_docs = 2048;

/// Upper bound on build threads; the build reads memory more than it computes.
constexpr unsigned max_build_threads = 8;

/// A posting before the postings are grouped by term.
struct raw_posting {
    std::uint32_t term = 0;  ///< provisional id from a term_table
    std::uint32_t doc = 0;
    float tf = 0.0f;
};

/// Terms met while building, numbered in order of first occurrence. An open-addressing hash
/// table over one text buffer: interning a term already seen allocates nothing.
class term_table {
public:
    term_table() : slots_(1 << 12) { offsets_.push_back(0); }

    std::size_t size() const { return offsets_.size() - 1; }

    std::string_view term(std::uint32_t id) const {
        return std::string_view(text_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
    }

    std::size_t text_bytes() const { return text_.size(); }

    /// Returns the id of `term`, adding it when new; `inserted` is set to true when it was new.
    std::uint32_t intern(std::string_view term, bool& inserted) {
        const std::size_t hash = std::hash<std::string_view>{}(term);
        const auto tag = static_cast<std::uint32_t>(hash >> 32);
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
            slot& current = slots_[i];
            if (current.id_plus_one == 0) {
                const auto id = static_cast<std::uint32_t>(size());
                current = slot{id + 1, tag};
                text_.append(term);
                offsets_.push_back(text_.size());
                inserted = true;
                // Keeping the table at most half full keeps probe runs short.
                if (2 * size() > slots_.size()) grow();
                return id;
            }
            if (current.tag == tag && this->term(current.id_plus_one - 1) == term) {
                inserted = false;
                return current.id_plus_one - 1;
            }
        }
    }

private:
    struct slot {
        std::uint32_t id_plus_one = 0;  ///< 0 marks an empty slot
        std::uint32_t tag = 0;          ///< high hash bits, compared before the text
    };

    void grow() {
        std::vector<slot> larger(slots_.size() * 2);
        const std::size_t mask = larger.size() - 1;
        for (std::uint32_t id = 0; id < size(); ++id) {
            const std::size_t hash = std::hash<std::string_view>{}(term(id));
            std::size_t i = hash & mask;
            while (larger[i].id_plus_one != 0) i = (i + 1) & mask;
            larger[i] = slot{id + 1, static_cast<std::uint32_t>(hash >> 32)};
        }
        slots_ = std::move(larger);
    }

    std::vector<slot> slots_;  ///< size is a power of two
    std::string text_;
    std::vector<std::size_t> offsets_;  ///< term id is text_[offsets_[id], offsets_[id + 1])
};

/// The terms and postings of one contiguous range of documents, built on one thread.
struct partial_index {
    term_table terms;
    std::vector<raw_posting> raw;  ///< ascending by document
};

/// Tokenizes documents [begin, end) into `part`, and writes each one's length, counting a
/// title word `title_boost` times, into `lengths`.
void index_range(const std::vector<document>& docs, std::uint32_t begin, std::uint32_t end,
                 float title_boost, partial_index& part, std::vector<float>& lengths) {
    // For each term: the last document that used it and its slot in that document's counts,
    // so counting a document's terms needs neither sorting nor a map.
    std::vector<std::uint32_t> last_doc;
    std::vector<std::uint32_t> slot_of;
    struct term_counts {
        std::uint32_t term;
        std::uint32_t body;
        std::uint32_t title;
    };
    std::vector<term_counts> counts;
    std::vector<token> tokens;
    part.raw.reserve(static_cast<std::size_t>(end - begin) * 32);

    const auto count_tokens = [&](std::uint32_t doc, bool in_title) {
        for (const token& t : tokens) {
            bool inserted = false;
            const std::uint32_t term = part.terms.intern(t.term, inserted);
            if (inserted) {
                last_doc.push_back(std::numeric_limits<std::uint32_t>::max());
                slot_of.push_back(0);
            }
            if (last_doc[term] != doc) {
                last_doc[term] = doc;
                slot_of[term] = static_cast<std::uint32_t>(counts.size());
                counts.push_back({term, 0, 0});
            }
            term_counts& entry = counts[slot_of[term]];
            ++(in_title ? entry.title : entry.body);
        }
    };

    for (std::uint32_t doc = begin; doc < end; ++doc) {
        counts.clear();
        tokens.clear();
        tokenize(docs[doc].title, tokens);
        const std::size_t title_length = tokens.size();
        count_tokens(doc, true);
        tokens.clear();
        tokenize(docs[doc].text, tokens);
        const std::size_t body_length = tokens.size();
        count_tokens(doc, false);

        for (const term_counts& entry : counts) {
            const float tf =
                static_cast<float>(entry.body) + title_boost * static_cast<float>(entry.title);
            part.raw.push_back({entry.term, doc, tf});
        }
        lengths[doc] =
            static_cast<float>(body_length) + title_boost * static_cast<float>(title_length);
    }
}

/// Indexes `docs` in contiguous ranges, one per thread. Parts come back in document order.
std::vector<partial_index> index_in_parallel(const std::vector<document>& docs, float title_boost,
                                             std::vector<float>& lengths) {
    unsigned thread_count = 1;
    if (docs.size() >= parallel_build_min_docs) {
        thread_count = std::clamp(std::thread::hardware_concurrency(), 1u, max_build_threads);
    }
    std::vector<partial_index> parts(thread_count);
    std::vector<std::exception_ptr> errors(thread_count);
    const auto run = [&](unsigned part) {
        const std::size_t begin = docs.size() * part / thread_count;
        const std::size_t end = docs.size() * (part + 1) / thread_count;
        try {
            index_range(docs, static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end),
                        title_boost, parts[part], lengths);
        } catch (...) {
            errors[part] = std::current_exception();
        }
    };
    std::vector<std::thread> threads;
    for (unsigned part = 1; part < thread_count; ++part) threads.emplace_back(run, part);
    run(0);
    for (std::thread& thread : threads) thread.join();
    for (const std::exception_ptr& error : errors) {
        if (error) std::rethrow_exception(error);
    }
    return parts;
}

/// Per-document score accumulator, reused across queries on one thread.
struct accumulator_slot {
    float score = 0.0f;
    std::uint32_t matched = 0;
};

/// Every slot is zero between queries; a query resets only the slots it touched.
struct accumulator {
    std::vector<accumulator_slot> slots;
    std::vector<std::uint32_t> touched;
};

/// Returns the heap bytes behind `text`, zero when it fits the small-string buffer.
std::size_t string_heap_bytes(const std::string& text) {
    // An empty string's capacity is the size of the inline buffer in libstdc++ and libc++.
    static const std::size_t inline_capacity = std::string().capacity();
    return text.capacity() > inline_capacity ? text.capacity() + 1 : 0;
}

template <typename T>
std::size_t vector_heap_bytes(const std::vector<T>& values) {
    return values.capacity() * sizeof(T);
}

}  // namespace

struct search_index::impl {
    bm25_params params;

    // The dictionary keeps terms sorted, so a term is found by binary search and all terms
    // with a given prefix form one contiguous range of term ids.
    std::string term_text;                       ///< every term, concatenated in sorted order
    std::vector<std::uint32_t> term_offsets;     ///< term t is term_text[off[t], off[t + 1])
    std::vector<std::uint64_t> posting_offsets;  ///< term t owns postings[off[t], off[t + 1])
    std::vector<posting> postings;               ///< per term, ascending by document

    /// k1 * (1 - b + b * length / average_length) for each document: the part of the BM25
    /// denominator that does not depend on the term.
    std::vector<float> length_norm;
    double average_length = 0.0;

    std::size_t term_count() const { return term_offsets.empty() ? 0 : term_offsets.size() - 1; }

    std::string_view term_at(std::size_t term) const {
        return std::string_view(term_text).substr(term_offsets[term],
                                                  term_offsets[term + 1] - term_offsets[term]);
    }

    /// Returns the id of `term`, or term_count() when the index does not contain it.
    std::size_t find_term(std::string_view term) const {
        std::size_t low = 0;
        std::size_t high = term_count();
        while (low < high) {
            const std::size_t middle = low + (high - low) / 2;
            if (term_at(middle) < term) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        return low < term_count() && term_at(low) == term ? low : term_count();
    }

    void build(const std::vector<document>& docs);
};

void search_index::impl::build(const std::vector<document>& docs) {
    if (docs.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("search_index: more than 2^32 - 1 documents");
    }
    std::vector<float> lengths(docs.size());
    std::vector<partial_index> parts = index_in_parallel(docs, params.title_boost, lengths);

    // The first part's table becomes the global one; the others' ids are translated into it.
    term_table& terms = parts.front().terms;
    std::vector<std::vector<std::uint32_t>> global_id(parts.size());
    for (std::size_t part = 1; part < parts.size(); ++part) {
        const term_table& local = parts[part].terms;
        global_id[part].resize(local.size());
        for (std::uint32_t id = 0; id < local.size(); ++id) {
            bool inserted = false;
            global_id[part][id] = terms.intern(local.term(id), inserted);
        }
        parts[part].terms = term_table();
    }

    // Give terms their final ids in sorted order and lay out the dictionary.
    const std::size_t term_total = terms.size();
    if (terms.text_bytes() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("search_index: term dictionary exceeds 4 GiB");
    }
    std::vector<std::uint32_t> final_id(term_total);
    {
        std::vector<std::uint32_t> order(term_total);
        std::iota(order.begin(), order.end(), 0u);
        std::sort(order.begin(), order.end(),
                  [&](std::uint32_t a, std::uint32_t b) { return terms.term(a) < terms.term(b); });
        term_text.reserve(terms.text_bytes());
        term_offsets.reserve(term_total + 1);
        term_offsets.push_back(0);
        for (std::uint32_t rank = 0; rank < term_total; ++rank) {
            final_id[order[rank]] = rank;
            term_text += terms.term(order[rank]);
            term_offsets.push_back(static_cast<std::uint32_t>(term_text.size()));
        }
    }
    terms = term_table();
    for (std::size_t part = 1; part < parts.size(); ++part) {
        for (std::uint32_t& id : global_id[part]) id = final_id[id];
    }
    global_id.front() = std::move(final_id);

    // Group postings by final term id with a counting sort. It is stable and the parts are
    // visited in document order, so each posting list comes out ascending by document.
    posting_offsets.assign(term_total + 1, 0);
    std::size_t posting_total = 0;
    for (std::size_t part = 0; part < parts.size(); ++part) {
        posting_total += parts[part].raw.size();
        for (const raw_posting& entry : parts[part].raw) {
            ++posting_offsets[global_id[part][entry.term] + 1];
        }
    }
    std::partial_sum(posting_offsets.begin(), posting_offsets.end(), posting_offsets.begin());
    postings.resize(posting_total);
    {
        std::vector<std::uint64_t> next(posting_offsets.begin(), posting_offsets.end() - 1);
        for (std::size_t part = 0; part < parts.size(); ++part) {
            for (const raw_posting& entry : parts[part].raw) {
                postings[next[global_id[part][entry.term]]++] = posting{entry.doc, entry.tf};
            }
            parts[part].raw = {};
        }
    }

    // Summed in document order, so the average, and every score, is the same whatever the
    // number of build threads.
    double total_length = 0.0;
    for (const float length : lengths) total_length += length;
    average_length = docs.empty() ? 0.0 : total_length / static_cast<double>(docs.size());
    length_norm.resize(docs.size());
    for (std::size_t doc = 0; doc < docs.size(); ++doc) {
        const double relative = average_length > 0.0 ? lengths[doc] / average_length : 0.0;
        length_norm[doc] = static_cast<float>(params.k1 * (1.0 - params.b + params.b * relative));
    }
}

search_index::search_index() : impl_(std::make_unique<impl>()) {}

search_index::~search_index() = default;

std::shared_ptr<const search_index> search_index::build(std::vector<document> docs,
                                                        bm25_params params) {
    // The constructor is private, so make_shared cannot reach it.
    std::shared_ptr<search_index> index(new search_index());
    index->docs_ = std::move(docs);
    index->impl_->params = params;
    index->impl_->build(index->docs_);
    return index;
}

std::vector<search_hit> search_index::search(std::string_view query, std::size_t limit) const {
    if (limit == 0 || docs_.empty()) return {};

    std::vector<std::string> terms = query_terms(query);
    // Duplicates count once; the first occurrence keeps its place so that scores are summed
    // in the same order for the same query.
    std::vector<std::string> distinct;
    for (std::string& term : terms) {
        if (distinct.size() == max_query_terms) break;
        if (std::find(distinct.begin(), distinct.end(), term) == distinct.end()) {
            distinct.push_back(std::move(term));
        }
    }

    // Everything that can throw happens before the first slot is written, because a slot left
    // dirty by an exception would corrupt this thread's later queries.
    std::vector<search_hit> hits;
    hits.reserve(std::min(limit, docs_.size()));
    thread_local accumulator acc;
    // One thread may serve several indexes (an old one during a reload), so the slots cover
    // the largest seen. They are all zero here.
    if (acc.slots.size() < docs_.size()) acc.slots.resize(docs_.size());
    if (acc.touched.capacity() < docs_.size()) acc.touched.reserve(docs_.size());
    acc.touched.clear();

    const impl& index = *impl_;
    const double doc_total = static_cast<double>(docs_.size());
    const float k1_plus_one = index.params.k1 + 1.0f;
    for (const std::string& term_text : distinct) {
        const std::size_t term = index.find_term(term_text);
        if (term == index.term_count()) continue;
        const std::uint64_t begin = index.posting_offsets[term];
        const std::uint64_t end = index.posting_offsets[term + 1];
        const double df = static_cast<double>(end - begin);
        const auto idf = static_cast<float>(std::log(1.0 + (doc_total - df + 0.5) / (df + 0.5)));
        for (std::uint64_t i = begin; i < end; ++i) {
            const posting& entry = index.postings[i];
            accumulator_slot& slot = acc.slots[entry.doc];
            if (slot.matched == 0) acc.touched.push_back(entry.doc);
            ++slot.matched;
            slot.score += idf * entry.tf * k1_plus_one / (entry.tf + index.length_norm[entry.doc]);
        }
    }

    // Keep the best `limit` hits in a heap whose top is the worst of them, so a query that
    // touches most documents allocates only `limit` hits.
    const auto better = [](const search_hit& a, const search_hit& b) {
        if (a.matched_terms != b.matched_terms) return a.matched_terms > b.matched_terms;
        if (a.score != b.score) return a.score > b.score;
        return a.doc < b.doc;
    };
    for (const std::uint32_t doc : acc.touched) {
        accumulator_slot& slot = acc.slots[doc];
        const search_hit candidate{doc, slot.score, slot.matched};
        slot = accumulator_slot{};
        if (hits.size() < limit) {
            hits.push_back(candidate);
            std::push_heap(hits.begin(), hits.end(), better);
        } else if (better(candidate, hits.front())) {
            std::pop_heap(hits.begin(), hits.end(), better);
            hits.back() = candidate;
            std::push_heap(hits.begin(), hits.end(), better);
        }
    }
    std::sort_heap(hits.begin(), hits.end(), better);
    return hits;
}

std::size_t search_index::term_count() const { return impl_->term_count(); }

std::size_t search_index::memory_bytes() const {
    std::size_t bytes = vector_heap_bytes(docs_);
    for (const document& doc : docs_) {
        bytes += string_heap_bytes(doc.id) + string_heap_bytes(doc.title) +
                 string_heap_bytes(doc.text) + string_heap_bytes(doc.url);
    }
    const impl& index = *impl_;
    bytes += sizeof(impl);
    bytes += index.term_text.capacity();
    bytes += vector_heap_bytes(index.term_offsets);
    bytes += vector_heap_bytes(index.posting_offsets);
    bytes += vector_heap_bytes(index.postings);
    bytes += vector_heap_bytes(index.length_norm);
    return bytes;
}

}  // namespace tgsearch
