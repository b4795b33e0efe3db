#include "core/postings.hpp"
#include "core/search_accel.hpp"
#include "core/search_index.hpp"
#include "core/search_index_data.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using tgsearch::document;
using tgsearch::search_hit;
using tgsearch::search_index;
using tgsearch::search_options;
namespace detail = tgsearch::detail;

namespace {

/// Words with a skewed frequency: word i is drawn with probability proportional to 1 / (i + 1),
/// so the first words are in most documents and the last in few, as in real text.
std::string draw_word(std::mt19937& random, std::size_t vocabulary) {
    std::vector<double> weights(vocabulary);
    for (std::size_t i = 0; i < vocabulary; ++i) weights[i] = 1.0 / static_cast<double>(i + 1);
    std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
    return "w" + std::to_string(pick(random));
}

std::string draw_text(std::mt19937& random, std::size_t vocabulary, std::size_t max_words) {
    const std::size_t words = random() % (max_words + 1);
    std::string text;
    for (std::size_t i = 0; i < words; ++i) {
        if (!text.empty()) text += ' ';
        text += draw_word(random, vocabulary);
    }
    return text;
}

std::vector<std::string> split_words(const std::string& text) {
    std::vector<std::string> words;
    std::istringstream input(text);
    std::string word;
    while (input >> word) words.push_back(word);
    return words;
}

/// Matched words and BM25 of one document, computed from the definition in double precision.
struct expected_hit {
    std::uint32_t doc = 0;
    std::uint32_t matched = 0;
    double score = 0.0;
};

std::vector<expected_hit> brute_force(const std::vector<document>& docs,
                                      const std::vector<std::string>& query_words) {
    constexpr double k1 = 1.2;
    constexpr double b = 0.75;
    constexpr double title_boost = 3.0;
    std::vector<std::map<std::string, double>> tfs(docs.size());
    std::vector<double> lengths(docs.size());
    double total_length = 0.0;
    for (std::size_t d = 0; d < docs.size(); ++d) {
        const auto title = split_words(docs[d].title);
        const auto body = split_words(docs[d].text);
        for (const auto& word : title) tfs[d][word] += title_boost;
        for (const auto& word : body) tfs[d][word] += 1.0;
        lengths[d] =
            static_cast<double>(body.size()) + title_boost * static_cast<double>(title.size());
        total_length += lengths[d];
    }
    const double n = static_cast<double>(docs.size());
    const double average = total_length / n;
    std::set<std::string> distinct(query_words.begin(), query_words.end());
    std::map<std::string, double> dfs;
    for (const auto& word : distinct) {
        for (const auto& counts : tfs) dfs[word] += counts.count(word) ? 1.0 : 0.0;
    }
    std::vector<expected_hit> hits;
    for (std::size_t d = 0; d < docs.size(); ++d) {
        expected_hit hit{static_cast<std::uint32_t>(d), 0, 0.0};
        for (const auto& word : distinct) {
            const auto found = tfs[d].find(word);
            if (found == tfs[d].end()) continue;
            const double df = dfs[word];
            const double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
            const double tf = found->second;
            const double norm = k1 * (1.0 - b + b * lengths[d] / average);
            hit.score += idf * tf * (k1 + 1.0) / (tf + norm);
            ++hit.matched;
        }
        if (hit.matched > 0) hits.push_back(hit);
    }
    std::sort(hits.begin(), hits.end(), [](const expected_hit& x, const expected_hit& y) {
        if (x.matched != y.matched) return x.matched > y.matched;
        if (x.score != y.score) return x.score > y.score;
        return x.doc < y.doc;
    });
    return hits;
}

/// 3,000 documents of skewed words: more than 2048, so the build splits them across threads
/// where there are several cores.
std::vector<document> draw_corpus(std::mt19937& random, std::size_t vocabulary) {
    std::vector<document> docs;
    for (int i = 0; i < 3000; ++i) {
        docs.push_back(document{"d" + std::to_string(i), draw_text(random, vocabulary, 3),
                                draw_text(random, vocabulary, 60), ""});
    }
    return docs;
}

/// Checks `hits` against `expected`, ranked by the definition: equal matched words and scores
/// rank by rank, and equal documents where no near-equal score may swap them.
void check_ranking(const std::vector<search_hit>& hits, const std::vector<expected_hit>& expected) {
    for (std::size_t rank = 0; rank < hits.size() && rank < expected.size(); ++rank) {
        CAPTURE(rank);
        CHECK(hits[rank].matched_words == expected[rank].matched);
        CHECK(hits[rank].score == Approx(expected[rank].score).epsilon(1e-4));
        // Near-equal scores may swap under float rounding; distinct ones may not.
        const bool tied_before = rank > 0 && expected[rank - 1].matched == expected[rank].matched &&
                                 std::abs(expected[rank - 1].score - expected[rank].score) < 1e-3;
        const bool tied_after = rank + 1 < expected.size() &&
                                expected[rank + 1].matched == expected[rank].matched &&
                                std::abs(expected[rank + 1].score - expected[rank].score) < 1e-3;
        if (!tied_before && !tied_after) CHECK(hits[rank].doc == expected[rank].doc);
    }
}

/// A query of `min_words` to `max_words` words drawn from the first `vocabulary` words.
struct drawn_query {
    std::vector<std::string> words;
    std::string text;
};

drawn_query draw_query(std::mt19937& random, std::size_t min_words, std::size_t max_words,
                       std::size_t vocabulary) {
    drawn_query query;
    const std::size_t word_count = min_words + random() % (max_words - min_words + 1);
    for (std::size_t i = 0; i < word_count; ++i) {
        query.words.push_back(draw_word(random, vocabulary));
        query.text += query.words.back() + " ";
    }
    return query;
}

/// The results of one query with pruning and with every match scored.
struct pruned_and_full {
    tgsearch::search_result fast;
    tgsearch::search_result full;
};

pruned_and_full search_both_ways(const search_index& index, const std::string& query,
                                 const search_options& pruned) {
    search_options exhaustive = pruned;
    exhaustive.exhaustive = true;
    return {index.search(query, pruned), index.search(query, exhaustive)};
}

bool same_hits(const std::vector<search_hit>& a, const std::vector<search_hit>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].doc != b[i].doc || a[i].score != b[i].score ||
            a[i].matched_words != b[i].matched_words) {
            return false;
        }
    }
    return true;
}

}  // namespace

