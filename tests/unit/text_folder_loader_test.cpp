#include "core/corpus_loader.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

using namespace tgsearch;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = fs::path(TGSEARCH_FIXTURES_DIR) / "loaders";

struct loaded_corpus {
    std::vector<document> docs;
    std::vector<load_error> errors;
    load_report report;

    const document* find(std::string_view id) const {
        const auto it = std::find_if(docs.begin(), docs.end(),
                                     [id](const document& doc) { return doc.id == id; });
        return it == docs.end() ? nullptr : &*it;
    }

    const load_error* error_for(std::string_view file_name) const {
        const auto it = std::find_if(errors.begin(), errors.end(), [file_name](const auto& error) {
            return fs::path(error.file).filename() == file_name;
        });
        return it == errors.end() ? nullptr : &*it;
    }
};

loaded_corpus load_path(const fs::path& path, const corpus_options& options = {}) {
    loaded_corpus corpus;
    corpus.report = load_corpus(path, options, corpus.docs, [&corpus](const load_error& error) {
        corpus.errors.push_back(error);
    });
    return corpus;
}

/// A directory below the system's temporary directory, removed with its content at scope exit.
class temporary_directory {
public:
    explicit temporary_directory(std::string_view label)
        : path_(fs::temp_directory_path() /
                ("tgsearch-" + std::string(label) + "-" + std::to_string(::getpid()))) {
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~temporary_directory() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    const fs::path& path() const { return path_; }

    void write(const std::string& relative, std::string_view content) const {
        fs::create_directories((path_ / relative).parent_path());
        std::ofstream file(path_ / relative, std::ios::binary);
        file.write(content.data(), static_cast<std::streamsize>(content.size()));
    }

private:
    fs::path path_;
};

}  // namespace

TEST_CASE("folder loads txt and md files in sorted order", "[folder]") {
    const loaded_corpus corpus = load_path(fixtures / "notes");

    std::vector<std::string> ids;
    for (const document& doc : corpus.docs) {
        ids.push_back(doc.id);
    }
    CHECK(ids == std::vector<std::string>{"a/b/deep.md", "a/readme.txt", "guide.md"});
    CHECK(corpus.report.loaded == 3);
    for (const document& doc : corpus.docs) {
        CHECK(doc.url.empty());
    }
}

TEST_CASE("folder skips hidden entries and other files", "[folder]") {
    const loaded_corpus corpus = load_path(fixtures / "notes");

    // .drafts, .hidden.md, image.png and the blank empty.md
    CHECK(corpus.report.ignored == 4);
    CHECK(corpus.find(".hidden.md") == nullptr);
    CHECK(corpus.find(".drafts/draft.md") == nullptr);
}

TEST_CASE("folder reports non-UTF-8 and binary files", "[folder]") {
    const loaded_corpus corpus = load_path(fixtures / "notes");

    CHECK(corpus.report.skipped == 2);
    REQUIRE(corpus.errors.size() == 2);
    const load_error* latin1 = corpus.error_for("latin1.txt");
    REQUIRE(latin1 != nullptr);
    CHECK(latin1->line == 2);
    CHECK_THAT(latin1->reason, Catch::Contains("not valid UTF-8"));
    const load_error* binary = corpus.error_for("binary.txt");
    REQUIRE(binary != nullptr);
    CHECK_THAT(binary->reason, Catch::Contains("NUL byte"));
}

TEST_CASE("folder txt title is the first non-blank line", "[folder]") {
    const loaded_corpus corpus = load_path(fixtures / "notes");

    // The file starts with a byte order mark, a blank line and CRLF line endings.
    const document* text = corpus.find("a/readme.txt");
    REQUIRE(text != nullptr);
    CHECK(text->title == "First line is the title");
    CHECK(text->text == "Body of the plain\ntext file.");
}

TEST_CASE("folder md title is the first heading", "[folder]") {
    const loaded_corpus corpus = load_path(fixtures / "notes");

    const document* deep = corpus.find("a/b/deep.md");
    REQUIRE(deep != nullptr);
    CHECK(deep->title == "Deep heading");
    CHECK(deep->text == "Deep text.");
}

TEST_CASE("folder md strips common Markdown syntax", "[folder]") {
    const loaded_corpus corpus = load_path(fixtures / "notes");

    const document* guide = corpus.find("guide.md");
    REQUIRE(guide != nullptr);
    CHECK(guide->title == "Front matter title");
    const std::string& text = guide->text;
    INFO(text);
    CHECK(text.starts_with("Heading that is not the title\n"));
    CHECK_THAT(text, Catch::Contains("Some bold and italic text with a link label and inline "
                                     "code."));
    CHECK_THAT(text, Catch::Contains("snake_case_name stays, 2 * 3 stays, 2*3 stays."));
    CHECK_THAT(text, Catch::Contains("\ndiagram alt\n"));
    CHECK_THAT(text, Catch::Contains("\n- bullet one\n- bullet two\n"));
    CHECK_THAT(text, Catch::Contains("\nquoted line\n"));
    CHECK_THAT(text, Catch::Contains("\necho **not emphasis** [x](y)\n"));
    CHECK_THAT(text,
               Catch::EndsWith("Autolink https://example.org/auto and struck text *escaped*."));
    CHECK(text.find("title:") == std::string::npos);
    CHECK(text.find("```") == std::string::npos);
    CHECK(text.find("[ref]") == std::string::npos);
    CHECK(text.find("---") == std::string::npos);
    CHECK(text.find("(https://example.org/x)") == std::string::npos);
    CHECK(text.find("img.png") == std::string::npos);
}

