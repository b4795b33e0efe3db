#include "core/search_index.hpp"

#include "core/search_evaluate.hpp"
#include "core/search_index_data.hpp"
#include "core/search_index_impl.hpp"
#include "core/search_query.hpp"
#include "core/search_typos.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <utility>

namespace tgsearch {
namespace {

/// How many terms a prefix expands to at most: the most frequent ones. A one-letter prefix
/// matches thousands of terms, and each expanded term costs a cursor over its postings.
constexpr std::size_t max_prefix_terms = 64;

/// Upper bound on offset + limit, which bounds the hits a query keeps in memory.
constexpr std::size_t max_ranked_hits = 10'000;

/// Appends to `out` the ids of the terms that start with `prefix`: all of them when there are
/// at most max_prefix_terms, otherwise those in the most documents (ties to the lower id),
/// and `prefix` itself when it is a term. Costs a scan of every term with the prefix.
void expand_prefix(const detail::index_data& data, std::string_view prefix,
                   std::vector<std::uint32_t>& out) {
    const auto [first, last] = data.prefix_range(prefix);
    std::vector<std::uint32_t> terms(last - first);
    for (std::size_t i = 0; i < terms.size(); ++i) {
        terms[i] = static_cast<std::uint32_t>(first + i);
    }
    if (terms.size() > max_prefix_terms) {
        std::nth_element(terms.begin(), terms.begin() + max_prefix_terms - 1, terms.end(),
                         [&](std::uint32_t a, std::uint32_t b) {
                             const std::uint32_t df_a = data.doc_frequency[a];
                             const std::uint32_t df_b = data.doc_frequency[b];
                             return df_a != df_b ? df_a > df_b : a < b;
                         });
        terms.resize(max_prefix_terms);
        std::sort(terms.begin(), terms.end());
        // Every term with the prefix sorts at or after the prefix itself, so the exact term,
        // when it exists, is `first`.
        if (first < last && data.term_at(first) == prefix && terms.front() != first) {
            terms.insert(terms.begin(), static_cast<std::uint32_t>(first));
        }
    }
    out.insert(out.end(), terms.begin(), terms.end());
}

/// A parsed query with its terms looked up, and the corrections made on the way.
struct resolved_query {
    std::vector<detail::resolved_clause> clauses;
    std::vector<search_correction> corrections;
    bool unmatched_clause = false;  ///< some word or phrase matches no document
};

/// Shortest word, in code points, that is completed to the terms it starts when it matches
/// nothing: shorter ones start too many unrelated terms.
constexpr std::size_t min_completed_code_points = 4;

std::size_t code_points(std::string_view text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

/// True when `text` has an ASCII digit: numbers, versions and addresses are looked up as
/// written, because a close number (192.168.1.10 for 192.168.1.1) is a different one.
bool has_digit(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Looks up the spellings of one word. Returns none when no spelling, prefix expansion,
/// completion or correction exists in the index.
std::vector<detail::term_sequence> resolve_slot(const detail::index_data& data,
                                                std::string_view query,
                                                const detail::query_slot& slot, bool correct_typos,
                                                std::vector<search_correction>& corrections) {
    std::vector<detail::term_sequence> spellings;
    const auto add = [&](detail::term_sequence terms) {
        if (std::find(spellings.begin(), spellings.end(), terms) == spellings.end()) {
            spellings.push_back(std::move(terms));
        }
    };
    for (const std::vector<std::string>& spelling : slot.spellings) {
        detail::term_sequence terms;
        for (const std::string& text : spelling) {
            const std::size_t term = data.find_term(text);
            if (term == data.term_count()) break;
            terms.push_back(static_cast<std::uint32_t>(term));
        }
        if (!terms.empty() && terms.size() == spelling.size()) add(std::move(terms));
    }
    if (slot.prefix) {
        std::vector<std::uint32_t> expanded;
        for (const std::vector<std::string>& spelling : slot.spellings) {
            if (spelling.size() == 1) expand_prefix(data, spelling.front(), expanded);
        }
        for (const std::uint32_t term : expanded) add({term});
    }
    const bool correctable = !slot.spellings.empty() && slot.spellings.front().size() == 1 &&
                             !has_digit(slot.spellings.front().front());
    if (spellings.empty() && correct_typos && correctable && !slot.prefix &&
        code_points(slot.spellings.front().front()) >= min_completed_code_points) {
        // A word that matches nothing may be the start of a longer one (`postgr`), which is
        // a better guess than a correction of it (`poster`).
        std::vector<std::uint32_t> expanded;
        expand_prefix(data, slot.spellings.front().front(), expanded);
        for (const std::uint32_t term : expanded) add({term});
    }
    if (spellings.empty() && correct_typos && correctable) {
        const std::uint32_t term = detail::find_correction(
            slot.spellings.front().front(), data.term_text, data.term_offsets, data.doc_frequency);
        if (term != detail::no_correction) {
            add({term});
            corrections.push_back({std::string(query.substr(slot.begin, slot.end - slot.begin)),
                                   std::string(data.term_at(term)), slot.begin, slot.end});
        }
    }
    return spellings;
}

resolved_query resolve_query(const detail::index_data& data, std::string_view query,
                             const search_options& options) {
    resolved_query resolved;
    for (const detail::query_clause& clause :
         detail::parse_search_query(query, options.prefix_last)) {
        detail::resolved_clause result;
        std::vector<search_correction> corrections;
        for (const detail::query_slot& slot : clause.slots) {
            std::vector<detail::term_sequence> spellings =
                resolve_slot(data, query, slot, options.correct_typos, corrections);
            if (spellings.empty()) {
                // A word that matches nothing makes its whole phrase match nothing.
                result.slots.clear();
                break;
            }
            result.slots.push_back(std::move(spellings));
        }
        if (result.slots.empty()) {
            resolved.unmatched_clause = true;
            continue;
        }
        // Two words may resolve to the same terms, such as a typo and its correction.
        const bool repeated = std::any_of(
            resolved.clauses.begin(), resolved.clauses.end(),
            [&](const detail::resolved_clause& earlier) { return earlier.slots == result.slots; });
        if (repeated) continue;
        resolved.clauses.push_back(std::move(result));
        resolved.corrections.insert(resolved.corrections.end(), corrections.begin(),
                                    corrections.end());
    }
    std::sort(
        resolved.corrections.begin(), resolved.corrections.end(),
        [](const search_correction& a, const search_correction& b) { return a.begin < b.begin; });
    return resolved;
}

/// Returns `query` with each corrected word replaced by its correction.
std::string apply_corrections(std::string_view query,
                              const std::vector<search_correction>& corrections) {
    std::string result;
    std::size_t copied = 0;
    for (const search_correction& correction : corrections) {
        result += query.substr(copied, correction.begin - copied);
        result += correction.corrected;
        copied = correction.end;
    }
    result += query.substr(copied);
    return result;
}

}  // namespace

search_index::search_index() : impl_(std::make_unique<impl>()) {}

search_index::~search_index() = default;

std::shared_ptr<const search_index> search_index::build(std::vector<document> docs,
                                                        bm25_params params,
                                                        const build_progress& progress) {
    // The constructor is private, so make_shared cannot reach it.
    std::shared_ptr<search_index> index(new search_index());
    index->impl_->docs = detail::document_store(std::move(docs));
    index->impl_->data.params = params;
    detail::build_index_data(index->impl_->docs, index->impl_->data, progress);
    return index;
}

std::shared_ptr<search_index> search_index::make_replaceable(
    std::shared_ptr<const search_index> initial) {
    std::shared_ptr<search_index> index(new search_index());
    index->impl_->replaceable = true;
    index->replace(std::move(initial));
    return index;
}

void search_index::replace(std::shared_ptr<const search_index> next) {
    if (!impl_->replaceable) {
        throw std::logic_error("search_index::replace called on an index that is not replaceable");
    }
    if (next == nullptr || next->impl_->replaceable) {
        throw std::invalid_argument(
            "search_index::replace needs a built or loaded index, not null or a replaceable one");
    }
    std::shared_ptr<const search_index> previous;
    {
        std::lock_guard lock(impl_->current_mutex);
        previous = std::exchange(impl_->current, std::move(next));
    }
    // `previous` is released here, outside the lock, because freeing a large index takes a
    // while and queries must not wait for it to take their snapshot.
}

std::shared_ptr<const search_index> search_index::snapshot() const {
    if (!impl_->replaceable) return shared_from_this();
    std::lock_guard lock(impl_->current_mutex);
    return impl_->current;
}

search_result search_index::search(std::string_view query, const search_options& options) const {
    if (impl_->replaceable) return snapshot()->search(query, options);
    search_result result;
    if (options.limit == 0 || impl_->docs.size() == 0 || options.offset >= max_ranked_hits) {
        return result;
    }
    const std::size_t top_count =
        std::min(options.limit, max_ranked_hits - options.offset) + options.offset;

    resolved_query resolved = resolve_query(impl_->data, query, options);
    if (options.match_all && resolved.unmatched_clause) resolved.clauses.clear();
    detail::evaluation evaluated = detail::evaluate_query(impl_->data, resolved.clauses, top_count,
                                                          options.exhaustive, options.match_all);
    if (evaluated.hits.size() > options.offset) {
        result.hits.assign(evaluated.hits.begin() + static_cast<std::ptrdiff_t>(options.offset),
                           evaluated.hits.end());
    }
    result.total_matches = evaluated.total_matches;
    result.total_is_estimate = evaluated.total_is_estimate;
    if (!resolved.corrections.empty()) {
        result.corrected_query = apply_corrections(query, resolved.corrections);
    }
    result.corrections = std::move(resolved.corrections);
    return result;
}

document_view search_index::document_at(std::uint32_t doc) const {
    if (impl_->replaceable) {
        throw std::logic_error(
            "search_index::document_at called on a replaceable index: call snapshot() first");
    }
    return impl_->docs.at(doc);
}

std::size_t search_index::document_count() const {
    if (impl_->replaceable) return snapshot()->document_count();
    return impl_->docs.size();
}

std::size_t search_index::term_count() const {
    if (impl_->replaceable) return snapshot()->term_count();
    return impl_->data.term_count();
}

std::size_t search_index::memory_bytes() const {
    if (impl_->replaceable) return snapshot()->memory_bytes();
    return sizeof(impl) + impl_->docs.memory_bytes() + impl_->data.memory_bytes();
}

std::size_t search_index::mapped_bytes() const {
    if (impl_->replaceable) return snapshot()->mapped_bytes();
    return impl_->storage_bytes;
}

}  // namespace tgsearch
