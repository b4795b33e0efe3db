#include "core/index_file.hpp"
#include "core/search_index.hpp"
#include "core/text_normalizer.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using tgsearch::document;
using tgsearch::index_file_error;
using tgsearch::search_index;
using tgsearch::search_options;
using tgsearch::search_result;

namespace {

namespace fs = std::filesystem;

/// A folder under the system temporary folder, removed with its files at the end of a test.
class temporary_folder {
public:
    temporary_folder() {
        path_ = fs::temp_directory_path() / ("tgsearch_index_file_" + std::to_string(::getpid()) +
                                             "_" + std::to_string(next_++));
        fs::create_directories(path_);
    }
    ~temporary_folder() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    static inline int next_ = 0;
    fs::path path_;
};

std::vector<document> load_tsv_fixture(const std::string& path) {
    std::ifstream input(path);
    REQUIRE(input.good());
    std::vector<document> docs;
    std::string line;
    std::getline(input, line);
    while (std::getline(input, line)) {
        std::stringstream fields(line);
        document loaded;
        std::getline(fields, loaded.id, '\t');
        std::getline(fields, loaded.title, '\t');
        std::getline(fields, loaded.text);
        docs.push_back(std::move(loaded));
    }
    return docs;
}

std::string read_bytes(const std::string& path) {
    std::ifstream input(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(input), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream output(path, std::ios::binary | std::ios::trunc);
    output << bytes;
}

/// Returns queries drawn from the documents: every distinct term, and pairs of adjacent words
/// both as words and as a phrase. Also the first three letters of words as prefixes, and words
/// with the first letter changed, so that typo correction runs.
std::vector<std::string> queries_from(const std::vector<document>& docs) {
    std::set<std::string> queries;
    std::vector<tgsearch::token> tokens;
    for (const document& doc : docs) {
        tokens.clear();
        tgsearch::tokenize(doc.text, tokens);
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            const std::string& term = tokens[i].term;
            queries.insert(term);
            if (i + 1 < tokens.size() && i % 3 == 0) {
                queries.insert(term + " " + tokens[i + 1].term);
                queries.insert("\"" + term + " " + tokens[i + 1].term + "\"");
            }
            if (term.size() >= 3 && i % 5 == 0) queries.insert(term.substr(0, 3));
            if (term.size() >= 6 && i % 7 == 0) queries.insert("x" + term.substr(1));
        }
    }
    return {queries.begin(), queries.end()};
}

search_result run_query(const search_index& index, const std::string& query) {
    search_options options;
    options.limit = 20;
    options.prefix_last = query.size() == 3;
    return index.search(query, options);
}

/// Checks that `loaded` returns exactly what `built` returns for `query`.
void check_same_result(const search_index& built, const search_index& loaded,
                       const std::string& query) {
    CAPTURE(query);
    const search_result expected = run_query(built, query);
    const search_result actual = run_query(loaded, query);
    REQUIRE(actual.hits.size() == expected.hits.size());
    for (std::size_t i = 0; i < expected.hits.size(); ++i) {
        CHECK(actual.hits[i].doc == expected.hits[i].doc);
        CHECK(actual.hits[i].score == expected.hits[i].score);
        CHECK(actual.hits[i].matched_words == expected.hits[i].matched_words);
    }
    CHECK(actual.total_matches == expected.total_matches);
    CHECK(actual.total_is_estimate == expected.total_is_estimate);
    CHECK(actual.corrected_query == expected.corrected_query);
    CHECK(actual.corrections.size() == expected.corrections.size());
}

std::shared_ptr<const search_index> build_fixture_index() {
    return search_index::build(load_tsv_fixture(TGSEARCH_FIXTURES_DIR "/search/mixed_corpus.tsv"));
}

/// Returns the message of the index_file_error that loading `path` throws.
std::string load_error_of(const std::string& path) {
    try {
        tgsearch::load_index_file(path);
    } catch (const index_file_error& error) {
        return error.what();
    }
    FAIL("loading " << path << " succeeded");
    return {};
}

}  // namespace

