// Building the compressed index: tokenize in parallel by document range, merge the
// dictionaries, then encode the posting lists in parallel by term range.

#include "core/search_index_data.hpp"
#include "core/text_normalizer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>

namespace tgsearch::detail {
namespace {

/// Documents below this count are indexed on one thread, where starting threads would cost
/// more than it saves.
constexpr std::size_t parallel_build_min_docs = 2048;

/// Upper bound on build threads; the build reads memory more than it computes.
constexpr unsigned max_build_threads = 8;

constexpr std::uint32_t max_offset = std::numeric_limits<std::uint32_t>::max();

/// A posting before the postings are grouped by term.
struct raw_posting {
    std::uint32_t term = 0;  ///< provisional id from a term_table
    std::uint32_t doc = 0;
    std::uint32_t title_tf = 0;
    std::uint32_t body_tf = 0;
};

/// A posting after grouping by term, with where its positions start.
struct grouped_posting {
    std::uint32_t doc = 0;
    std::uint32_t title_tf = 0;
    std::uint32_t body_tf = 0;
    std::uint32_t position_begin = 0;  ///< index of its first position in partial_index
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

/// The terms, postings and positions of one contiguous range of documents, built on one
/// thread, and after the merge their grouping by final term id.
struct partial_index {
    term_table terms;
    std::vector<raw_posting> raw;  ///< ascending by document
    /// The positions of raw[0], then of raw[1], and so on: title_tf + body_tf of each.
    std::vector<std::uint32_t> positions;

    std::vector<std::uint32_t> final_id;    ///< local term id to final term id
    std::vector<std::uint32_t> term_begin;  ///< final term t owns grouped[begin[t], begin[t + 1])
    std::vector<grouped_posting> grouped;   ///< raw, grouped by final term
};

/// Documents tokenized between two reports to a build_progress callback.
constexpr std::uint32_t progress_interval = 512;

/// Counts tokenized documents across build threads and reports them to a build_progress
/// callback, one call at a time.
class progress_counter {
public:
    progress_counter(const build_progress& report, std::size_t total)
        : report_(report), total_(total) {}

