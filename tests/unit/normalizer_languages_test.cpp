// Tables of input text and the terms that tokenize gives for it, one table per language. The
// terms are query_terms' output: every token in order, alternatives included.

#include "core/text_normalizer.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

struct row {
    const char* input;
    std::vector<std::string> terms;
};

void check_rows(const std::vector<row>& rows) {
    for (const row& r : rows) {
        CAPTURE(r.input);
        CHECK(tgsearch::query_terms(r.input) == r.terms);
    }
}

}  // namespace

TEST_CASE("Arabic text gives plain terms", "[normalizer]") {
    check_rows({
        {"ٱلْحَمْدُ لِلَّهِ", {"الحمد", "لله"}},
        {"مَدْرَسَةٌ", {"مدرسه"}},               // teh marbuta as heh, tanween removed
        {"إلى مستشفى", {"الي", "مستشفي"}},  // hamza seat and alef maqsura
        {"آمن أحمد", {"امن", "احمد"}},
        {"سُؤال", {"سوال"}},        // hamza on waw folds to waw
        {"محـــمد", {"محمد"}},     // tatweel
        {"\uFEFB", {"لا"}},        // lam-alef ligature
        {"ﺍﻟﻌﺮﺑﻴﺔ", {"العربيه"}},  // presentation forms
        {"السلام، عليكم؛ كيف حالك؟", {"السلام", "عليكم", "كيف", "حالك"}},
        {"٢٠٢٤", {"2024"}},
        {"٣٫١٤", {"3.14"}},                // Arabic decimal separator
        {"١٬٠٠٠", {"1000", "1", "000"}},   // Arabic thousands separator
        {"٪٥٠", {"50"}},                   // Arabic percent sign separates
        {"ٱلصَّلَوٰةَ", {"الصلوه", "الصلاه"}},  // superscript alef read both ways
        {"ٱلۡقُرۡءَانُ", {"القران"}},           // Quranic hamza + alef
    });
}

TEST_CASE("Persian text gives plain terms", "[normalizer]") {
    check_rows({
        {"می\u200Cخواهم", {"ميخواهم", "مي", "خواهم"}},
        {"می خواهم", {"مي", "ميخواهم", "خواهم"}},
        {"میخواهم", {"ميخواهم"}},
        {"نمی\u200Cتوان", {"نميتوان", "نمي", "توان"}},
        {"کتاب\u200Cها", {"كتابها", "كتاب", "ها"}},
        {"فایل های", {"فايل", "فايلهاي", "هاي"}},
        {"آسان تر", {"اسان", "اسانتر", "تر"}},
        {"بی سیم", {"بي", "بيسيم", "سيم"}},
        {"خانۀ", {"خانه"}},  // heh with yeh above
        {"خانهٔ", {"خانه"}},  // heh and hamza above
        {"۱۴۰۳", {"1403"}},
        {"۵۰٪", {"50"}},
        // Only the listed affixes join across a space, never two ordinary words.
        {"سایه روشن", {"سايه", "روشن"}},
        // A word without a space is never split, so بیمار (sick) is not بی + مار (snake).
        {"بیمار", {"بيمار"}},
        // The stem must have two letters or more.
        {"ن ها", {"ن", "ها"}},
        // A line break ends the joining, as does punctuation.
        {"می\nخواهم", {"مي", "خواهم"}},
        {"می، خواهم", {"مي", "خواهم"}},
        // A ZWNJ typed before the space still joins.
        {"می\u200C خواهم", {"مي", "ميخواهم", "خواهم"}},
        // NOTE: the vocative ای after a word joins too, which adds a term that no one types.
        {"گفت ای خدا", {"گفت", "گفتاي", "اي", "خدا"}},
    });
}

TEST_CASE("Russian text gives plain terms", "[normalizer]") {
    check_rows({
        {"ПРИВЕТ, Мир!", {"привет", "мир"}},
        {"Ёлка и ёж", {"елка", "и", "еж"}},
        {"Йогурт мой", {"йогурт", "мой"}},
        {"и\u0306од", {"йод"}},        // decomposed й
        {"моло\u0301ко", {"молоко"}},  // stress mark
        {"из-за что-нибудь", {"изза", "из", "за", "чтонибудь", "что", "нибудь"}},
        {"3,14 и 1.5", {"314", "3", "14", "и", "1.5"}},
        {"«кавычки» — тире…", {"кавычки", "тире"}},
    });
}

