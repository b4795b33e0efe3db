#include "core/index_file.hpp"
#include "core/search_index.hpp"
#include "core/text_normalizer.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
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

/// Rewrites the CRC-32 field of index file bytes (at offset 24, over every other byte), as a
/// file edited on purpose would have it.
void fix_crc(std::string& bytes) {
    const auto* data = reinterpret_cast<const Bytef*>(bytes.data());
    uLong crc = crc32(0L, data, 24);
    crc = crc32(crc, data + 28, static_cast<uInt>(bytes.size() - 28));
    const auto value = static_cast<std::uint32_t>(crc);
    std::memcpy(bytes.data() + 24, &value, sizeof(value));
}

/// Offset and size in bytes of section `index` of index file bytes.
std::pair<std::size_t, std::size_t> section_of(const std::string& bytes, std::size_t index) {
    std::uint64_t entry[2];
    std::memcpy(entry, bytes.data() + 64 + index * sizeof(entry), sizeof(entry));
    return {static_cast<std::size_t>(entry[0]), static_cast<std::size_t>(entry[1])};
}

// Section numbers of the index file layout, in the order index_file.hpp lists them.
constexpr std::size_t parameters_section = 0;
constexpr std::size_t document_bytes_section = 1;
constexpr std::size_t doc_frequency_section = 5;
constexpr std::size_t posting_stream_section = 6;
constexpr std::size_t section_count = 9;

/// Documents whose frequent words have posting lists of several blocks, with titles, urls,
/// multi-byte text and repeated words, so that damage can hit every kind of record.
std::vector<document> varied_documents() {
    const std::vector<std::string> words = {"apple",  "pear",   "plum",   "кошка", "собака",
                                            "قطة",    "e-mail", "nginx",  "proxy", "reverse",
                                            "debian", "linux",  "server", "🕊",  "über"};
    std::vector<document> docs;
    std::mt19937 random(7);
    for (int i = 0; i < 400; ++i) {
        document doc;
        doc.id = "doc-" + std::to_string(i);
        doc.title = words[random() % words.size()] + " " + words[random() % words.size()];
        for (int k = 0; k < 12; ++k) {
            doc.text += words[random() % words.size()];
            doc.text += k % 5 == 4 ? ". " : " ";
        }
        if (i % 3 == 0) doc.url = "https://example.org/" + std::to_string(i);
        docs.push_back(std::move(doc));
    }
    return docs;
}

/// Queries that reach every code path that reads posting lists: single words, several
/// words, phrases, prefixes and typos.
const std::vector<std::string> damage_queries = {"apple",
                                                 "pear plum",
                                                 "\"reverse proxy\"",
                                                 "кошка собака",
                                                 "email",
                                                 "\"e mail\"",
                                                 "nginx -linux",
                                                 "debi",
                                                 "servre",
                                                 "🕊",
                                                 "uber apple pear plum nginx proxy"};

/// Runs every query on `index` and reads every document and every hit, so that a damaged
/// index that loaded is exercised as a server would use it.
void exercise(const search_index& index) {
    std::size_t total_bytes = 0;
    for (const std::string& query : damage_queries) {
        for (const bool prefix : {false, true}) {
            search_options options;
            options.limit = 20;
            options.prefix_last = prefix;
            const search_result result = index.search(query, options);
            for (const auto& hit : result.hits) {
                REQUIRE(hit.doc < index.document_count());
                total_bytes += index.document_at(hit.doc).text.size();
            }
        }
    }
    for (std::uint32_t doc = 0; doc < index.document_count(); ++doc) {
        const auto view = index.document_at(doc);
        total_bytes += view.id.size() + view.title.size() + view.url.size() + view.text.size();
    }
    CHECK(total_bytes > 0);
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
        fix_crc(bytes);
        write_bytes(old_version, bytes);
        const std::string message = load_error_of(old_version);
        CHECK_THAT(message, Catch::Contains("format version " +
                                            std::to_string(tgsearch::index_file_version + 1)));
        CHECK_THAT(message, Catch::Contains("rebuild it"));
    }
    SECTION("damaged version field") {
        const std::string damaged = folder.file("damaged_version.idx");
        std::string bytes = good;
        bytes[8] = static_cast<char>(bytes[8] ^ 0x01);
        write_bytes(damaged, bytes);
        const std::string message = load_error_of(damaged);
        CHECK_THAT(message, Catch::Contains("CRC-32"));
        CHECK_THAT(message, !Catch::Contains("format version"));
    }
    SECTION("rebuild hint names the file") {
        const std::string truncated = folder.file("cut.idx");
        write_bytes(truncated, good.substr(0, good.size() / 2));
        CHECK_THAT(load_error_of(truncated),
                   Catch::Contains("tgsearch index --corpus <your corpus> --output " + truncated));
    }
    SECTION("a folder") {
        const std::string message = load_error_of(folder.file(""));
        CHECK_THAT(message, Catch::Contains("is a folder"));
        CHECK_THAT(message, Catch::Contains("--corpus"));
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
        CHECK_THAT(message, Catch::Contains("this looks like a corpus file"));
        CHECK_THAT(message, Catch::Contains("--corpus"));
    }
}