TEST_CASE("index file returns the built index's results", "[index_file]") {
    const std::vector<document> docs =
        load_tsv_fixture(TGSEARCH_FIXTURES_DIR "/search/mixed_corpus.tsv");
    const auto built = build_fixture_index();
    temporary_folder folder;
    const std::string path = folder.file("fixture.idx");
    tgsearch::write_index_file(*built, path);
    CHECK_FALSE(fs::exists(path + ".tmp"));
    const auto loaded = tgsearch::load_index_file(path);

    REQUIRE(loaded->document_count() == built->document_count());
    CHECK(loaded->term_count() == built->term_count());
    CHECK(loaded->mapped_bytes() == fs::file_size(path));
    for (std::uint32_t doc = 0; doc < built->document_count(); ++doc) {
        const auto expected = built->document_at(doc);
        const auto actual = loaded->document_at(doc);
        CHECK(actual.id == expected.id);
        CHECK(actual.title == expected.title);
        CHECK(actual.text == expected.text);
        CHECK(actual.url == expected.url);
    }
    const std::vector<std::string> queries = queries_from(docs);
    REQUIRE(queries.size() > 500);
    for (const std::string& query : queries) check_same_result(*built, *loaded, query);
}

TEST_CASE("index file of an empty index loads", "[index_file]") {
    const auto empty = search_index::build({});
    temporary_folder folder;
    const std::string path = folder.file("empty.idx");
    tgsearch::write_index_file(*empty, path);
    const auto loaded = tgsearch::load_index_file(path);
    CHECK(loaded->document_count() == 0);
    CHECK(loaded->search("anything", {}).hits.empty());
}

TEST_CASE("index file rewrite replaces the old file", "[index_file]") {
    temporary_folder folder;
    const std::string path = folder.file("index.idx");
    tgsearch::write_index_file(*search_index::build({document{"a", "", "apple", ""}}), path);
    const auto first = tgsearch::load_index_file(path);
    tgsearch::write_index_file(
        *search_index::build({document{"a", "", "apple", ""}, document{"b", "", "pear", ""}}),
        path);
    const auto second = tgsearch::load_index_file(path);
    // The first index keeps reading its own mapping of the replaced file.
    CHECK(first->document_count() == 1);
    CHECK(first->document_at(0).text == "apple");
    CHECK(second->document_count() == 2);
}

TEST_CASE("index file rejects damaged and foreign files", "[index_file]") {
    temporary_folder folder;
    const std::string path = folder.file("good.idx");
    tgsearch::write_index_file(*build_fixture_index(), path);
    const std::string good = read_bytes(path);
    REQUIRE(good.size() > 4096);

    SECTION("missing") {
        const std::string missing = folder.file("missing.idx");
        const std::string message = load_error_of(missing);
        CHECK_THAT(message, Catch::Contains(missing));
        CHECK_THAT(message, Catch::Contains("tgsearch index"));
    }
    SECTION("truncated") {
        const std::string truncated = folder.file("truncated.idx");
        write_bytes(truncated, good.substr(0, good.size() - 100));
        const std::string message = load_error_of(truncated);
        CHECK_THAT(message, Catch::Contains(truncated));
        CHECK_THAT(message, Catch::Contains("truncated"));
        CHECK_THAT(message, Catch::Contains("rebuild it with `tgsearch index"));
    }
    SECTION("shorter than a header") {
        const std::string stub = folder.file("stub.idx");
        write_bytes(stub, good.substr(0, 20));
        CHECK_THAT(load_error_of(stub), Catch::Contains("truncated"));
    }
    SECTION("one flipped byte") {
        const std::string corrupted = folder.file("corrupted.idx");
        std::string bytes = good;
        bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
        write_bytes(corrupted, bytes);
        const std::string message = load_error_of(corrupted);
        CHECK_THAT(message, Catch::Contains(corrupted));
        CHECK_THAT(message, Catch::Contains("CRC-32"));
    }
    SECTION("another format version") {
        const std::string old_version = folder.file("old.idx");
        std::string bytes = good;
        bytes[8] = static_cast<char>(tgsearch::index_file_version + 1);
        write_bytes(old_version, bytes);
        const std::string message = load_error_of(old_version);
        CHECK_THAT(message, Catch::Contains("format version " +
                                            std::to_string(tgsearch::index_file_version + 1)));
        CHECK_THAT(message, Catch::Contains("rebuild it"));
    }
    SECTION("another byte order") {
        const std::string swapped = folder.file("swapped.idx");
        std::string bytes = good;
        std::swap(bytes[12], bytes[15]);
        std::swap(bytes[13], bytes[14]);
        write_bytes(swapped, bytes);
        CHECK_THAT(load_error_of(swapped), Catch::Contains("byte order"));
    }
    SECTION("a corpus file") {
        const std::string foreign = TGSEARCH_FIXTURES_DIR "/search/mixed_corpus.tsv";
        const std::string message = load_error_of(foreign);
        CHECK_THAT(message, Catch::Contains(foreign));
        CHECK_THAT(message, Catch::Contains("is not a tgsearch index file"));
    }
}

