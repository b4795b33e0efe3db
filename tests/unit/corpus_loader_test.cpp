#include "core/corpus_loader.hpp"
#include "app/sample_corpus.hpp"
#include "core/gzip.hpp"

#include <catch2/catch.hpp>

#include <simdjson.h>
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <iterator>
#include <stdexcept>
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

loaded_corpus load_file(const std::string& name, corpus_format format = corpus_format::detect) {
    loaded_corpus corpus;
    corpus.report =
        load_corpus_file(fixtures + name, format, corpus.docs,
                         [&corpus](const load_error& error) { corpus.errors.push_back(error); });
    return corpus;
}

loaded_corpus load_bytes(std::string_view name, std::string_view bytes,
                         corpus_format format = corpus_format::detect) {
    loaded_corpus corpus;
    corpus.report =
        load_corpus_bytes(name, bytes, format, corpus.docs,
                          [&corpus](const load_error& error) { corpus.errors.push_back(error); });
    return corpus;
}

std::string read_fixture(const std::string& name) {
    std::ifstream file(fixtures + name, std::ios::binary);
    REQUIRE(file);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::string gzip_bytes(std::string_view plain) {
    z_stream stream{};
    REQUIRE(deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                         Z_DEFAULT_STRATEGY) == Z_OK);
    std::string compressed(deflateBound(&stream, static_cast<uLong>(plain.size())), '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
    stream.avail_in = static_cast<uInt>(plain.size());
    stream.next_out = reinterpret_cast<Bytef*>(compressed.data());
    stream.avail_out = static_cast<uInt>(compressed.size());
    REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
    compressed.resize(stream.total_out);
    deflateEnd(&stream);
    return compressed;
}

std::size_t count_code_points(std::string_view text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

bool is_valid_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        if (lead < 0x80) {
            length = 1;
        } else if (lead >> 5 == 0x6) {
            length = 2;
        } else if (lead >> 4 == 0xE) {
            length = 3;
        } else if (lead >> 3 == 0x1E) {
            length = 4;
        }
        if (length == 0 || i + length > text.size()) {
            return false;
        }
        for (std::size_t k = 1; k < length; ++k) {
            if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
                return false;
            }
        }
        i += length;
    }
    return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// JSON Lines

TEST_CASE("jsonl loads every field of good records", "[corpus]") {
    const loaded_corpus corpus = load_file("records.jsonl");

    CHECK(corpus.errors.empty());
    CHECK(corpus.report.loaded == 7);
    CHECK(corpus.report.skipped == 0);
    CHECK(corpus.report.ignored == 0);
    REQUIRE(corpus.docs.size() == 7);

    const document& first = corpus.docs[0];
    CHECK(first.id == "doc:1");
    CHECK(first.title == "First document");
    CHECK(first.text == "Plain text of the first document.");
    CHECK(first.url == "https://example.org/1");

    const document* escaped = corpus.find("doc:6");
    REQUIRE(escaped != nullptr);
    CHECK(escaped->title.empty());
    CHECK(escaped->text == "Only text, no title: \u00e9t\u00e9 \"quoted\"\nsecond line");

    const document* title_only = corpus.find("doc:7");
    REQUIRE(title_only != nullptr);
    CHECK(title_only->title == "Only a title");
    CHECK(title_only->text.empty());
}

TEST_CASE("jsonl null or missing url leaves url empty", "[corpus]") {
    const loaded_corpus corpus = load_file("records.jsonl");

    const document* null_url = corpus.find("doc:2");
    REQUIRE(null_url != nullptr);
    CHECK(null_url->url.empty());
    const document* missing_url = corpus.find("doc:3");
    REQUIRE(missing_url != nullptr);
    CHECK(missing_url->url.empty());
}

TEST_CASE("jsonl integer id becomes its decimal text", "[corpus]") {
    const loaded_corpus corpus = load_file("records.jsonl");

    const document* integer_id = corpus.find("42");
    REQUIRE(integer_id != nullptr);
    CHECK(integer_id->title == "Integer id");

    const loaded_corpus big = load_bytes("ids.jsonl",
                                         "{\"id\":18446744073709551615,\"text\":\"a\"}\n"
                                         "{\"id\":-7,\"text\":\"b\"}\n");
    CHECK(big.errors.empty());
    CHECK(big.find("18446744073709551615") != nullptr);
    CHECK(big.find("-7") != nullptr);
}

TEST_CASE("jsonl missing id is generated from file name and line", "[corpus]") {
    const loaded_corpus corpus = load_file("records.jsonl");

    const document* generated = corpus.find("records.jsonl:5");
    REQUIRE(generated != nullptr);
    CHECK(generated->title == "No id");
}

TEST_CASE("jsonl reports each malformed line and skips only it", "[corpus]") {
    const loaded_corpus corpus = load_file("malformed.jsonl");

    REQUIRE(corpus.docs.size() == 3);
    CHECK(corpus.docs[0].id == "ok:1");
    CHECK(corpus.docs[1].id == "ok:2");
    CHECK(corpus.docs[2].id == "ok:3");
    CHECK(corpus.report.loaded == 3);
    CHECK(corpus.report.skipped == 7);
    CHECK(corpus.report.ignored == 0);

    struct expected_error {
        std::size_t line;
        const char* reason;
    };
    const std::vector<expected_error> expected = {
        {2, "invalid JSON"},                     // unterminated string
        {3, "record is not a JSON object"},      // an array
        {4, "field \"text\" is not a string"},   // a number
        {7, "\"text\" and \"title\" are both"},  // both empty
        {8, "invalid JSON"},                     // content after the object
        {9, "invalid JSON"},                     // `tru` inside an unread field
        {11, "invalid JSON"},                    // last line cut off, no newline
    };
    REQUIRE(corpus.errors.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO("error " << i << ": " << corpus.errors[i].reason);
        CHECK(corpus.errors[i].line == expected[i].line);
        CHECK_THAT(corpus.errors[i].reason, Catch::Contains(expected[i].reason));
        CHECK(corpus.errors[i].file == fixtures + "malformed.jsonl");
    }
    CHECK_THAT(corpus.errors[2].reason, Catch::Contains("found a number"));
}