TEST_CASE("pruned top-k equals exhaustive and brute-force ranking", "[index]") {
    std::mt19937 random(20240607);
    constexpr std::size_t vocabulary = 300;
    std::vector<document> docs = draw_corpus(random, vocabulary);
    const std::vector<document> copy = docs;
    const auto index = search_index::build(std::move(docs));

    int compared = 0;
    for (int q = 0; q < 300; ++q) {
        const drawn_query query = draw_query(random, 1, 4, vocabulary);
        const std::size_t limit = std::vector<std::size_t>{1, 5, 10, 50}[random() % 4];
        CAPTURE(query.text, limit);

        search_options pruned;
        pruned.limit = limit;
        pruned.correct_typos = false;
        const auto [fast, full] = search_both_ways(*index, query.text, pruned);
        REQUIRE(same_hits(fast.hits, full.hits));
        CHECK_FALSE(full.total_is_estimate);

        const auto expected = brute_force(copy, query.words);
        CHECK(full.total_matches == expected.size());
        REQUIRE(fast.hits.size() == std::min(limit, expected.size()));
        check_ranking(fast.hits, expected);
        ++compared;
    }
    CHECK(compared == 300);
}

TEST_CASE("match_all ranks only the documents with every word", "[index]") {
    std::mt19937 random(20241204);
    constexpr std::size_t vocabulary = 300;
    std::vector<document> docs = draw_corpus(random, vocabulary);
    const std::vector<document> copy = docs;
    const auto index = search_index::build(std::move(docs));

    std::size_t with_more = 0;
    for (int q = 0; q < 300; ++q) {
        // Frequent words, so that many queries have more matches than the limit.
        const drawn_query query = draw_query(random, 2, 4, 40);
        const std::size_t limit = std::vector<std::size_t>{1, 5, 10, 50}[random() % 4];
        CAPTURE(query.text, limit);

        search_options pruned;
        pruned.limit = limit;
        pruned.correct_typos = false;
        pruned.match_all = true;
        const auto [fast, full] = search_both_ways(*index, query.text, pruned);
        REQUIRE(same_hits(fast.hits, full.hits));

        std::vector<expected_hit> expected = brute_force(copy, query.words);
        const std::set<std::string> distinct_words(query.words.begin(), query.words.end());
        const auto distinct = static_cast<std::uint32_t>(distinct_words.size());
        std::erase_if(expected, [&](const expected_hit& hit) { return hit.matched < distinct; });
        CHECK_FALSE(full.total_is_estimate);
        CHECK(full.total_matches == expected.size());
        if (expected.size() < limit) {
            CHECK_FALSE(fast.total_is_estimate);
            CHECK(fast.total_matches == expected.size());
        } else {
            CHECK(fast.total_matches >= limit);
        }
        REQUIRE(fast.hits.size() == std::min(limit, expected.size()));
        check_ranking(fast.hits, expected);
        if (expected.size() > limit) ++with_more;
    }
    // Pruning starts only once the top is full, so the draw must often fill it.
    CHECK(with_more > 50);

    search_options options;
    options.match_all = true;
    options.correct_typos = false;
    CHECK(index->search("w1 w2 neverseen", options).hits.empty());
    options.match_all = false;
    CHECK_FALSE(index->search("w1 w2 neverseen", options).hits.empty());
}