    void add_one() {
        const std::size_t done = done_.fetch_add(1, std::memory_order_relaxed) + 1;
        if (report_ && (done % progress_interval == 0 || done == total_)) {
            std::lock_guard lock(mutex_);
            // Threads may reach the lock out of order; the count shown never goes back.
            if (done > reported_) {
                reported_ = done;
                report_(done, total_);
            }
        }
    }

private:
    const build_progress& report_;
    std::size_t total_;
    std::atomic<std::size_t> done_{0};
    std::mutex mutex_;
    std::size_t reported_ = 0;  ///< guarded by mutex_
};

/// Returns the number of word positions `tokens` cover, so that alternative terms at one
/// position, and the joined term beside its parts, count once.
std::uint32_t word_count(const std::vector<token>& tokens) {
    std::uint32_t count = 0;
    for (const token& t : tokens) count = std::max(count, t.position + t.span);
    return count;
}

/// Tokenizes documents [begin, end) into `part`, and writes each one's length in word
/// positions, counting a title word `title_boost` times, into `lengths`. Body positions start
/// one past the title's last position plus one, so that no phrase matches across the end of
/// the title. Adds each finished document to `progress`.
void index_range(const document_store& docs, std::uint32_t begin, std::uint32_t end,
                 float title_boost, partial_index& part, std::vector<float>& lengths,
                 progress_counter& progress) {
    // For each term: the last document that used it and its slot in that document's counts,
    // so that counting a document's words needs no per-document hash table.
    std::vector<std::uint32_t> last_doc;
    std::vector<std::uint32_t> slot_of;
    struct term_counts {
        std::uint32_t term;
        std::uint32_t title;
        std::uint32_t body;
        std::uint32_t next_position;  ///< where the next position of the term goes
    };
    std::vector<term_counts> counts;
    struct occurrence {
        std::uint32_t slot;
        std::uint32_t position;
    };
    std::vector<occurrence> occurrences;
    std::vector<token> tokens;
    bool joined_seen = false;
    part.raw.reserve(static_cast<std::size_t>(end - begin) * 32);

    std::string span_text;
    std::uint32_t doc = begin;
    bool in_title = true;
    // Counts one occurrence of `text` at `position` in `doc`.
    const auto add = [&](std::string_view text, std::uint32_t position) {
        bool inserted = false;
        const std::uint32_t term = part.terms.intern(text, inserted);
        if (inserted) {
            last_doc.push_back(std::numeric_limits<std::uint32_t>::max());
            slot_of.push_back(0);
        }
        if (last_doc[term] != doc) {
            last_doc[term] = doc;
            slot_of[term] = static_cast<std::uint32_t>(counts.size());
            counts.push_back({term, 0, 0, 0});
        }
        term_counts& entry = counts[slot_of[term]];
        ++(in_title ? entry.title : entry.body);
        occurrences.push_back({slot_of[term], position});
    };
    const auto count_tokens = [&](std::uint32_t position_offset) {
        for (const token& t : tokens) {
            add(t.term, t.position + position_offset);
            if (t.span > 1 && t.span <= max_indexed_span) {
                make_span_term(t.term, t.span, span_text);
                add(span_text, t.position + position_offset);
                joined_seen = true;
            }
        }
    };

    for (; doc < end; ++doc) {
        counts.clear();
        occurrences.clear();
        tokens.clear();
        joined_seen = false;
        const document_view fields = docs.at(doc);
        tokenize(fields.title, tokens);
        const std::uint32_t title_words = word_count(tokens);
        in_title = true;
        count_tokens(0);
        tokens.clear();
        tokenize(fields.text, tokens);
        const std::uint32_t body_words = word_count(tokens);
        in_title = false;
        count_tokens(title_words + 1);

        // Lay out each term's positions contiguously, in the order of its raw posting.
        std::size_t next = part.positions.size();
        for (term_counts& entry : counts) {
            entry.next_position = static_cast<std::uint32_t>(next);
            next += entry.title + entry.body;
        }
        if (next > max_offset) {
            throw std::length_error("search_index: more than 2^32 word positions on one thread");
        }
        part.positions.resize(next);
        for (const occurrence& item : occurrences) {
            part.positions[counts[item.slot].next_position++] = item.position;
        }
        for (const term_counts& entry : counts) {
            if (joined_seen) {
                // The tokens of a joined word need not come in position order, and positions
                // must ascend. Title positions stay first, because every body position is
                // above every title position.
                const auto last = part.positions.begin() + entry.next_position;
                std::sort(last - (entry.title + entry.body), last);
            }
            part.raw.push_back({entry.term, doc, entry.title, entry.body});
        }
        lengths[doc] =
            static_cast<float>(body_words) + title_boost * static_cast<float>(title_words);
        progress.add_one();
    }
}

/// Runs `work(part)` for part = 0 .. count - 1 on `count` threads, the calling one included,
/// and rethrows the first exception in part order.
void run_parallel(unsigned count, const std::function<void(unsigned)>& work) {
    std::vector<std::exception_ptr> errors(count);
    const auto run = [&](unsigned part) {
        try {
            work(part);
        } catch (...) {
            errors[part] = std::current_exception();
        }
    };
    std::vector<std::thread> threads;
    for (unsigned part = 1; part < count; ++part) threads.emplace_back(run, part);
    run(0);
    for (std::thread& thread : threads) thread.join();
    for (const std::exception_ptr& error : errors) {
        if (error) std::rethrow_exception(error);
    }
}

/// Merges the parts' dictionaries into `data`'s sorted one and sets each part's final_id.
void merge_dictionaries(std::vector<partial_index>& parts, index_data& data) {
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
    if (terms.text_bytes() > max_offset) {
        throw std::length_error("search_index: term dictionary exceeds 4 GiB");
    }
    std::vector<std::uint32_t> final_id(term_total);
    std::vector<std::uint32_t> order(term_total);
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return terms.term(a) < terms.term(b); });
    data.term_text.reserve(terms.text_bytes());
    data.term_offsets.reserve(term_total + 1);
    data.term_offsets.push_back(0);
    for (std::uint32_t rank = 0; rank < term_total; ++rank) {
        final_id[order[rank]] = rank;
        data.term_text += terms.term(order[rank]);
        data.term_offsets.push_back(static_cast<std::uint32_t>(data.term_text.size()));
    }
    terms = term_table();
    for (std::size_t part = 1; part < parts.size(); ++part) {
        for (std::uint32_t& id : global_id[part]) id = final_id[id];
        parts[part].final_id = std::move(global_id[part]);
    }
    parts.front().final_id = std::move(final_id);
}

/// Groups a part's postings by final term id with a counting sort. It is stable, so each
/// term's postings stay ascending by document. Moving the postings, rather than indexes to
/// them, lets the encoder read them in order.
void group_by_term(partial_index& part, std::size_t term_total) {
    part.term_begin.assign(term_total + 1, 0);
    for (const raw_posting& entry : part.raw) ++part.term_begin[part.final_id[entry.term] + 1];
    std::partial_sum(part.term_begin.begin(), part.term_begin.end(), part.term_begin.begin());
    part.grouped.resize(part.raw.size());
    std::vector<std::uint32_t> next(part.term_begin.begin(), part.term_begin.end() - 1);
    std::uint32_t position = 0;
    for (const raw_posting& entry : part.raw) {
        part.grouped[next[part.final_id[entry.term]]++] =
            grouped_posting{entry.doc, entry.title_tf, entry.body_tf, position};
        position += entry.title_tf + entry.body_tf;
    }
    part.raw = {};
}

/// The encoded posting lists of a contiguous range of terms, with offsets local to the range.
struct encoded_range {
    std::vector<std::uint8_t> stream;
    std::vector<std::uint32_t> offsets;  ///< per term of the range, where its record starts
};

/// Encodes the posting lists of terms [first_term, last_term) from every part.
void encode_terms(const std::vector<partial_index>& parts, const index_data& data,
                  std::size_t first_term, std::size_t last_term, encoded_range& out) {
    const float k1_plus_one = data.params.k1 + 1.0f;
    const float title_boost = data.params.title_boost;
    std::vector<posting_entry> entries;
    for (std::size_t term = first_term; term < last_term; ++term) {
        entries.clear();
        for (const partial_index& part : parts) {
            for (std::uint32_t k = part.term_begin[term]; k < part.term_begin[term + 1]; ++k) {
                const grouped_posting& entry = part.grouped[k];
                const float tf = weighted_tf(entry.title_tf, entry.body_tf, title_boost);
                entries.push_back(
                    posting_entry{entry.doc, entry.title_tf, entry.body_tf,
                                  bm25_saturation(tf, data.length_norm[entry.doc], k1_plus_one),
                                  part.positions.data() + entry.position_begin});
            }
        }
        const std::size_t offset = encode_posting_list(entries.data(), entries.size(), out.stream);
        if (out.stream.size() > max_offset) {
            throw std::length_error("search_index: postings and positions exceed 4 GiB");
        }
        out.offsets.push_back(static_cast<std::uint32_t>(offset));
    }
}

/// Splits terms into `count` contiguous ranges of about the same number of postings.
std::vector<std::size_t> split_terms(const std::vector<std::uint32_t>& doc_frequency,
                                     unsigned count) {
    std::uint64_t total = 0;
    for (const std::uint32_t df : doc_frequency) total += df;
    std::vector<std::size_t> bounds{0};
    std::uint64_t seen = 0;
    for (std::size_t term = 0; term < doc_frequency.size() && bounds.size() < count; ++term) {
        seen += doc_frequency[term];
        if (seen * count >= total * bounds.size()) bounds.push_back(term + 1);
    }
    while (bounds.size() <= count) bounds.push_back(doc_frequency.size());
    return bounds;
}

}  // namespace