TEST_CASE("jsonl wrongly typed fields are reported by name", "[corpus]") {
    const loaded_corpus corpus = load_bytes("types.jsonl",
                                            "{\"id\":1.5,\"text\":\"a\"}\n"
                                            "{\"id\":\"t\",\"title\":[],\"text\":\"a\"}\n"
                                            "{\"id\":\"u\",\"text\":\"a\",\"url\":false}\n"
                                            "{\"id\":\"v\",\"text\":null,\"title\":null}\n");

    // A url of the wrong type costs only the link: the record loads with a warning.
    REQUIRE(corpus.docs.size() == 1);
    CHECK(corpus.docs[0].id == "u");
    CHECK(corpus.docs[0].url.empty());
    CHECK(corpus.report.skipped == 3);
    REQUIRE(corpus.errors.size() == 4);
    CHECK_THAT(corpus.errors[0].reason, Catch::Contains("field \"id\" is not a string or an "
                                                        "integer (found a fraction)"));
    CHECK_FALSE(corpus.errors[0].record_kept);
    CHECK_THAT(corpus.errors[1].reason, Catch::Contains("field \"title\" is not a string"));
    CHECK_THAT(corpus.errors[2].reason,
               Catch::Contains("field \"url\" is not a string (found a boolean), so the record "
                               "loaded without a link"));
    CHECK(corpus.errors[2].record_kept);
    CHECK(corpus.errors[2].line == 3);
    CHECK_THAT(corpus.errors[3].reason, Catch::Contains("record has no text"));
}

TEST_CASE("jsonl record with a title and no text loads", "[corpus]") {
    const loaded_corpus corpus = load_bytes("titles.jsonl",
                                            "{\"id\":\"t\",\"title\":\"only a title\"}\n"
                                            "{\"id\":\"n\",\"url\":\"https://x.org/\"}\n");
    REQUIRE(corpus.docs.size() == 1);
    CHECK(corpus.docs[0].title == "only a title");
    CHECK(corpus.docs[0].text.empty());
    REQUIRE(corpus.errors.size() == 1);
    CHECK(corpus.errors[0].line == 2);
    CHECK_THAT(corpus.errors[0].reason, Catch::Contains("record has no text"));
}

TEST_CASE("loaders report the line of each document", "[corpus]") {
    const loaded_corpus jsonl = load_bytes("lines.jsonl",
                                           "{\"id\":\"a\",\"text\":\"x\"}\n\n"
                                           "not json\n"
                                           "{\"id\":\"b\",\"text\":\"y\"}\n");
    CHECK(jsonl.report.lines == std::vector<std::size_t>{1, 4});
    const loaded_corpus csv = load_bytes("lines.csv", "id,text\n1,\"two\nlines\"\n2,b\n");
    CHECK(csv.report.lines == std::vector<std::size_t>{2, 4});
    const loaded_corpus telegram = load_bytes("result.json",
                                              "{\"type\":\"public_channel\",\"id\":9,\n"
                                              "\"messages\":[\n"
                                              "{\"id\":1,\"type\":\"message\",\"text\":\"a\"},\n"
                                              "{\"id\":2,\"type\":\"message\",\"text\":\"b\"}]}\n");
    CHECK(telegram.report.lines == std::vector<std::size_t>{3, 4});
}

TEST_CASE("jsonl blank lines are skipped without errors", "[corpus]") {
    const loaded_corpus corpus = load_bytes("blank.jsonl",
                                            "\n   \n\t\n{\"id\":\"a\",\"text\":\"x\"}\n\n"
                                            "{\"text\":\"y\"}\n\n");

    CHECK(corpus.errors.empty());
    REQUIRE(corpus.docs.size() == 2);
    CHECK(corpus.docs[0].id == "a");
    CHECK(corpus.docs[1].id == "blank.jsonl:6");
}

TEST_CASE("jsonl invalid UTF-8 line is reported and skipped", "[corpus]") {
    const loaded_corpus corpus = load_bytes("utf8.jsonl",
                                            "{\"id\":\"a\",\"text\":\"ok\"}\n"
                                            "{\"id\":\"b\",\"text\":\"bad \xff\xfe\"}\n"
                                            "{\"id\":\"c\",\"text\":\"ok\"}\n");

    REQUIRE(corpus.docs.size() == 2);
    CHECK(corpus.docs[1].id == "c");
    REQUIRE(corpus.errors.size() == 1);
    CHECK(corpus.errors[0].line == 2);
    CHECK_THAT(corpus.errors[0].reason, Catch::Contains("not valid UTF-8"));
    CHECK_THAT(corpus.errors[0].reason, Catch::Contains("iconv -f LATIN1 -t UTF-8"));
}

TEST_CASE("jsonl gzip with two members loads like the plain file", "[corpus]") {
    const loaded_corpus plain = load_file("records.jsonl");
    const loaded_corpus compressed = load_file("records.jsonl.gz");

    CHECK(compressed.errors.empty());
    REQUIRE(compressed.docs.size() == plain.docs.size());
    for (std::size_t i = 0; i < plain.docs.size(); ++i) {
        if (plain.docs[i].id == "records.jsonl:5") {
            // A generated id names the file it came from.
            CHECK(compressed.docs[i].id == "records.jsonl.gz:5");
        } else {
            CHECK(compressed.docs[i].id == plain.docs[i].id);
        }
        CHECK(compressed.docs[i].title == plain.docs[i].title);
        CHECK(compressed.docs[i].text == plain.docs[i].text);
        CHECK(compressed.docs[i].url == plain.docs[i].url);
    }
}