TEST_CASE("pruning keeps phrase and prefix hits", "[index]") {
    // Few distinct words and many tied scores: documents that match only some clauses fill
    // most of the top, ranked one subset of the clauses at a time, and ties are broken there.
    std::mt19937 random(777);
    constexpr std::size_t vocabulary = 40;
    std::vector<document> docs;
    for (int i = 0; i < 2500; ++i) {
        docs.push_back(document{"d" + std::to_string(i), draw_text(random, vocabulary, 2),
                                draw_text(random, vocabulary, 12), ""});
    }
    const auto index = search_index::build(std::move(docs));

    for (int q = 0; q < 400; ++q) {
        std::string query;
        const std::size_t clause_count = 1 + random() % 5;
        for (std::size_t c = 0; c < clause_count; ++c) {
            if (random() % 4 == 0) {
                query += "\"" + draw_word(random, vocabulary) + " " +
                         draw_word(random, vocabulary) + "\" ";
            } else {
                query += draw_word(random, vocabulary) + " ";
            }
        }
        // A half-typed last word expands to every term it starts, "w1" to w1, w10 to w19.
        const bool typing = random() % 3 == 0;
        if (typing) query += "w" + std::to_string(1 + random() % 3);
        search_options pruned;
        pruned.limit = std::vector<std::size_t>{1, 3, 10, 30}[random() % 4];
        pruned.offset = random() % 3 == 0 ? 5 : 0;
        pruned.prefix_last = typing;
        pruned.correct_typos = false;
        CAPTURE(query, pruned.limit, pruned.offset);

        const auto [fast, full] = search_both_ways(*index, query, pruned);
        REQUIRE(same_hits(fast.hits, full.hits));
        if (!fast.total_is_estimate) CHECK(fast.total_matches == full.total_matches);
    }

    // A half-typed word alone is one word with many spellings, ranked from the spellings' own
    // tops: "w" expands to the 64 most frequent terms, "w3" to w3 and w30 to w39.
    for (const std::string prefix : {"w", "w1", "w2", "w3", "w39"}) {
        for (const std::size_t limit : {1, 3, 10, 30}) {
            for (const std::size_t offset : {0, 5}) {
                search_options pruned;
                pruned.limit = limit;
                pruned.offset = offset;
                pruned.prefix_last = true;
                pruned.correct_typos = false;
                CAPTURE(prefix, limit, offset);
                const auto [fast, full] = search_both_ways(*index, prefix, pruned);
                REQUIRE_FALSE(full.hits.empty());
                REQUIRE(same_hits(fast.hits, full.hits));
                CHECK(fast.total_matches >= fast.hits.size() + offset);
            }
        }
    }
}