TEST_CASE("index file rejects crafted contents", "[index_file]") {
    temporary_folder folder;
    const std::string path = folder.file("good.idx");
    tgsearch::write_index_file(*search_index::build(varied_documents()), path);
    const std::string good = read_bytes(path);
    const std::string crafted = folder.file("crafted.idx");

    SECTION("posting stream of 0xff bytes") {
        std::string bytes = good;
        const auto [offset, size] = section_of(bytes, posting_stream_section);
        std::memset(bytes.data() + offset, 0xff, size);
        fix_crc(bytes);
        write_bytes(crafted, bytes);
        const std::string message = load_error_of(crafted);
        CHECK_THAT(message, Catch::Contains(crafted));
        CHECK_THAT(message, Catch::Contains("is corrupted: in the posting list of term 0"));
    }
    SECTION("document bytes of 0xff bytes") {
        std::string bytes = good;
        const auto [offset, size] = section_of(bytes, document_bytes_section);
        std::memset(bytes.data() + offset, 0xff, size);
        fix_crc(bytes);
        write_bytes(crafted, bytes);
        CHECK_THAT(load_error_of(crafted), Catch::Contains("is corrupted: document 0"));
    }
    SECTION("every document frequency set to the document count") {
        std::string bytes = good;
        const auto [offset, size] = section_of(bytes, doc_frequency_section);
        const std::uint32_t document_count = 400;
        for (std::size_t at = offset; at < offset + size; at += sizeof(document_count)) {
            std::memcpy(bytes.data() + at, &document_count, sizeof(document_count));
        }
        fix_crc(bytes);
        write_bytes(crafted, bytes);
        CHECK_THAT(load_error_of(crafted), Catch::Contains("is corrupted: in the posting list"));
    }
    SECTION("bit width above 32") {
        // One term in one document: a list of one block, whose saturation comes first and
        // its three bit widths after it.
        tgsearch::write_index_file(*search_index::build({document{"a", "", "apple", ""}}), path);
        std::string bytes = read_bytes(path);
        const auto [offset, size] = section_of(bytes, posting_stream_section);
        REQUIRE(size > 8);
        bytes[offset + 4] = static_cast<char>(40);
        fix_crc(bytes);
        write_bytes(crafted, bytes);
        CHECK_THAT(load_error_of(crafted), Catch::Contains("bit width of 40"));
    }
    SECTION("NaN BM25 parameter") {
        std::string bytes = good;
        const auto [offset, size] = section_of(bytes, parameters_section);
        REQUIRE(size >= sizeof(float));
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(bytes.data() + offset, &nan, sizeof(nan));
        fix_crc(bytes);
        write_bytes(crafted, bytes);
        CHECK_THAT(load_error_of(crafted), Catch::Contains("BM25 parameters"));
    }
}

TEST_CASE("damaged index file loads or is rejected", "[index_file]") {
    temporary_folder folder;
    const std::string path = folder.file("good.idx");
    tgsearch::write_index_file(*search_index::build(varied_documents()), path);
    const std::string good = read_bytes(path);
    const std::string damaged = folder.file("damaged.idx");
    std::mt19937 random(20240601);
    std::size_t rejected = 0;
    std::size_t loaded = 0;
    for (int round = 0; round < 600; ++round) {
        std::string bytes = good;
        // Damage inside one section, or anywhere after the CRC field, so that most rounds get
        // past the header checks and reach the section contents.
        const std::size_t section = random() % (section_count + 1);
        std::size_t begin = 28;
        std::size_t end = bytes.size();
        if (section < section_count) {
            const auto [offset, size] = section_of(bytes, section);
            if (size == 0) continue;
            begin = offset;
            end = offset + size;
        }
        const int kind = static_cast<int>(random() % 4);
        const std::size_t at = begin + random() % (end - begin);
        const std::size_t length = std::min<std::size_t>(end - at, 1 + random() % 16);
        for (std::size_t i = at; i < at + length; ++i) {
            if (kind == 0) {
                bytes[i] = static_cast<char>(bytes[i] ^ (1 << (random() % 8)));
                break;  // one flipped bit
            }
            if (kind == 1) bytes[i] = static_cast<char>(random());
            if (kind == 2) bytes[i] = static_cast<char>(0xff);
            if (kind == 3) bytes[i] = static_cast<char>(bytes[i] + 1);
        }
        fix_crc(bytes);
        write_bytes(damaged, bytes);
        CAPTURE(round, section, kind, at, length);
        std::shared_ptr<const search_index> index;
        try {
            index = tgsearch::load_index_file(damaged);
        } catch (const index_file_error& error) {
            CHECK_THAT(error.what(), Catch::Contains(damaged));
            ++rejected;
            continue;
        }
        ++loaded;
        exercise(*index);
    }
    // Both outcomes occur: damage to a float or a letter of a text can leave a valid file.
    CHECK(rejected > 100);
    CHECK(loaded > 10);
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