TEST_CASE("jsonl byte order mark and CRLF endings are accepted", "[corpus]") {
    const loaded_corpus corpus = load_file("bom.jsonl");

    CHECK(corpus.errors.empty());
    REQUIRE(corpus.docs.size() == 2);
    CHECK(corpus.docs[0].id == "bom:1");
    CHECK(corpus.docs[0].text == "first line after a byte order mark");
    CHECK(corpus.docs[1].id == "bom:2");
}

TEST_CASE("damaged gzip is reported with the fix", "[corpus]") {
    const std::string compressed = read_fixture("records.jsonl.gz");
    const loaded_corpus whole = load_bytes("whole.jsonl.gz", compressed);
    REQUIRE(whole.report.damage.empty());

    const loaded_corpus cut = load_bytes(
        "cut.jsonl.gz", compressed.substr(0, compressed.size() / 2), corpus_format::jsonl);
    CHECK_THAT(cut.report.damage, Catch::Contains("cut.jsonl.gz is damaged: the gzip data is "
                                                  "truncated"));
    CHECK_THAT(cut.report.damage, Catch::Contains("gzip -t"));
    CHECK_THAT(cut.report.damage, Catch::Contains("re-download or re-export it"));
    CHECK(cut.report.loaded == cut.docs.size());
    CHECK(cut.docs.size() < whole.docs.size());

    std::string corrupt = compressed;
    corrupt[12] = static_cast<char>(corrupt[12] ^ 0x5a);
    corrupt[13] = static_cast<char>(corrupt[13] ^ 0xa5);
    const loaded_corpus bad = load_bytes("bad.jsonl.gz", corrupt, corpus_format::jsonl);
    CHECK_THAT(bad.report.damage, Catch::Contains("bad.jsonl.gz is damaged: the gzip data is "
                                                  "corrupt"));

    const loaded_corpus tail = load_bytes("tail.jsonl.gz", compressed + "garbage");
    CHECK_THAT(tail.report.damage, Catch::Contains("other data follows the gzip data"));
    CHECK(tail.docs.size() == whole.docs.size());
}

TEST_CASE("gunzip joins members and skips zero padding", "[corpus]") {
    // The trailer of the last member gives a size hint far below the first member's size, so
    // the output buffer has to grow many times. The empty member in the middle adds nothing.
    const std::string first(std::size_t{1} << 20, 'a');
    const std::string second = "second member\n";
    const std::string compressed =
        gzip_bytes(first) + gzip_bytes("") + gzip_bytes(second) + std::string(512, '\0');

    const detail::gunzip_result result = detail::gunzip("members.gz", compressed);
    CHECK(result.damage.empty());
    const detail::padded_buffer& plain = result.content;

    CHECK(plain.size() == first.size() + second.size());
    CHECK(plain.view() == first + second);
    // simdjson reads past the content, so the padding must be zeroes rather than stale bytes.
    const std::string_view padding(plain.data() + plain.size(), simdjson::SIMDJSON_PADDING);
    CHECK(padding.find_first_not_of('\0') == std::string_view::npos);
}

TEST_CASE("gunzip reports data without gzip header", "[corpus]") {
    CHECK_FALSE(detail::is_gzip("plain text"));
    const detail::gunzip_result result = detail::gunzip("plain.txt", "plain text");
    CHECK_THAT(result.damage, Catch::Contains("corrupt"));
    CHECK(result.content.size() == 0);
}

TEST_CASE("gunzip reports empty input as truncated", "[corpus]") {
    CHECK_THAT(detail::gunzip("empty.gz", "").damage, Catch::Contains("truncated"));
}

TEST_CASE("gunzip rejects member with bad CRC", "[corpus]") {
    std::string compressed = gzip_bytes("text whose checksum is damaged\n");
    REQUIRE(detail::is_gzip(compressed));
    // The trailer is the CRC-32 of the content followed by its size, four bytes each.
    const std::size_t crc_offset = compressed.size() - 8;
    compressed[crc_offset] = static_cast<char>(compressed[crc_offset] ^ 0xff);

    const detail::gunzip_result result = detail::gunzip("crc.gz", compressed);
    CHECK_THAT(result.damage, Catch::Contains("incorrect data check"));
    CHECK(result.content.view() == "text whose checksum is damaged\n");
}

// ---------------------------------------------------------------------------------------------
// Telegram Desktop export

TEST_CASE("telegram single chat export loads text messages", "[corpus]") {
    const loaded_corpus corpus = load_file("supergroup_export.json");

    CHECK(corpus.report.loaded == 5);
    CHECK(corpus.report.ignored == 3);  // a service message, a photo without text, unsupported
    CHECK(corpus.report.skipped == 1);
    REQUIRE(corpus.docs.size() == 5);

    const document* plain = corpus.find("1500000001:2");
    REQUIRE(plain != nullptr);
    CHECK(plain->text == "How do I rebuild a package from source?");
    CHECK(plain->title == "How do I rebuild a package from source?");
    CHECK(plain->url == "https://t.me/c/1500000001/2");

    const document* entities = corpus.find("1500000001:3");
    REQUIRE(entities != nullptr);
    CHECK(entities->text ==
          "Run apt-get source hello, then dpkg-buildpackage. See the guide "
          "#packaging");

    const document* mention = corpus.find("1500000001:9");
    REQUIRE(mention != nullptr);
    CHECK(mention->text == "@bob thanks, it works \U0001F44D");

    CHECK(corpus.find("1500000001:1") == nullptr);
    CHECK(corpus.find("1500000001:4") == nullptr);
    CHECK(corpus.find("1500000001:6") == nullptr);
    CHECK(corpus.find("1500000001:8") == nullptr);
}

TEST_CASE("telegram hex escapes are repaired, escaped backslashes kept", "[corpus]") {
    const loaded_corpus corpus = load_file("supergroup_export.json");

    const document* repaired = corpus.find("1500000001:5");
    REQUIRE(repaired != nullptr);
    CHECK(repaired->text == "first line\nsecond line with a literal \\x41");
    CHECK(repaired->title == "first line");
}

