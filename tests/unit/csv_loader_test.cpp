#include "core/corpus_loader.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

using namespace tgsearch;

namespace {

const std::string fixtures = std::string(TGSEARCH_FIXTURES_DIR) + "/corpus/";

struct loaded_corpus {
    std::vector<document> docs;
    std::vector<load_error> errors;
    load_report report;

    const document* find(std::string_view id) const {
        const auto it = std::find_if(docs.begin(), docs.end(),
                                     [id](const document& doc) { return doc.id == id; });
        return it == docs.end() ? nullptr : &*it;
    }
};

loaded_corpus load_file(const std::string& name, const corpus_options& options = {}) {
    loaded_corpus corpus;
    corpus.report =
        load_corpus(fixtures + name, options, corpus.docs,
                    [&corpus](const load_error& error) { corpus.errors.push_back(error); });
    return corpus;
}

loaded_corpus load_bytes(std::string_view name, std::string_view bytes,
                         const corpus_options& options = {}) {
    loaded_corpus corpus;
    corpus.report =
        load_corpus_bytes(name, bytes, options, corpus.docs,
                          [&corpus](const load_error& error) { corpus.errors.push_back(error); });
    return corpus;
}

corpus_options with_columns(csv_columns columns) {
    corpus_options options;
    options.columns = std::move(columns);
    return options;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CSV

TEST_CASE("csv loads quoted fields, BOM and CRLF", "[csv]") {
    const loaded_corpus corpus = load_file("articles.csv");

    CHECK(corpus.errors.empty());
    CHECK(corpus.report.loaded == 5);
    CHECK(corpus.report.skipped == 0);
    REQUIRE(corpus.docs.size() == 5);

    // "id" is the first header name, right after the byte order mark.
    const document& plain = corpus.docs[0];
    CHECK(plain.id == "a1");
    CHECK(plain.title == "Plain row");
    CHECK(plain.text == "Simple text without quotes");
    CHECK(plain.url == "https://example.org/a1");

    const document* quoted = corpus.find("a2");
    REQUIRE(quoted != nullptr);
    CHECK(quoted->title == "Comma, inside");
    CHECK(quoted->text == "He said \"hello\", then left");

    const document* multi_line = corpus.find("a3");
    REQUIRE(multi_line != nullptr);
    CHECK(multi_line->text == "first line\nsecond line");
    CHECK(multi_line->url.empty());
}

TEST_CASE("csv missing id is generated from file name and line", "[csv]") {
    const loaded_corpus corpus = load_file("articles.csv");

    // The quoted line break of row a3 and the blank line both count as lines.
    const document* generated = corpus.find("articles.csv:7");
    REQUIRE(generated != nullptr);
    CHECK(generated->title == "No id");
}

TEST_CASE("csv trims id, title and url but keeps text", "[csv]") {
    const loaded_corpus corpus = load_file("articles.csv");

    const document* spaced = corpus.find("a5");
    REQUIRE(spaced != nullptr);
    CHECK(spaced->title == "Title with spaces");
    CHECK(spaced->text == "  text with spaces  ");
}

TEST_CASE("csv reports each malformed row with its line", "[csv]") {
    const loaded_corpus corpus = load_file("malformed.csv");

    std::vector<std::string> ids;
    for (const document& doc : corpus.docs) {
        ids.push_back(doc.id);
    }
    CHECK(ids == std::vector<std::string>{"ok1", "ok2", "ok3", "ok4"});
    CHECK(corpus.report.skipped == 5);

    struct expected_error {
        std::size_t line;
        const char* reason;
    };
    const std::vector<expected_error> expected = {
        {3, "row has 4 fields, but the header has 3"},
        {4, "row has 2 fields, but the header has 3"},
        {6, "unexpected 'j' after the closing quote of field 3"},
        {7, "row has no text"},
        {10, "unclosed quote: the quoted field 3 that starts on line 10"},
    };
    REQUIRE(corpus.errors.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO("error " << i << ": " << corpus.errors[i].reason);
        CHECK(corpus.errors[i].line == expected[i].line);
        CHECK_THAT(corpus.errors[i].reason, Catch::Contains(expected[i].reason));
        CHECK(corpus.errors[i].file == fixtures + "malformed.csv");
    }

    const document* doubled = corpus.find("ok2");
    REQUIRE(doubled != nullptr);
    CHECK(doubled->text == "quoted \"fine\"");
    const document* broken_line = corpus.find("ok3");
    REQUIRE(broken_line != nullptr);
    CHECK(broken_line->text == "after\nthe break");
}

TEST_CASE("csv columns are chosen by name in any case", "[csv]") {
    const std::string csv =
        "Key,Headline,Summary,Details,Link\n"
        "k1,Chosen title,first part,second part,https://example.org/k1\n"
        "k2,Only summary,just this,,\n";
    const loaded_corpus corpus = load_bytes(
        "chosen.csv", csv, with_columns({"key", "HEADLINE", {"summary", "details"}, "link"}));

    CHECK(corpus.errors.empty());
    REQUIRE(corpus.docs.size() == 2);
    CHECK(corpus.docs[0].id == "k1");
    CHECK(corpus.docs[0].title == "Chosen title");
    CHECK(corpus.docs[0].text == "first part\nsecond part");
    CHECK(corpus.docs[0].url == "https://example.org/k1");
    // An empty column adds no blank line to the joined text.
    CHECK(corpus.docs[1].text == "just this");
}

TEST_CASE("csv default text column falls back to content", "[csv]") {
    const loaded_corpus corpus = load_bytes("fallback.csv",
                                            "name,content,link\n"
                                            "n1,the content column,https://example.org/n1\n");

    REQUIRE(corpus.docs.size() == 1);
    CHECK(corpus.docs[0].text == "the content column");
    CHECK(corpus.docs[0].url == "https://example.org/n1");
    CHECK(corpus.docs[0].title.empty());
    CHECK(corpus.docs[0].id == "fallback.csv:2");
}

TEST_CASE("csv unknown column throws listing the header", "[csv]") {
    const std::string csv = "id,title,text\n1,a,b\n";
    std::vector<document> docs;
    CHECK_THROWS_WITH(
        load_corpus_bytes("cols.csv", csv, with_columns({"", "", {"body"}, ""}), docs, {}),
        Catch::Contains("text column \"body\" not found in cols.csv") &&
            Catch::Contains("\"id\", \"title\", \"text\"") &&
            Catch::Contains("--corpus cols.csv#text=COLUMN"));
    CHECK_THROWS_WITH(
        load_corpus_bytes("cols.csv", csv, with_columns({"uuid", "", {}, ""}), docs, {}),
        Catch::Contains("id column \"uuid\" not found") &&
            Catch::Contains("--corpus cols.csv#id=COLUMN"));
    CHECK(docs.empty());
}

TEST_CASE("csv per-source columns load two headers", "[csv]") {
    const std::string directory = std::filesystem::temp_directory_path() / "tgsearch-csv-sources";
    std::filesystem::create_directories(directory);
    const std::string faq = directory + "/faq.csv";
    const std::string tsv = directory + "/t.tsv";
    {
        std::ofstream(faq)
            << "qid,q,a,link\n1,How to install?,\"Use apt, then reboot\",https://x/1\n";
        std::ofstream(tsv) << "id\ttitle\ttext\turl\nt1\tTab title\tquokka text\t\n";
    }
    corpus_options global;
    std::vector<document> docs;
    // Without per-source columns the FAQ has no text column that the defaults find.
    CHECK_THROWS_WITH(load_corpus(faq, global, docs, {}), Catch::Contains("has no text column"));

    for (const std::string& argument : {faq + "#text=q,a;title=q;id=qid;url=link", tsv}) {
        const corpus_source source = parse_corpus_source(argument, global);
        const load_report report = load_corpus(source.path, source.options, docs, {});
        CHECK(report.loaded == 1);
    }
    std::filesystem::remove_all(directory);
    REQUIRE(docs.size() == 2);
    CHECK(docs[0].id == "1");
    CHECK(docs[0].title == "How to install?");
    CHECK(docs[0].text == "How to install?\nUse apt, then reboot");
    CHECK(docs[0].url == "https://x/1");
    CHECK(docs[1].id == "t1");
    CHECK(docs[1].text == "quokka text");
}

TEST_CASE("csv row with a wrong field count names the fix", "[csv]") {
    const loaded_corpus csv = load_bytes("fields.csv", "id,text\n1,a,b\n2,ok\n");
    REQUIRE(csv.errors.size() == 1);
    CHECK_THAT(csv.errors[0].reason, Catch::Contains("row has 3 fields, but the header has 2") &&
                                         Catch::Contains("check the row's quoting"));
    const loaded_corpus tsv = load_bytes("fields.tsv", "id\ttext\n1\ta\tb\n");
    REQUIRE(tsv.errors.size() == 1);
    CHECK_THAT(tsv.errors[0].reason, Catch::Contains("tabs between fields"));
}

TEST_CASE("csv without a text column throws with the fix", "[csv]") {
    std::vector<document> docs;
    CHECK_THROWS_WITH(
        load_corpus_bytes("notext.csv", "id,title\n1,a\n", corpus_options{}, docs, {}),
        Catch::Contains("notext.csv has no text column") && Catch::Contains("--text-column") &&
            Catch::Contains("\"id\", \"title\""));
}

TEST_CASE("csv header with an unclosed quote throws", "[csv]") {
    std::vector<document> docs;
    CHECK_THROWS_WITH(
        load_corpus_bytes("header.csv", "id,\"text\n1,a\n", corpus_options{}, docs, {}),
        Catch::Contains("header row of header.csv") && Catch::Contains("unclosed quote"));
}

TEST_CASE("csv last row without a line break loads", "[csv]") {
    const loaded_corpus corpus = load_bytes("tail.csv", "id,text\n1,one\n2,\"two\"");

    CHECK(corpus.errors.empty());
    REQUIRE(corpus.docs.size() == 2);
    CHECK(corpus.docs[1].text == "two");

    const loaded_corpus trailing_comma = load_bytes("comma.csv", "id,text,url\n1,one,");
    CHECK(trailing_comma.errors.empty());
    REQUIRE(trailing_comma.docs.size() == 1);
    CHECK(trailing_comma.docs[0].url.empty());
}

TEST_CASE("csv quote inside an unquoted field is a character", "[csv]") {
    const loaded_corpus corpus = load_bytes("inch.csv", "id,text\n1,a 5\" screen\n");

    CHECK(corpus.errors.empty());
    REQUIRE(corpus.docs.size() == 1);
    CHECK(corpus.docs[0].text == "a 5\" screen");
}

// ---------------------------------------------------------------------------------------------
// TSV

TEST_CASE("tsv decodes backslash escapes and keeps quotes", "[csv]") {
    const loaded_corpus corpus = load_file("articles.tsv");

    CHECK(corpus.errors.empty());
    REQUIRE(corpus.docs.size() == 2);
    CHECK(corpus.docs[0].id == "t1");
    CHECK(corpus.docs[0].text == "column\tvalue, line\nbreak, back\\slash, C:\\dir");
    CHECK(corpus.docs[0].url == "https://example.org/t1");
    CHECK(corpus.docs[1].title == "\"quotes\" stay");
    CHECK(corpus.docs[1].text == "plain \"text\"");
}

TEST_CASE("tsv reports wrong field counts", "[csv]") {
    const loaded_corpus corpus = load_bytes("rows.tsv",
                                            "id\ttext\r\n"
                                            "1\tone\r\n"
                                            "2\ttwo\textra\r\n"
                                            "3\r\n"
                                            "4\tfour\r\n");

    REQUIRE(corpus.docs.size() == 2);
    CHECK(corpus.docs[0].text == "one");
    CHECK(corpus.docs[1].text == "four");
    REQUIRE(corpus.errors.size() == 2);
    CHECK(corpus.errors[0].line == 3);
    CHECK(corpus.errors[1].line == 4);
    CHECK_THAT(corpus.errors[1].reason, Catch::Contains("row has 1 fields"));
}

// ---------------------------------------------------------------------------------------------
// Format and size

TEST_CASE("csv and tsv are detected from the file name", "[csv]") {
    const std::string csv = "id,text\n1,a\tb\n";
    for (const char* name : {"data.csv", "DATA.CSV", "dir/data.csv.gz"}) {
        INFO(name);
        const loaded_corpus corpus = load_bytes(name, csv);
        REQUIRE(corpus.docs.size() == 1);
        CHECK(corpus.docs[0].text == "a\tb");
    }
    const std::string tsv = "id\ttext\n1\ta,b\n";
    for (const char* name : {"data.tsv", "data.tab", "data.tsv.gz"}) {
        INFO(name);
        const loaded_corpus corpus = load_bytes(name, tsv);
        REQUIRE(corpus.docs.size() == 1);
        CHECK(corpus.docs[0].text == "a,b");
    }
}

TEST_CASE("csv 10 MB quoted field loads in linear time", "[csv]") {
    std::string big_text(std::size_t{10} << 20, 'x');
    for (std::size_t i = 1000; i < big_text.size(); i += 1000) {
        big_text[i] = i % 3000 == 0 ? '\n' : ',';
    }
    const std::string csv = "id,text\nbig,\"" + big_text + "\"\nsmall,after\n";

    const auto started = std::chrono::steady_clock::now();
    const loaded_corpus corpus = load_bytes("big.csv", csv);
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;

    CHECK(corpus.errors.empty());
    REQUIRE(corpus.docs.size() == 2);
    CHECK(corpus.docs[0].text.size() == big_text.size());
    CHECK(corpus.docs[1].id == "small");
    // A pass over 10 MB takes milliseconds; a quadratic one would take hours.
    CHECK(seconds.count() < 10.0);
}

TEST_CASE("csv 10 MB row of tiny fields is one error", "[csv]") {
    std::string row = "r";
    row.reserve(std::size_t{10} << 20);
    while (row.size() < (std::size_t{10} << 20)) {
        row += ",x";
    }
    const std::string csv = "id,text\n" + row + "\nok,fine\n";
    const loaded_corpus corpus = load_bytes("wide.csv", csv);

    REQUIRE(corpus.errors.size() == 1);
    CHECK(corpus.errors[0].line == 2);
    CHECK_THAT(corpus.errors[0].reason, Catch::Contains("fields, but the header has 2"));
    REQUIRE(corpus.docs.size() == 1);
    CHECK(corpus.docs[0].id == "ok");
}

TEST_CASE("csv stray quote loses only its own row", "[csv]") {
    std::string csv = "id,text\nstray,\"opened and never closed\n";
    for (int i = 0; i < 100000; ++i) {
        csv += std::to_string(i) + ",row text\n";
    }
    const loaded_corpus corpus = load_bytes("stray.csv", csv);

    REQUIRE(corpus.errors.size() == 1);
    CHECK(corpus.errors[0].line == 2);
    CHECK_THAT(corpus.errors[0].reason, Catch::Contains("unclosed quote"));
    REQUIRE(corpus.docs.size() == 100000);
    CHECK(corpus.docs.front().id == "0");
    CHECK(corpus.docs.back().id == "99999");
}

// ---------------------------------------------------------------------------------------------
// Files that are not what their name says

TEST_CASE("utf-16 and utf-32 files are reported with a conversion hint", "[csv]") {
    const std::string text = "id\ttitle\ttext\nu1\tT\tgerbil\n";
    std::string utf16le = "\xFF\xFE";
    std::string utf16be = "\xFE\xFF";
    std::string bare16;
    for (const char c : text) {
        utf16le += c;
        utf16le += '\0';
        utf16be += '\0';
        utf16be += c;
        bare16 += c;
        bare16 += '\0';
    }
    using Catch::Matchers::Contains;
    const loaded_corpus little_endian = load_bytes("u.tsv", utf16le);
    CHECK(little_endian.docs.empty());
    CHECK_THAT(little_endian.report.damage, Contains("is UTF-16 text") &&
                                                Contains("iconv -f UTF-16 -t UTF-8") &&
                                                Contains("u-utf8.tsv"));
    CHECK_THAT(load_bytes("u.tsv", utf16be).report.damage, Contains("is UTF-16 text"));
    CHECK_THAT(load_bytes("notes.jsonl", bare16).report.damage, Contains("is UTF-16 text"));
    CHECK_THAT(load_bytes("u.csv", std::string("\xFF\xFE\0\0i\0\0\0", 8)).report.damage,
               Contains("is UTF-32 text"));
    // UTF-8 text with a few NUL bytes is not mistaken for UTF-16.
    const loaded_corpus with_nul =
        load_bytes("ok.csv", std::string("id,title,text\n1,a,b\0c\n2,d,e\n", 28));
    CHECK(with_nul.report.damage.empty());
    CHECK(with_nul.docs.size() == 1);
}

TEST_CASE("csv header errors hint at the real format", "[csv]") {
    using Catch::Matchers::Contains;
    CHECK_THROWS_WITH(load_bytes("x.csv", "{\"id\": \"1\", \"text\": \"a\"}\n"),
                      Contains("looks like JSON") && Contains("--format jsonl"));
    CHECK_THROWS_WITH(load_bytes("x.csv", "id;title;text\n1;a;b\n"),
                      Contains("one column that contains ';'"));
    CHECK_THROWS_WITH(load_bytes("x.csv", "id,title,body2\r1,a,b\r"),
                      Contains("bare carriage return"));
}

TEST_CASE("a file named .gz that is not gzip loads nothing", "[csv]") {
    const auto path = std::filesystem::temp_directory_path() / "tgsearch-not-gzip.csv.gz";
    {
        std::ofstream file(path, std::ios::binary);
        file << "id,title,text\n1,a,b\n";
    }
    loaded_corpus corpus;
    corpus.report = load_corpus(path, corpus_options{}, corpus.docs, nullptr);
    std::filesystem::remove(path);
    CHECK(corpus.docs.empty());
    CHECK_THAT(corpus.report.damage, Catch::Matchers::Contains(path.string() + " is damaged"));
    CHECK_THAT(corpus.report.damage, Catch::Matchers::Contains("not gzip data"));
}
