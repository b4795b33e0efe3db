#include "core/json_text.hpp"

#include <catch2/catch.hpp>

#include <string>

using tgsearch::replace_lone_surrogate_escapes;

TEST_CASE("surrogate repair keeps valid JSON text", "[json]") {
    const std::string cases[] = {
        R"({"text":"plain"})",
        R"({"text":"\ud83d\ude00 pair"})",
        R"({"text":"\u0041\n\t\"q\""})",
        R"({"text":"escaped backslash \\ud83d stays"})",
        R"({"text":"trailing backslash \\"})",
    };
    for (const std::string& json : cases) {
        CAPTURE(json);
        CHECK(replace_lone_surrogate_escapes(json) == json);
    }
}

TEST_CASE("surrogate repair replaces lone surrogates", "[json]") {
    CHECK(replace_lone_surrogate_escapes(R"({"t":"a\ud83db"})") == R"({"t":"a\uFFFDb"})");
    CHECK(replace_lone_surrogate_escapes(R"({"t":"\ude00"})") == R"({"t":"\uFFFD"})");
    // A high surrogate followed by another high surrogate: both are lone.
    CHECK(replace_lone_surrogate_escapes(R"("\ud83d\ud83d")") == R"("\uFFFD\uFFFD")");
    // A high surrogate at the very end of the text.
    CHECK(replace_lone_surrogate_escapes(R"("x\uD800)") == R"("x\uFFFD)");
}

TEST_CASE("surrogate repair leaves short escapes alone", "[json]") {
    CHECK(replace_lone_surrogate_escapes(R"("\ud8")") == R"("\ud8")");
    CHECK(replace_lone_surrogate_escapes(R"("\uZZZZ")") == R"("\uZZZZ")");
}