TEST_CASE("telegram malformed message is reported with its line", "[corpus]") {
    const loaded_corpus corpus = load_file("supergroup_export.json");

    REQUIRE(corpus.errors.size() == 1);
    CHECK(corpus.errors[0].file == fixtures + "supergroup_export.json");
    CHECK(corpus.errors[0].line == 103);  // the line of the message's opening brace
    CHECK_THAT(corpus.errors[0].reason,
               Catch::Contains("field \"text\" is not a string or an array (found a number)"));
}

TEST_CASE("telegram title is the first line cut at a word", "[corpus]") {
    const loaded_corpus corpus = load_file("supergroup_export.json");

    const document* long_text = corpus.find("1500000001:7");
    REQUIRE(long_text != nullptr);
    const std::string& title = long_text->title;
    const std::string ellipsis = "\u2026";
    REQUIRE(title.ends_with(ellipsis));
    CHECK(is_valid_utf8(title));
    CHECK(count_code_points(title) <= 80);
    CHECK(count_code_points(title) > 40);

    const std::string head = title.substr(0, title.size() - ellipsis.size());
    REQUIRE(long_text->text.starts_with(head));
    CHECK(long_text->text[head.size()] == ' ');
    CHECK(long_text->text.find('\n') > head.size());
}

TEST_CASE("telegram titles never split a UTF-8 sequence", "[corpus]") {
    // 100 two-byte letters without a space: the cut must fall between code points.
    std::string word;
    for (int i = 0; i < 100; ++i) {
        word += "\u0436";
    }
    const std::string json =
        "{\"type\":\"personal_chat\",\"id\":5,\"messages\":[{\"id\":1,"
        "\"type\":\"message\",\"text\":\"" +
        word + "\"}]}";
    const loaded_corpus corpus = load_bytes("result.json", json);

    REQUIRE(corpus.docs.size() == 1);
    CHECK(is_valid_utf8(corpus.docs[0].title));
    CHECK(count_code_points(corpus.docs[0].title) == 80);
    CHECK(corpus.docs[0].url.empty());
}

TEST_CASE("telegram full account export loads every chat", "[corpus]") {
    const loaded_corpus corpus = load_file("account_export.json");

    CHECK(corpus.errors.empty());
    CHECK(corpus.report.loaded == 4);
    CHECK(corpus.report.ignored == 1);
    REQUIRE(corpus.docs.size() == 4);

    const document* personal = corpus.find("1002:12");
    REQUIRE(personal != nullptr);
    CHECK(personal->text == "Yes, postfix runs the new version now.");
    CHECK(personal->url.empty());
    CHECK(corpus.find("1002:11") != nullptr);

    const document* channel = corpus.find("1600000002:2");
    REQUIRE(channel != nullptr);
    CHECK(channel->text == "Version 2.0 is out with faster search.");
    CHECK(channel->url == "https://t.me/c/1600000002/2");

    const document* left_group = corpus.find("1700000003:5");
    REQUIRE(left_group != nullptr);
    CHECK(left_group->url.empty());
}

TEST_CASE("telegram channel excerpt loads posts and skips service", "[corpus]") {
    const loaded_corpus corpus = load_file("channel_excerpt.json");

    // Messages 1 and 2 of the excerpt are service messages, and the other 28 are posts.
    CHECK(corpus.errors.empty());
    CHECK(corpus.report.loaded == 28);
    CHECK(corpus.report.ignored == 2);
    REQUIRE(corpus.docs.size() == 28);
    for (const document& doc : corpus.docs) {
        CHECK(doc.id.starts_with("1638471920:"));
        CHECK(doc.url == "https://t.me/c/" + doc.id.substr(0, 10) + "/" + doc.id.substr(11));
        CHECK_FALSE(doc.title.empty());
        CHECK(is_valid_utf8(doc.title));
    }

    const document* persian = corpus.find("1638471920:4");
    REQUIRE(persian != nullptr);
    CHECK(persian->title == "\u2728 \u062a\u0642\u0648\u06cc\u0645");
    CHECK(persian->text.starts_with(persian->title + "\n"));
    CHECK(persian->text.find("https://") == std::string::npos);  // text_link keeps its label
    CHECK(
        persian->text.ends_with("#\u0646\u0631\u0645\u200c\u0627\u0641\u0632\u0627\u0631 "
                                "#\u0646\u0631\u0645\u200c\u0627\u0641\u0632\u0627\u0631_"
                                "\u0622\u0632\u0627\u062f"));
}

TEST_CASE("telegram damaged JSON keeps the messages before it", "[corpus]") {
    const std::string broken =
        "{\n \"type\": \"public_channel\",\n \"id\": 1,\n \"messages\": [\n"
        "  {\"id\": 1, \"type\": \"message\", \"text\": \"hello\"},\n"
        "  {\"id\": 2, \"text\": tru}\n ]\n}\n";
    const loaded_corpus partial = load_bytes("broken.json", broken);
    REQUIRE(partial.docs.size() == 1);
    CHECK(partial.docs[0].id == "1:1");
    CHECK(partial.docs[0].url == "https://t.me/c/1/1");
    CHECK(partial.report.loaded == 1);
    CHECK_THAT(partial.report.damage,
               Catch::Contains("broken.json is damaged: it is not valid JSON near line 6"));
    CHECK_THAT(partial.report.damage, Catch::Contains("loaded the 1 document read before"));

    const loaded_corpus cut = load_bytes("cut.json", "{\"messages\": [{\"id\": 1, \"text\": \"a");
    CHECK(cut.docs.empty());
    CHECK_THAT(cut.report.damage, Catch::Contains("cut.json is damaged"));
}