TEST_CASE("lazy cursor matches posting cursor", "[index]") {
    // Three lists: one block with positions, several blocks with wide gaps, and one entry.
    std::vector<std::vector<std::uint32_t>> positions;
    std::vector<std::vector<detail::posting_entry>> lists(3);
    for (std::uint32_t doc = 0; doc < 100; doc += 3) {
        positions.push_back({doc % 5, doc % 5 + 7});
    }
    for (std::uint32_t i = 0; i < 34; ++i) {
        detail::posting_entry entry{i * 3, i % 2, 2 - i % 2, 1.0f};
        entry.positions = positions[i].data();
        lists[0].push_back(entry);
    }
    std::mt19937 random(5);
    std::uint32_t doc = 0;
    for (int i = 0; i < 700; ++i) {
        doc += 1 + static_cast<std::uint32_t>(random() % (i % 50 == 0 ? 100000 : 20));
        lists[1].push_back({doc, static_cast<std::uint32_t>(random() % 3),
                            static_cast<std::uint32_t>(random() % 40), 0.5f + (i % 7) * 0.1f});
    }
    lists[2].push_back({42, 0, 1, 2.0f});

    detail::index_data data;
    for (const auto& list : lists) {
        data.owned_posting_offset.push_back(static_cast<std::uint32_t>(
            detail::encode_posting_list(list.data(), list.size(), data.owned_posting_stream)));
        data.doc_frequency.push_back(static_cast<std::uint32_t>(list.size()));
    }
    data.owned_posting_stream.resize(
        data.owned_posting_stream.size() + detail::posting_stream_padding, 0);
    data.posting_stream = data.owned_posting_stream;
    data.posting_offset = data.owned_posting_offset;

    for (std::uint32_t term = 0; term < lists.size(); ++term) {
        CAPTURE(term);
        const auto& list = lists[term];
        detail::lazy_posting_cursor lazy(data, term);
        REQUIRE(lazy.block_count() ==
                (list.size() + detail::posting_block_size - 1) / detail::posting_block_size);
        // Every entry in turn, then jumps of random length, against the entries themselves.
        for (const auto& entry : list) {
            CAPTURE(entry.doc);
            REQUIRE(lazy.doc() == entry.doc);
            CHECK(lazy.title_tf() == entry.title_tf);
            CHECK(lazy.body_tf() == entry.body_tf);
            lazy.advance(entry.doc + 1);
        }
        CHECK(lazy.doc() == detail::no_more_docs);

        detail::lazy_posting_cursor jumping(data, term);
        detail::posting_cursor reference(data.posting_stream.data(), data.posting_offset[term],
                                         data.doc_frequency[term]);
        std::uint32_t target = 0;
        while (reference.doc() != detail::no_more_docs) {
            target += static_cast<std::uint32_t>(random() % 3000);
            CAPTURE(target);
            // A bound may be looser than the posting cursor's, never tighter.
            CHECK(jumping.block_max_saturation(target) >= reference.block_max_saturation(target));
            CHECK(jumping.block_last_doc(target) >= reference.block_last_doc(target));
            jumping.advance(target);
            reference.advance(target);
            REQUIRE(jumping.doc() == reference.doc());
            if (reference.doc() == detail::no_more_docs) break;
            CHECK(jumping.title_tf() == reference.title_tf());
            CHECK(jumping.body_tf() == reference.body_tf());
        }
        CHECK(jumping.doc() == detail::no_more_docs);

        // Whole blocks decode to the entries, in any order.
        std::uint32_t docs[detail::posting_block_size];
        std::uint32_t titles[detail::posting_block_size];
        std::uint32_t bodies[detail::posting_block_size];
        for (std::size_t block = lazy.block_count(); block-- > 0;) {
            const std::size_t count = lazy.decode_whole_block(block, docs, titles, bodies);
            for (std::size_t i = 0; i < count; ++i) {
                const auto& entry = list[block * detail::posting_block_size + i];
                REQUIRE(docs[i] == entry.doc);
                CHECK(titles[i] == entry.title_tf);
                CHECK(bodies[i] == entry.body_tf);
            }
        }
    }

    // Positions of a one-block list, read in order and after a jump.
    detail::lazy_posting_cursor reading(data, 0);
    std::vector<std::uint32_t> read;
    for (const std::size_t i : {0u, 1u, 5u, 33u}) {
        CAPTURE(i);
        reading.advance(lists[0][i].doc);
        reading.read_positions(read);
        CHECK(read == positions[i]);
    }
}

