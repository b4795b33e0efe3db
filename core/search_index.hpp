#pragma once

#include "core/document.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
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
    float score = 0.0f;               ///< BM25 score summed over the matched query words
    std::uint32_t matched_words = 0;  ///< how many distinct query words the document matches
};

/// Options of search_index::search.
struct search_options {
    std::size_t limit = 10;  ///< hits to return at most
    std::size_t offset = 0;  ///< best hits to skip first, for paging
    /// Also match the last query word as the start of longer terms (search-as-you-type), when
    /// nothing follows it in the query. It expands to the 64 terms with that prefix that are
    /// in the most documents, plus the word itself.
    bool prefix_last = false;
    /// Complete a query word of 4 or more letters that matches no document to the terms it
    /// starts, or failing that replace it by the closest term of the index. Words with a digit
    /// are left as written.
    bool correct_typos = true;
    /// Score every matching document instead of skipping those that cannot reach the top
    /// hits. The hits are the same either way; only the cost and `total_is_estimate` change.
    bool exhaustive = false;
    /// Return only the documents that match every query word and phrase, as a boolean AND
    /// does. By default, documents that match some of the words follow those that match all.
    bool match_all = false;
};

/// A query word that matched nothing, and the index term searched in its place.
struct search_correction {
    std::string original;   ///< the word as written in the query
    std::string corrected;  ///< the replacement, in normalized form
    std::size_t begin = 0;  ///< byte offset of the word in the query
    std::size_t end = 0;    ///< byte offset one past the word in the query
};

/// The result of one query.
struct search_result {
    std::vector<search_hit> hits;  ///< best first, after skipping `offset` hits
    /// Documents that match at least one query word, exact when total_is_estimate is false.
    /// An estimate assumes the words occur independently. It is at least the number of
    /// matches seen and at most the sum of the words' document counts.
    std::size_t total_matches = 0;
    bool total_is_estimate = false;
    std::vector<search_correction> corrections;  ///< in query order
    /// The query with every corrected word replaced; empty when there is no correction.
    std::string corrected_query;
};

/// Called while search_index::build tokenizes, with `done` of `total` documents. Calls come
/// from the build threads, one at a time, about every 512 documents and once with
/// done == total; merging and encoding the posting lists follow that last call.
using build_progress = std::function<void(std::size_t done, std::size_t total)>;

class search_index;

/// Writes `index` to the index file `path`; see index_file.hpp.
void write_index_file(const search_index& index, const std::string& path);

/// Maps the index file `path` and returns the index it contains; see index_file.hpp.
std::shared_ptr<const search_index> load_index_file(const std::string& path);

/// An immutable in-memory inverted index with BM25 ranking over compressed posting lists.
///
/// Built once, then shared read-only by all search workers: every const member function is
/// safe to call from several threads at once. Results depend only on the index and the query,
/// never on which thread runs it or how many threads built it.
class search_index : public std::enable_shared_from_this<search_index> {
public:
    /// Builds the index over `docs`, taking ownership of them and storing them compactly (see
    /// document_at). Titles and texts are tokenized
    /// with `tokenize`; a title word counts `params.title_boost` times. A corpus of 2048
    /// documents or more is split across up to 8 threads (no more than the hardware has); the
    /// index comes out the same for any thread count. Throws std::bad_alloc when memory runs
    /// out and std::length_error past 2^32 - 1 documents or 4 GiB of distinct terms, encoded
    /// postings or encoded positions.
    /// `progress`, when set, is called as documents are tokenized.
    static std::shared_ptr<const search_index> build(std::vector<document> docs,
                                                     bm25_params params = {},
                                                     const build_progress& progress = {});

    /// Creates a replaceable index: a handle that forwards to `initial` until replace() gives
    /// it another index. It lets a server swap its index while workers search. Every query
    /// should take one snapshot() and use it for the search and for document_at, because the
    /// handle may forward to a different index between two calls.
    static std::shared_ptr<search_index> make_replaceable(
        std::shared_ptr<const search_index> initial);

    /// Makes this replaceable index forward to `next` from now on. Queries that hold a
    /// snapshot of the previous index finish on it, and it is freed after the last of them.
    /// Thread-safe. Throws std::invalid_argument when `next` is null or itself replaceable,
    /// and std::logic_error when this index was not made by make_replaceable.
    void replace(std::shared_ptr<const search_index> next);

    /// Returns the index a replaceable index forwards to now, or this index itself.
    /// Thread-safe; a query should call it once and use the result throughout.
    std::shared_ptr<const search_index> snapshot() const;

    /// Returns the best documents for `query`. Documents that match more distinct query words
    /// rank above those that match fewer; ties break by BM25 score, then by lower document
    /// number. A word matches when the document contains any of its spellings (see
    /// parse_query_words). Words in double quotes form a phrase, which matches only where its
    /// words stand adjacent and in order within the title or within the body; a phrase counts
    /// as many words as it has. An unclosed quote is ignored. A repeated word counts once, and
    /// words past the 64th are ignored. An empty or all-punctuation query, or a limit of 0,
    /// returns no hits. Documents that cannot change the top `offset + limit` hits are
    /// skipped, block by block where possible. At most 10,000 hits are ranked, so offset +
    /// limit is capped there.
    search_result search(std::string_view query, const search_options& options) const;

    /// Returns the fields of document `doc`, which is below document_count(). The views stay
    /// valid as long as the index. Throws std::logic_error on a replaceable index, whose
    /// current index could be freed while the views are in use: call snapshot() first.
    document_view document_at(std::uint32_t doc) const;
    std::size_t document_count() const;
    std::size_t term_count() const;

    /// Estimates the heap bytes held by the index and its documents from string and vector
    /// capacities. Excludes allocator overhead, the scratch memory of running queries and the
    /// arrays that a loaded index reads from its mapped file (see mapped_bytes).
    std::size_t memory_bytes() const;

    /// Size of the index file this index reads its arrays from, or 0 for a built index. The
    /// kernel pages the file in as queries touch it, so it counts as page cache.
    std::size_t mapped_bytes() const;

    search_index(const search_index&) = delete;
    search_index& operator=(const search_index&) = delete;
    ~search_index();

private:
    friend void write_index_file(const search_index& index, const std::string& path);
    friend std::shared_ptr<const search_index> load_index_file(const std::string& path);

    search_index();

    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace tgsearch