TEST_CASE("telegram non-export throws naming the file", "[corpus]") {
    std::vector<document> docs(1);
    CHECK_THROWS_WITH(load_corpus_bytes("list.json", "[1, 2]", corpus_format::detect, docs, {}),
                      Catch::Contains("list.json is not a Telegram Desktop export"));
    CHECK_THROWS_WITH(
        load_corpus_bytes("other.json", "{\"a\": 1}", corpus_format::detect, docs, {}),
        Catch::Contains("no \"messages\" or \"chats\" field"));
    CHECK(docs.size() == 1);
}

// ---------------------------------------------------------------------------------------------
// Format detection and arguments

TEST_CASE("format is detected from the file name", "[corpus]") {
    const std::string jsonl = "{\"id\":\"a\",\"text\":\"x\"}\n";
    const std::string export_json = read_fixture("account_export.json");

    for (const char* name : {"data.jsonl", "DATA.JSONL", "data.ndjson", "dir/data.jsonl.gz"}) {
        INFO(name);
        const loaded_corpus corpus = load_bytes(name, jsonl);
        CHECK(corpus.report.loaded == 1);
        CHECK(corpus.errors.empty());
    }
    for (const char* name : {"result.json", "export/result.json", "chat.json", "chat.json.gz"}) {
        INFO(name);
        const loaded_corpus corpus = load_bytes(name, export_json);
        CHECK(corpus.report.loaded == 4);
    }
}

TEST_CASE("format is detected from the first line", "[corpus]") {
    const loaded_corpus jsonl = load_bytes("corpus.txt",
                                           "\n\n{\"id\":\"a\",\"text\":\"x\"}\n"
                                           "{\"id\":\"b\",\"text\":\"y\"}\n");
    CHECK(jsonl.report.loaded == 2);
    CHECK(jsonl.errors.empty());

    const loaded_corpus indented = load_bytes("corpus.txt", read_fixture("account_export.json"));
    CHECK(indented.report.loaded == 4);

    const std::string minified =
        "{\"type\":\"public_channel\",\"id\":7,\"messages\":[{\"id\":1,"
        "\"type\":\"message\",\"text\":\"one line export\"}]}";
    const loaded_corpus one_line = load_bytes("corpus.txt", minified);
    REQUIRE(one_line.docs.size() == 1);
    CHECK(one_line.docs[0].id == "7:1");

    const loaded_corpus compressed =
        load_bytes("corpus.bin", gzip_bytes(read_fixture("bom.jsonl")));
    CHECK(compressed.report.loaded == 2);
}

TEST_CASE("explicit format overrides the file name", "[corpus]") {
    const loaded_corpus corpus =
        load_bytes("result.json", "{\"id\":\"a\",\"text\":\"x\"}\n", corpus_format::jsonl);
    CHECK(corpus.report.loaded == 1);
}

TEST_CASE("undetectable format throws with the fix", "[corpus]") {
    std::vector<document> docs;
    CHECK_THROWS_WITH(
        load_corpus_bytes("notes.txt", "hello world\n", corpus_format::detect, docs, {}),
        Catch::Contains("cannot detect the corpus format of notes.txt") &&
            Catch::Contains("pass --format jsonl, csv, tsv or telegram"));
    CHECK_THROWS_AS(load_corpus_bytes("empty.txt", "", corpus_format::detect, docs, {}),
                    std::runtime_error);
}

TEST_CASE("parse_corpus_format accepts the documented names", "[corpus]") {
    CHECK(parse_corpus_format("detect") == corpus_format::detect);
    CHECK(parse_corpus_format("jsonl") == corpus_format::jsonl);
    CHECK(parse_corpus_format("telegram") == corpus_format::telegram_export);
    CHECK(parse_corpus_format("telegram-export") == corpus_format::telegram_export);
    CHECK(parse_corpus_format("csv") == corpus_format::csv);
    CHECK(parse_corpus_format("tsv") == corpus_format::tsv);
    CHECK(parse_corpus_format("folder") == corpus_format::text_folder);
}

TEST_CASE("parse_corpus_format rejects other names", "[corpus]") {
    CHECK_THROWS_AS(parse_corpus_format("txt"), std::invalid_argument);
    CHECK_THROWS_WITH(
        parse_corpus_format("xml"),
        "invalid corpus format \"xml\": expected detect, jsonl, telegram, csv, tsv or folder");
    CHECK_THROWS_AS(parse_corpus_format(""), std::invalid_argument);
    CHECK_THROWS_AS(parse_corpus_format("JSONL"), std::invalid_argument);
}

TEST_CASE("unreadable corpus path throws with the path", "[corpus]") {
    std::vector<document> docs;
    const std::string path = fixtures + "no-such-dir/missing.jsonl";
    CHECK_THROWS_WITH(load_corpus_file(path, corpus_format::detect, docs, {}),
                      Catch::Contains("cannot read corpus file " + path));
    CHECK_THROWS_AS(load_corpus_file(fixtures, corpus_format::jsonl, docs, {}), std::runtime_error);
}

// ---------------------------------------------------------------------------------------------
// Sample corpus

TEST_CASE("sample corpus is embedded and loads", "[corpus]") {
    const std::string_view bytes = tgsearch::sample_corpus_gz();
    REQUIRE(bytes.size() > 2);
    CHECK(static_cast<unsigned char>(bytes[0]) == 0x1f);
    CHECK(static_cast<unsigned char>(bytes[1]) == 0x8b);

    const loaded_corpus corpus = load_bytes("sample_corpus.jsonl.gz", bytes);
    CHECK(corpus.errors.empty());
    CHECK(corpus.report.loaded > 2500);
    CHECK(corpus.find("debian:en:nginx") != nullptr);
    CHECK(corpus.find("debian:en:openssh-client") != nullptr);
    CHECK(corpus.find("debian:ru:nginx") != nullptr);
    CHECK(corpus.find("fortune:ar:debian-hints:1") != nullptr);
}