void build_index_data(const document_store& docs, index_data& data,
                      const build_progress& progress) {
    if (docs.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("search_index: more than 2^32 - 1 documents");
    }
    data.document_count = docs.size();
    unsigned thread_count = 1;
    if (docs.size() >= parallel_build_min_docs) {
        thread_count = std::clamp(std::thread::hardware_concurrency(), 1u, max_build_threads);
    }

    std::vector<float> lengths(docs.size());
    std::vector<partial_index> parts(thread_count);
    progress_counter counter(progress, docs.size());
    run_parallel(thread_count, [&](unsigned part) {
        const std::size_t begin = docs.size() * part / thread_count;
        const std::size_t end = docs.size() * (part + 1) / thread_count;
        index_range(docs, static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end),
                    data.params.title_boost, parts[part], lengths, counter);
    });

    // Summed in document order, so the average, and every score, is the same whatever the
    // number of build threads.
    double total_length = 0.0;
    for (const float length : lengths) total_length += length;
    data.average_length = docs.size() == 0 ? 0.0 : total_length / static_cast<double>(docs.size());
    data.owned_length_norm.resize(docs.size());
    for (std::size_t doc = 0; doc < docs.size(); ++doc) {
        const double relative =
            data.average_length > 0.0 ? lengths[doc] / data.average_length : 0.0;
        data.owned_length_norm[doc] =
            static_cast<float>(data.params.k1 * (1.0 - data.params.b + data.params.b * relative));
    }
    data.length_norm = data.owned_length_norm;

    merge_dictionaries(parts, data);
    data.build_term_lookup();
    const std::size_t term_total = data.term_count();
    run_parallel(thread_count, [&](unsigned part) { group_by_term(parts[part], term_total); });
    data.doc_frequency.assign(term_total, 0);
    for (const partial_index& part : parts) {
        for (std::size_t term = 0; term < term_total; ++term) {
            data.doc_frequency[term] += part.term_begin[term + 1] - part.term_begin[term];
        }
    }

    const std::vector<std::size_t> bounds = split_terms(data.doc_frequency, thread_count);
    std::vector<encoded_range> ranges(thread_count);
    run_parallel(thread_count, [&](unsigned range) {
        encode_terms(parts, data, bounds[range], bounds[range + 1], ranges[range]);
    });
    parts = {};

    // Concatenate the ranges in term order, moving their offsets to the shared stream.
    std::size_t stream_bytes = 0;
    for (const encoded_range& range : ranges) stream_bytes += range.stream.size();
    if (stream_bytes > max_offset) {
        throw std::length_error("search_index: postings and positions exceed 4 GiB");
    }
    std::vector<std::uint8_t>& stream = data.owned_posting_stream;
    stream.reserve(stream_bytes + posting_stream_padding);
    data.owned_posting_offset.reserve(term_total);
    for (encoded_range& range : ranges) {
        const auto base = static_cast<std::uint32_t>(stream.size());
        for (const std::uint32_t offset : range.offsets) {
            data.owned_posting_offset.push_back(base + offset);
        }
        stream.insert(stream.end(), range.stream.begin(), range.stream.end());
        range = encoded_range();
    }
    stream.resize(stream.size() + posting_stream_padding, 0);
    data.posting_stream = stream;
    data.posting_offset = data.owned_posting_offset;
}