TEST_CASE("folder md long first line stays in text", "[folder]") {
    const temporary_directory root("folder-long");
    std::string paragraph;
    for (int i = 0; i < 30; ++i) {
        paragraph += "word" + std::to_string(i) + " ";
    }
    root.write("long.md", paragraph + "\n\nsecond paragraph\n");

    const loaded_corpus corpus = load_path(root.path());

    REQUIRE(corpus.docs.size() == 1);
    CHECK(corpus.docs[0].title.ends_with("\u2026"));
    CHECK(corpus.docs[0].text.starts_with("word0 word1"));
    CHECK(corpus.docs[0].text.ends_with("second paragraph"));
}

TEST_CASE("folder 10 MB file loads below the default limit", "[folder]") {
    const temporary_directory root("folder-big");
    const std::string body(std::size_t{10} << 20, 'b');
    root.write("big.txt", "Big file\n" + body + "\n");

    const loaded_corpus corpus = load_path(root.path());

    CHECK(corpus.errors.empty());
    REQUIRE(corpus.docs.size() == 1);
    CHECK(corpus.docs[0].title == "Big file");
    CHECK(corpus.docs[0].text.size() == body.size());
}

TEST_CASE("folder symlink loop is reported once", "[folder]") {
    const temporary_directory root("folder-loop");
    root.write("sub/note.txt", "Note\nbody\n");
    fs::create_directory_symlink("..", root.path() / "sub" / "loop");

    const loaded_corpus corpus = load_path(root.path());

    REQUIRE(corpus.docs.size() == 1);
    CHECK(corpus.docs[0].id == "sub/note.txt");
    REQUIRE(corpus.errors.size() == 1);
    CHECK_THAT(corpus.errors[0].file, Catch::EndsWith("sub/loop"));
    CHECK_THAT(corpus.errors[0].reason, Catch::Contains("symbolic link loop"));
}

TEST_CASE("folder file above the size limit is reported", "[folder]") {
    corpus_options options;
    options.max_text_file_bytes = 40;
    const loaded_corpus corpus = load_path(fixtures / "notes", options);

    const load_error* large = corpus.error_for("guide.md");
    REQUIRE(large != nullptr);
    CHECK_THAT(large->reason, Catch::Contains("larger than the limit of 40 bytes"));
    CHECK_THAT(large->reason, Catch::Contains("split it into smaller"));
    CHECK(corpus.find("guide.md") == nullptr);
    CHECK(corpus.find("a/b/deep.md") != nullptr);
}

TEST_CASE("folder progress ends at the total size", "[folder]") {
    std::vector<load_progress> calls;
    corpus_options options;
    options.on_progress = [&calls](const load_progress& progress) { calls.push_back(progress); };
    const loaded_corpus corpus = load_path(fixtures / "notes", options);

    REQUIRE_FALSE(calls.empty());
    const load_progress& last = calls.back();
    CHECK(last.bytes_done == last.bytes_total);
    CHECK(last.bytes_total > 0);
    CHECK(last.documents == corpus.report.loaded);
    for (std::size_t i = 1; i < calls.size(); ++i) {
        CHECK(calls[i].bytes_done >= calls[i - 1].bytes_done);
    }
}

TEST_CASE("folder empty directory loads nothing", "[folder]") {
    const temporary_directory root("folder-empty");
    const loaded_corpus corpus = load_path(root.path());

    CHECK(corpus.docs.empty());
    CHECK(corpus.errors.empty());
    CHECK(corpus.report.loaded == 0);
}

TEST_CASE("folder format on a file throws", "[folder]") {
    corpus_options options;
    options.format = corpus_format::text_folder;
    std::vector<document> docs;
    CHECK_THROWS_WITH(load_corpus(fixtures / "notes" / "guide.md", options, docs, {}),
                      Catch::Contains("--format folder needs a directory"));
}

TEST_CASE("telegram export folder loads its result.json", "[folder]") {
    const loaded_corpus detected = load_path(fixtures / "channel_export");
    CHECK(detected.errors.empty());
    CHECK(detected.report.loaded == 2);
    CHECK(detected.report.ignored == 1);
    REQUIRE(detected.find("1800000004:5") != nullptr);
    CHECK(detected.find("1800000004:5")->text == "Version 3.2 fixes folder loading.");

    corpus_options options;
    options.format = corpus_format::telegram_export;
    const loaded_corpus explicit_format = load_path(fixtures / "channel_export", options);
    CHECK(explicit_format.report.loaded == 2);
}