TEST_CASE("index pages through the ranking with offset", "[index]") {
    std::vector<document> docs;
    for (int i = 0; i < 40; ++i) {
        std::string text = "needle";
        for (int j = 0; j <= i; ++j) text += " filler";
        docs.push_back(document{"d" + std::to_string(i), "", text, ""});
    }
    const auto index = search_index::build(std::move(docs));
    search_options all;
    all.limit = 40;
    const auto everything = index->search("needle", all).hits;
    REQUIRE(everything.size() == 40);
    for (std::size_t offset : {0u, 1u, 7u, 35u}) {
        CAPTURE(offset);
        search_options page;
        page.limit = 10;
        page.offset = offset;
        const auto result = index->search("needle", page);
        CHECK(result.total_matches == 40);
        CHECK_FALSE(result.total_is_estimate);
        REQUIRE(result.hits.size() == std::min<std::size_t>(10, 40 - offset));
        for (std::size_t i = 0; i < result.hits.size(); ++i) {
            CHECK(result.hits[i].doc == everything[offset + i].doc);
        }
    }
    search_options past_end;
    past_end.offset = 40;
    CHECK(index->search("needle", past_end).hits.empty());
}

TEST_CASE("postings survive an encode and decode round trip", "[index]") {
    // Gaps of 0, 1 and nearly 2^32, and term frequencies up to 2^32 - 1, over several blocks.
    std::vector<detail::posting_entry> entries;
    entries.push_back({0, 0, 1});
    entries.push_back({1, 5, 0});
    entries.push_back({2, 0, std::numeric_limits<std::uint32_t>::max()});
    for (std::uint32_t doc = 10; doc < 1000; doc += 3) entries.push_back({doc, doc % 4, doc % 7});
    entries.push_back({1u << 31, 1, 1});
    entries.push_back({(1u << 31) + 1, std::numeric_limits<std::uint32_t>::max(), 2});
    entries.push_back({std::numeric_limits<std::uint32_t>::max() - 1, 1, 1});
    for (std::size_t i = 0; i < entries.size(); ++i) {
        entries[i].saturation = static_cast<float>(i % 50) / 10.0f;
    }
    REQUIRE(entries.size() > 2 * detail::posting_block_size);

    // A list before the tested one, so that its record does not start at offset 0.
    std::vector<std::uint8_t> stream;
    const detail::posting_entry other{7, 0, 1};
    detail::encode_posting_list(&other, 1, stream);
    const std::size_t offset = detail::encode_posting_list(entries.data(), entries.size(), stream);
    stream.resize(stream.size() + detail::posting_stream_padding, 0);
    const auto count = static_cast<std::uint32_t>(entries.size());

    detail::posting_cursor cursor(stream.data(), offset, count);
    CHECK(cursor.list_max_saturation() == 4.9f);
    REQUIRE(cursor.block_count() == 3);
    CHECK(cursor.max_saturation_of_block(2) == 4.9f);
    for (const auto& entry : entries) {
        CAPTURE(entry.doc);
        REQUIRE(cursor.doc() == entry.doc);
        CHECK(cursor.title_tf() == entry.title_tf);
        CHECK(cursor.body_tf() == entry.body_tf);
        cursor.advance(entry.doc + 1);
    }
    CHECK(cursor.doc() == detail::no_more_docs);

    // Skipping into the middle of a later block lands on the next document.
    detail::posting_cursor skipping(stream.data(), offset, count);
    skipping.advance(301);
    CHECK(skipping.doc() == 301);
    skipping.advance(302);
    CHECK(skipping.doc() == 304);
    CHECK(skipping.block_last_doc(1000) == std::numeric_limits<std::uint32_t>::max() - 1);
    skipping.advance(1000);
    CHECK(skipping.doc() == 1u << 31);
    skipping.advance(detail::no_more_docs - 1);
    CHECK(skipping.doc() == detail::no_more_docs - 1);

    detail::posting_cursor single(stream.data(), 0, 1);
    CHECK(single.doc() == 7);
    CHECK(single.block_last_doc(0) == 7);
    single.advance(8);
    CHECK(single.doc() == detail::no_more_docs);
}