namespace {

/// Slot of the hash table where probing for `hash` starts: the high half of the product
/// spreads the low 32 bits of the hash over any table size, which need not be a power of 2.
std::size_t home_slot(std::uint64_t hash, std::size_t table_size) {
    return static_cast<std::size_t>(((hash & 0xffffffffu) * table_size) >> 32);
}

std::uint64_t hash_term(std::string_view term) { return std::hash<std::string_view>{}(term); }

}  // namespace

void index_data::build_term_lookup() {
    const std::size_t count = term_count();
    // At most two thirds full, so a probe sequence stays short, mostly within a cache line.
    const std::size_t size = count + count / 2 + 1;
    term_lookup.assign(size, 0);
    for (std::size_t term = 0; term < count; ++term) {
        const std::uint64_t hash = hash_term(term_at(term));
        std::size_t slot = home_slot(hash, size);
        while (term_lookup[slot] != 0) slot = slot + 1 == size ? 0 : slot + 1;
        term_lookup[slot] = (hash & 0xffffffff00000000u) | (term + 1);
    }
}

std::size_t index_data::find_term(std::string_view term) const {
    const std::size_t count = term_count();
    const std::size_t size = term_lookup.size();
    if (size == 0) return count;
    const std::uint64_t hash = hash_term(term);
    const std::uint64_t tag = hash & 0xffffffff00000000u;
    for (std::size_t slot = home_slot(hash, size);; slot = slot + 1 == size ? 0 : slot + 1) {
        const std::uint64_t entry = term_lookup[slot];
        if (entry == 0) return count;
        if ((entry & 0xffffffff00000000u) == tag) {
            const std::size_t id = (entry & 0xffffffffu) - 1;
            if (term_at(id) == term) return id;
        }
    }
}

std::pair<std::size_t, std::size_t> index_data::prefix_range(std::string_view prefix) const {
    const std::size_t count = term_count();
    const auto lower = [&](auto&& is_before) {
        std::size_t low = 0;
        std::size_t high = count;
        while (low < high) {
            const std::size_t middle = low + (high - low) / 2;
            if (is_before(term_at(middle))) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        return low;
    };
    const std::size_t first = lower([&](std::string_view term) { return term < prefix; });
    // Terms that start with the prefix sort before every other term that is not smaller.
    const std::size_t last = lower([&](std::string_view term) {
        return term < prefix || term.substr(0, prefix.size()) == prefix;
    });
    return {first, last};
}

float index_data::idf(std::uint32_t term) const {
    const double n = static_cast<double>(document_count);
    const double df = static_cast<double>(doc_frequency[term]);
    return static_cast<float>(std::log(1.0 + (n - df + 0.5) / (df + 0.5)));
}

std::size_t index_data::memory_bytes() const {
    const auto vector_bytes = [](const auto& values) {
        return values.capacity() * sizeof(values[0]);
    };
    return term_text.capacity() + vector_bytes(term_offsets) + vector_bytes(doc_frequency) +
           vector_bytes(term_lookup) + vector_bytes(owned_posting_stream) +
           vector_bytes(owned_posting_offset) + vector_bytes(owned_length_norm);
}

}  // namespace tgsearch::detail