TEST_CASE("jsonl reports bare words as invalid JSON", "[corpus]") {
    const loaded_corpus corpus = load_bytes("words.jsonl",
                                            "not json\n"
                                            "nul\n"
                                            "tru\n"
                                            "12x\n"
                                            "null\n"
                                            "{\"id\":\"ok\",\"text\":\"good\"}\n",
                                            corpus_format::jsonl);
    REQUIRE(corpus.docs.size() == 1);
    REQUIRE(corpus.errors.size() == 5);
    for (std::size_t i = 0; i < 4; ++i) {
        INFO("line " << corpus.errors[i].line << ": " << corpus.errors[i].reason);
        CHECK_THAT(corpus.errors[i].reason, Catch::StartsWith("invalid JSON"));
    }
    // A real null is valid JSON, just not a record.
    CHECK_THAT(corpus.errors[4].reason, Catch::Contains("not a JSON object (found null)"));
}

TEST_CASE("duplicate ids keep the first document whole", "[corpus]") {
    std::vector<document> docs{
        {"a", "alpha", "first text", "https://a.example/"}, {"b", "beta", "second text", ""},
        {"a", "alpha again", "repeated text", ""},          {"c", "gamma", "third text", ""},
        {"b", "beta again", "repeated text", ""},
    };
    std::string first_duplicate;
    CHECK(remove_duplicate_ids(docs, first_duplicate) == 2);
    CHECK(first_duplicate == "a");
    REQUIRE(docs.size() == 3);
    CHECK(docs[0].id == "a");
    CHECK(docs[0].title == "alpha");
    CHECK(docs[0].text == "first text");
    CHECK(docs[0].url == "https://a.example/");
    CHECK(docs[1].id == "b");
    CHECK(docs[1].text == "second text");
    CHECK(docs[2].id == "c");
    CHECK(docs[2].text == "third text");
}

TEST_CASE("duplicate ids list where each removed one was", "[corpus]") {
    std::vector<document> docs{
        {"a", "", "first", ""}, {"b", "", "second", ""}, {"a", "", "again", ""},
        {"c", "", "third", ""}, {"b", "", "again", ""},  {"a", "", "third a", ""},
    };
    std::vector<duplicate_document> removed;
    remove_duplicate_ids(docs, removed);
    CHECK(docs.size() == 3);
    REQUIRE(removed.size() == 3);
    CHECK(removed[0].id == "a");
    CHECK(removed[0].index == 2);
    CHECK(removed[0].first_index == 0);
    CHECK(removed[1].id == "b");
    CHECK(removed[1].index == 4);
    CHECK(removed[1].first_index == 1);
    CHECK(removed[2].index == 5);
    CHECK(removed[2].first_index == 0);
}

TEST_CASE("unique ids are left untouched", "[corpus]") {
    std::vector<document> docs{{"a", "alpha", "text a", ""}, {"b", "beta", "text b", ""}};
    std::string first_duplicate;
    CHECK(remove_duplicate_ids(docs, first_duplicate) == 0);
    REQUIRE(docs.size() == 2);
    CHECK(docs[0].text == "text a");
    CHECK(docs[1].text == "text b");
    CHECK(first_duplicate.empty());
}

// ---------------------------------------------------------------------------------------------
// Per-source options of --corpus

TEST_CASE("corpus source without options is the whole path", "[corpus]") {
    corpus_options defaults;
    defaults.columns.title = "heading";
    for (const std::string argument : {"notes.csv", "issue#42.csv", "a#b/c.jsonl", "x.csv#"}) {
        INFO(argument);
        const corpus_source source = parse_corpus_source(argument, defaults);
        CHECK(source.path == argument);
        CHECK(source.options.columns.title == "heading");
    }
}

TEST_CASE("corpus source options override the defaults", "[corpus]") {
    corpus_options defaults;
    defaults.columns.id = "key";
    defaults.columns.text = {"body"};
    const corpus_source source =
        parse_corpus_source("dir#1/faq.csv#text=q, a;title=q;url=link;format=csv", defaults);
    CHECK(source.path == "dir#1/faq.csv");
    CHECK(source.options.format == corpus_format::csv);
    CHECK(source.options.columns.text == std::vector<std::string>{"q", "a"});
    CHECK(source.options.columns.title == "q");
    CHECK(source.options.columns.url == "link");
    CHECK(source.options.columns.id == "key");

    const corpus_source reset = parse_corpus_source("faq.csv#text=;id=", defaults);
    CHECK(reset.options.columns.text.empty());
    CHECK(reset.options.columns.id.empty());
}