TEST_CASE("positions survive a varint round trip", "[index]") {
    // One list per document: small deltas, a title/body jump, and a huge position.
    const std::vector<std::vector<std::uint32_t>> positions = {
        {0, 1, 2, 700, 100000}, {5}, {3, 4000000000u}};
    std::vector<detail::posting_entry> entries = {{3, 2, 3}, {9, 0, 1}, {11, 1, 1}};
    for (std::size_t i = 0; i < entries.size(); ++i) entries[i].positions = positions[i].data();
    std::vector<std::uint8_t> stream;
    detail::encode_posting_list(entries.data(), entries.size(), stream);
    stream.resize(stream.size() + detail::posting_stream_padding, 0);

    detail::posting_cursor cursor(stream.data(), 0, 3);
    std::vector<std::uint32_t> read;
    // Each read skips the positions of the block's earlier entries.
    for (std::size_t i = 0; i < entries.size(); ++i) {
        CAPTURE(i);
        REQUIRE(cursor.doc() == entries[i].doc);
        cursor.read_positions(read);
        CHECK(read == positions[i]);
        cursor.advance(entries[i].doc + 1);
    }
    detail::posting_cursor direct(stream.data(), 0, 3);
    direct.advance(11);
    direct.read_positions(read);
    CHECK(read == positions[2]);
}

TEST_CASE("positions follow every block of a long list", "[index]") {
    // 300 documents span three blocks, so the positions come from the directory's offsets.
    std::vector<std::vector<std::uint32_t>> positions;
    std::vector<detail::posting_entry> entries;
    for (std::uint32_t doc = 0; doc < 300; ++doc) {
        positions.push_back({doc, doc + 2 + doc % 3});
    }
    for (std::uint32_t doc = 0; doc < 300; ++doc) {
        detail::posting_entry entry{doc * 2, 1, 1};
        entry.positions = positions[doc].data();
        entries.push_back(entry);
    }
    std::vector<std::uint8_t> stream;
    detail::encode_posting_list(entries.data(), entries.size(), stream);
    stream.resize(stream.size() + detail::posting_stream_padding, 0);

    detail::posting_cursor cursor(stream.data(), 0, 300);
    std::vector<std::uint32_t> read;
    for (const std::uint32_t doc : {0u, 127u, 128u, 200u, 299u}) {
        CAPTURE(doc);
        cursor.advance(doc * 2);
        REQUIRE(cursor.doc() == doc * 2);
        cursor.read_positions(read);
        CHECK(read == positions[doc]);
    }
}