TEST_CASE("index file write fails in a missing folder", "[index_file]") {
    temporary_folder folder;
    const std::string path = folder.file("no/such/folder/index.idx");
    CHECK_THROWS_AS(tgsearch::write_index_file(*search_index::build({}), path), index_file_error);
}

TEST_CASE("replaceable index serves queries while swapped", "[index_file]") {
    // Two indexes that return different, recognizable results for the same query.
    const auto first = search_index::build(
        {document{"first-a", "", "apple pear", ""}, document{"first-b", "", "apple", ""}});
    const auto second = search_index::build({document{"second-a", "", "plum", ""},
                                             document{"second-b", "", "apple apple", ""},
                                             document{"second-c", "", "apple plum", ""}});
    const auto live = search_index::make_replaceable(first);
    REQUIRE(live->snapshot() == first);
    CHECK_THROWS_AS(live->document_at(0), std::logic_error);

    const auto ids_of = [](const search_index& index) {
        std::vector<std::string> ids;
        for (const auto& hit : index.search("apple", {}).hits) {
            ids.emplace_back(index.document_at(hit.doc).id);
        }
        return ids;
    };
    const std::vector<std::string> first_ids = ids_of(*first);
    const std::vector<std::string> second_ids = ids_of(*second);
    REQUIRE(first_ids != second_ids);

    std::atomic<bool> stop{false};
    std::atomic<int> mismatches{0};
    std::atomic<int> queries{0};
    const auto query_loop = [&] {
        while (!stop.load()) {
            const auto snapshot = live->snapshot();
            const std::vector<std::string> ids = ids_of(*snapshot);
            if (ids != first_ids && ids != second_ids) ++mismatches;
            ++queries;
        }
    };
    std::thread worker_a(query_loop);
    std::thread worker_b(query_loop);
    for (int swap = 0; swap < 2000; ++swap) {
        live->replace(swap % 2 == 0 ? second : first);
        if (swap % 100 == 0) std::this_thread::yield();
    }
    // Let the workers run a while after the last swap as well.
    while (queries.load() < 1000) std::this_thread::yield();
    stop = true;
    worker_a.join();
    worker_b.join();
    CHECK(mismatches.load() == 0);
    CHECK(live->snapshot() == first);
    CHECK_THROWS_AS(live->replace(nullptr), std::invalid_argument);
    CHECK_THROWS_AS(live->replace(live), std::invalid_argument);
    CHECK_THROWS_AS(std::const_pointer_cast<search_index>(first)->replace(second),
                    std::logic_error);
}