TEST_CASE("Ukrainian text gives plain terms", "[normalizer]") {
    check_rows({
        {"п'ять", {"пять", "п", "ять"}},
        {"п’ять", {"пять", "п", "ять"}},  // typographic apostrophe
        {"пʼять", {"пять", "п", "ять"}},  // modifier letter apostrophe
        {"Їжак їсть", {"їжак", "їсть"}},  // ї stays a letter of its own
        {"Київ", {"київ"}},
        {"ґанок Ґанок", {"ґанок", "ґанок"}},
        {"Україна є", {"україна", "є"}},
        {"ўсё", {"ўсе"}},  // Belarusian ў keeps its breve
    });
}

TEST_CASE("English text gives plain terms", "[normalizer]") {
    check_rows({
        {"Don't stop", {"dont", "don", "t", "stop"}},
        {"l'amour O'Reilly", {"lamour", "l", "amour", "oreilly", "o", "reilly"}},
        {"e-mail x86_64", {"email", "e", "mail", "x8664", "x86", "64"}},
        {"pi is 3.14, v1.2.3", {"pi", "is", "3.14", "v1.2.3"}},
        {"1,000 people", {"1000", "1", "000", "people"}},
        {"C++ and C#.", {"c++", "and", "c#"}},
        {"g++14 c#5", {"g", "14", "c", "5"}},
        {"Use .NET", {"use", ".net", "net"}},
        {"~/.bashrc", {".bashrc", "bashrc"}},
        {"user@example.org", {"userexampleorg", "user", "example", "org"}},
        {"#hashtag @username", {"#hashtag", "hashtag", "@username", "username"}},
        {"a#b", {"a", "b"}},
        {"https://example.org/a_b?q=1",
         {"https", "exampleorg", "example", "org", "ab", "a", "b", "q", "1"}},
        {"Café naïve Ångström", {"cafe", "naive", "angstrom"}},
        {"Straße STRASSE", {"strasse", "strasse"}},
        {"Łódź Øresund", {"lodz", "oresund"}},
        {"Ærø œuvre þorn Đorđe", {"aero", "oeuvre", "thorn", "dorde"}},
        // Turkish casing is not applied: İ, I, ı and i all fold to i.
        {"İstanbul ISTANBUL ıstanbul", {"istanbul", "istanbul", "istanbul"}},
        {"ﬁle Ｆｕｌｌ", {"file", "full"}},
        {"soft\u00ADhyphen word\u2060joiner", {"softhyphen", "wordjoiner"}},
        {"zero\u200Bwidth", {"zero", "width"}},  // a zero-width space separates
        {"naïve", {"naive"}},
    });
}

TEST_CASE("emoji give one term per emoji", "[normalizer]") {
    check_rows({
        {"👍🏽", {"👍"}},  // skin tone dropped
        {"❤️", {"❤"}},    // variation selector dropped
        {"🔥🔥", {"🔥", "🔥"}},
        {"👨\u200D👩\u200D👧", {"👨\u200D👩\u200D👧"}},  // a family is one term
        {"👩🏽\u200D💻", {"👩\u200D💻"}},      // skin tone dropped inside a sequence
        {"❤️\u200D🔥", {"❤\u200D🔥"}},
        {"🇺🇦🇩🇪", {"🇺🇦", "🇩🇪"}},
        // A subdivision flag keeps its tag characters.
        {"🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
         {"🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"}},
        {"1️⃣", {"1"}},  // a keycap is its digit
        {"ok👍", {"ok", "👍"}},
    });
}

TEST_CASE("mixed-script text gives plain terms", "[normalizer]") {
    check_rows({
        {"Telegram-бот", {"telegramбот", "telegram", "бот"}},
        {"سلام hello привет", {"سلام", "hello", "привет"}},
        {"ویندوز 11", {"ويندوز", "11"}},
        {"#تهران", {"#تهران", "تهران"}},
        {"iPhone۱۵", {"iphone15"}},
        {"צה״ל", {"צהל", "צה", "ל"}},      // Hebrew gershayim
        {"צה\"ל", {"צהל", "צה", "ל"}},     // typed as a double quote
        {"ג׳ורג׳", {"גורג", "ג", "ורג"}},  // geresh, trailing one dropped
        {"Ελληνικά ΣΟΦΟΣ", {"ελληνικα", "σοφοσ"}},
    });
}