TEST_CASE("corpus source rejects unknown options", "[corpus]") {
    const corpus_options defaults;
    CHECK_THROWS_WITH(parse_corpus_source("faq.csv#text=q;colour=red", defaults),
                      Catch::Contains("invalid option \"colour=red\" in --corpus faq.csv#text=q;"
                                      "colour=red"));
    CHECK_THROWS_WITH(parse_corpus_source("faq.csv#text=q;title", defaults),
                      Catch::Contains("invalid option \"title\""));
    CHECK_THROWS_AS(parse_corpus_source("faq.csv#format=xml", defaults), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Telegram channel username

TEST_CASE("channel username accepts the usual spellings", "[corpus]") {
    CHECK(parse_channel_username("debian_news") == "debian_news");
    CHECK(parse_channel_username("@debian_news") == "debian_news");
    CHECK(parse_channel_username("https://t.me/debian_news") == "debian_news");
    CHECK(parse_channel_username("https://t.me/debian_news/") == "debian_news");
    CHECK(parse_channel_username("t.me/Debian5") == "Debian5");
    CHECK(parse_channel_username(std::string(32, 'a')) == std::string(32, 'a'));
}

TEST_CASE("channel username rejects invalid names", "[corpus]") {
    for (const char* name :
         {"abcd", "1debian", "debian-news", "debian news", "@", "", "https://t.me/",
          "d\xc3\xa9"
          "bian"}) {
        INFO(name);
        CHECK_THROWS_AS(parse_channel_username(name), std::invalid_argument);
    }
    CHECK_THROWS_AS(parse_channel_username(std::string(33, 'a')), std::invalid_argument);
    CHECK_THROWS_WITH(
        parse_channel_username("@ab"),
        Catch::Contains("invalid channel username \"@ab\"") && Catch::Contains("5 to 32"));
}

TEST_CASE("channel username gives public message links", "[corpus]") {
    corpus_options options;
    options.channel_username = "debian_news";
    std::vector<document> docs;
    const load_report report = load_corpus_bytes(
        "channel_excerpt.json", read_fixture("channel_excerpt.json"), options, docs, {});

    CHECK(report.loaded == 28);
    REQUIRE_FALSE(docs.empty());
    for (const document& doc : docs) {
        CHECK(doc.id.starts_with("1638471920:"));
        CHECK(doc.url == "https://t.me/debian_news/" + doc.id.substr(11));
    }
}

TEST_CASE("channel username is rejected for other exports", "[corpus]") {
    corpus_options options;
    options.channel_username = "debian_news";
    std::vector<document> docs;
    CHECK_THROWS_WITH(
        load_corpus_bytes("account.json", read_fixture("account_export.json"), options, docs, {}),
        Catch::Contains("account.json is a full-account export"));
    const std::string personal =
        "{\"type\":\"personal_chat\",\"id\":5,\"messages\":[{\"id\":1,\"type\":\"message\","
        "\"text\":\"hi\"}]}";
    CHECK_THROWS_WITH(load_corpus_bytes("personal.json", personal, options, docs, {}),
                      Catch::Contains("export of a personal_chat"));
    CHECK(docs.empty());
}

// ---------------------------------------------------------------------------------------------
// Robustness across formats

namespace {

const std::string small_export =
    "{\"type\":\"public_channel\",\"id\":9,\"messages\":[{\"id\":1,\"type\":\"message\","
    "\"text\":\"first post\"},{\"id\":2,\"type\":\"message\",\"text\":\"second post\"}]}";

}  // namespace

TEST_CASE("truncated gzip keeps the records before the cut", "[corpus]") {
    struct sample {
        const char* name;
        std::string plain;
    };
    std::string rows = "id,text\n";
    for (int i = 0; i < 2000; ++i) {
        rows += std::to_string(i) + ",row number " + std::to_string(i * 7919) + "\n";
    }
    const std::vector<sample> samples = {
        {"rows.csv.gz", rows},
        {"export.json.gz", small_export},
        {"records.jsonl.gz", read_fixture("records.jsonl")},
    };
    for (const sample& each : samples) {
        INFO(each.name);
        const std::string compressed = gzip_bytes(each.plain);
        const loaded_corpus whole = load_bytes(each.name, compressed);
        // Cutting into the last compressed bytes leaves every record but the last ones whole.
        const loaded_corpus cut =
            load_bytes(each.name, compressed.substr(0, compressed.size() - 9));
        CHECK_THAT(cut.report.damage, Catch::Contains(each.name) && Catch::Contains("truncated"));
        CHECK(cut.errors.size() == whole.errors.size());
        REQUIRE(cut.docs.size() <= whole.docs.size());
        CHECK(cut.docs.size() + 2 >= whole.docs.size());
        for (std::size_t i = 0; i < cut.docs.size(); ++i) {
            CHECK(cut.docs[i].id == whole.docs[i].id);
            CHECK(cut.docs[i].text == whole.docs[i].text);
        }
    }
}

TEST_CASE("invalid UTF-8 is reported in csv and tsv", "[corpus]") {
    const loaded_corpus csv = load_bytes("latin1.csv",
                                         "id,text\n"
                                         "1,caf\xe9\n"
                                         "2,ok\n");
    REQUIRE(csv.docs.size() == 1);
    CHECK(csv.docs[0].id == "2");
    REQUIRE(csv.errors.size() == 1);
    CHECK(csv.errors[0].line == 2);
    CHECK_THAT(csv.errors[0].reason, Catch::Contains("column \"text\" is not valid UTF-8"));

    // An overlong encoding of '/' and a UTF-16 surrogate are invalid too.
    const loaded_corpus tsv = load_bytes("bad.tsv",
                                         "id\ttitle\ttext\n"
                                         "1\t\xc0\xaf\tx\n"
                                         "2\tok\t\xed\xa0\x80\n"
                                         "3\tok\tfine\n");
    REQUIRE(tsv.docs.size() == 1);
    CHECK(tsv.docs[0].id == "3");
    REQUIRE(tsv.errors.size() == 2);
    CHECK_THAT(tsv.errors[0].reason, Catch::Contains("column \"title\" is not valid UTF-8"));
    CHECK_THAT(tsv.errors[1].reason, Catch::Contains("column \"text\" is not valid UTF-8"));
}

TEST_CASE("telegram invalid UTF-8 names its line", "[corpus]") {
    std::string broken =
        "{\n\"type\":\"public_channel\",\n\"id\":9,\n\"messages\":[\n"
        "{\"id\":1,\"type\":\"message\",\"text\":\"caf\xe9\"}\n]}\n";
    const loaded_corpus corpus = load_bytes("result.json", broken);
    CHECK(corpus.docs.empty());
    CHECK_THAT(corpus.report.damage, Catch::Contains("result.json is damaged"));
    CHECK_THAT(corpus.report.damage, Catch::Contains("line 5 is not part of a UTF-8 character"));
}

TEST_CASE("NUL bytes are reported, never loaded", "[corpus]") {
    using namespace std::string_literals;
    const loaded_corpus jsonl = load_bytes("nul.jsonl",
                                           "{\"id\":\"a\",\"text\":\"x\0y\"}\n"
                                           "{\"id\":\"b\",\"text\":\"ok\"}\n"s);
    REQUIRE(jsonl.docs.size() == 1);
    CHECK(jsonl.docs[0].id == "b");
    REQUIRE(jsonl.errors.size() == 1);
    CHECK(jsonl.errors[0].line == 1);

    const loaded_corpus csv = load_bytes("nul.csv", "id,text\n1,x\0y\n2,ok\n"s);
    REQUIRE(csv.docs.size() == 1);
    CHECK(csv.docs[0].id == "2");
    REQUIRE(csv.errors.size() == 1);
    CHECK_THAT(csv.errors[0].reason, Catch::Contains("NUL byte"));

    const std::string export_with_nul =
        "{\"type\":\"public_channel\",\"id\":9,\"messages\":[{\"id\":1,\"text\":\"x\0y\"}]}"s;
    const loaded_corpus telegram = load_bytes("result.json", export_with_nul);
    CHECK_THAT(telegram.report.damage,
               Catch::Contains("result.json is damaged: it is not valid JSON"));
    CHECK(telegram.docs.empty());
}

TEST_CASE("missing fields are reported per format", "[corpus]") {
    const loaded_corpus jsonl = load_bytes("fields.jsonl", "{\"id\":\"a\",\"url\":\"u\"}\n");
    REQUIRE(jsonl.errors.size() == 1);
    CHECK_THAT(jsonl.errors[0].reason, Catch::Contains("record has no text"));

    const loaded_corpus csv = load_bytes("fields.csv", "id,title,text\n1,,\n2,,  \n");
    REQUIRE(csv.errors.size() == 2);
    CHECK_THAT(csv.errors[0].reason, Catch::Contains("row has no text"));
    CHECK(csv.errors[1].line == 3);

    const loaded_corpus telegram = load_bytes(
        "fields.json", "{\"type\":\"public_channel\",\"id\":9,\"messages\":[{\"text\":\"x\"}]}");
    REQUIRE(telegram.errors.size() == 1);
    CHECK_THAT(telegram.errors[0].reason, Catch::Contains("message has no \"id\""));
}

TEST_CASE("10 MB records load in every file format", "[corpus]") {
    const std::string big(std::size_t{10} << 20, 'w');

    const loaded_corpus jsonl =
        load_bytes("big.jsonl", "{\"id\":\"big\",\"text\":\"" + big + "\"}\n");
    REQUIRE(jsonl.docs.size() == 1);
    CHECK(jsonl.docs[0].text.size() == big.size());

    const loaded_corpus tsv = load_bytes("big.tsv", "id\ttext\nbig\t" + big + "\n");
    REQUIRE(tsv.docs.size() == 1);
    CHECK(tsv.docs[0].text.size() == big.size());

    const loaded_corpus telegram = load_bytes(
        "big.json", "{\"type\":\"public_channel\",\"id\":9,\"messages\":[{\"id\":1,\"text\":\"" +
                        big + "\"}]}");
    REQUIRE(telegram.docs.size() == 1);
    CHECK(telegram.docs[0].text.size() == big.size());
    CHECK(telegram.docs[0].title.size() < 400);
}

TEST_CASE("empty files load nothing without errors", "[corpus]") {
    for (const char* name : {"empty.jsonl", "empty.csv", "empty.tsv", "empty.csv.gz"}) {
        INFO(name);
        const loaded_corpus corpus = load_bytes(name, "");
        CHECK(corpus.docs.empty());
        CHECK(corpus.errors.empty());
    }
    // An export is one JSON value, so an empty one is damaged.
    const loaded_corpus telegram = load_bytes("result.json", "");
    CHECK(telegram.docs.empty());
    CHECK_THAT(telegram.report.damage,
               Catch::Contains("result.json is damaged: it is not valid JSON"));
}

TEST_CASE("directory given as a file format throws", "[corpus]") {
    for (const corpus_format format :
         {corpus_format::jsonl, corpus_format::csv, corpus_format::tsv}) {
        std::vector<document> docs;
        CHECK_THROWS_WITH(
            load_corpus_file(fixtures, format, docs, {}),
            Catch::Contains("it is a directory") && Catch::Contains("--format folder"));
    }
}

TEST_CASE("BOM and CRLF accepted in every format", "[corpus]") {
    const std::string bom = "\xEF\xBB\xBF";
    const loaded_corpus csv = load_bytes("bom.csv", bom + "id,text\r\n1,one\r\n");
    REQUIRE(csv.docs.size() == 1);
    CHECK(csv.docs[0].id == "1");
    CHECK(csv.docs[0].text == "one");

    const loaded_corpus tsv = load_bytes("bom.tsv", bom + "id\ttext\r\n1\tone\r\n");
    REQUIRE(tsv.docs.size() == 1);
    CHECK(tsv.docs[0].text == "one");

    std::string crlf_export;
    for (const char c : small_export) {
        crlf_export += c;
        if (c == ',') {
            crlf_export += "\r\n";
        }
    }
    const loaded_corpus telegram = load_bytes("result.json", bom + crlf_export);
    CHECK(telegram.errors.empty());
    REQUIRE(telegram.docs.size() == 2);
    CHECK(telegram.docs[1].text == "second post");
}

TEST_CASE("jsonl progress reaches the content size", "[corpus]") {
    std::string lines;
    for (int i = 0; i < 20000; ++i) {
        lines += "{\"id\":\"" + std::to_string(i) + "\",\"text\":\"some text here\"}\n";
    }
    std::vector<load_progress> calls;
    corpus_options options;
    options.on_progress = [&calls](const load_progress& progress) { calls.push_back(progress); };
    std::vector<document> docs;
    load_corpus_bytes("many.jsonl", lines, options, docs, {});

    // About 800 KB at one call per 256 KiB, plus the first and the final call.
    REQUIRE(calls.size() >= 3);
    CHECK(calls.size() < 10);
    CHECK(calls.back().bytes_done == lines.size());
    CHECK(calls.back().bytes_total == lines.size());
    CHECK(calls.back().documents == 20000);
    CHECK(calls[1].bytes_done > 0);
    CHECK(calls[1].bytes_done < lines.size());
}
