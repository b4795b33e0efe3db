#include "core/text_normalizer.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace tgsearch {
namespace {

constexpr std::int32_t zero_width_space = 0x200B;
constexpr std::int32_t zero_width_non_joiner = 0x200C;
constexpr std::int32_t zero_width_joiner = 0x200D;
constexpr std::int32_t combining_breve = 0x0306;
constexpr std::int32_t combining_diaeresis = 0x0308;
constexpr std::int32_t cyrillic_small_i = 0x0438;            // и, base of й
constexpr std::int32_t cyrillic_small_short_i = 0x0439;      // й
constexpr std::int32_t cyrillic_small_ie = 0x0435;           // е, what ё folds to
constexpr std::int32_t cyrillic_small_short_u = 0x0443;      // у, base of ў
constexpr std::int32_t cyrillic_small_ukrainian_i = 0x0456;  // і, base of ї
constexpr std::int32_t arabic_hamza = 0x0621;
constexpr std::int32_t arabic_alef = 0x0627;
constexpr std::int32_t arabic_waw = 0x0648;
constexpr std::int32_t arabic_superscript_alef = 0x0670;
constexpr std::int32_t arabic_yeh = 0x064A;
constexpr std::int32_t arabic_heh = 0x0647;
constexpr std::int32_t arabic_kaf = 0x0643;
constexpr std::int32_t arabic_decimal_separator = 0x066B;
constexpr std::int32_t arabic_thousands_separator = 0x066C;

/// Maximum number of parts joined into one term. A longer chain (a long identifier or a run of
/// dotted names) is cut, which bounds the joined term and its span.
constexpr std::size_t max_word_parts = 16;

constexpr auto decompose_options = static_cast<utf8proc_option_t>(
    UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD);

constexpr std::array<bool, 256> ascii_alnum_table = [] {
    std::array<bool, 256> table{};
    for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) table[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) table[static_cast<std::size_t>(c)] = true;
    return table;
}();

bool is_ascii_alnum(unsigned char c) { return ascii_alnum_table[c]; }

/// ASCII punctuation that may keep a word together (see `tokenize`). A table lookup lets the
/// common separators skip the per-character cases.
constexpr std::array<bool, 256> ascii_word_punctuation_table = [] {
    std::array<bool, 256> table{};
    for (const char c : std::string_view(".'-_@,\"+#")) table[static_cast<unsigned char>(c)] = true;
    return table;
}();

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

void ascii_lower_in_place(std::string& text) {
    for (char& c : text) c = ascii_lower(c);
}

bool is_ascii(std::string_view text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    }
    return true;
}

bool is_digit(std::int32_t cp) {
    return (cp >= '0' && cp <= '9') || (cp >= 0x0660 && cp <= 0x0669) ||
           (cp >= 0x06F0 && cp <= 0x06F9);
}

bool is_hebrew_letter(std::int32_t cp) { return cp >= 0x05D0 && cp <= 0x05EA; }

std::ptrdiff_t decode_at(std::string_view text, std::size_t pos, std::int32_t& code_point) {
    return utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                            static_cast<utf8proc_ssize_t>(text.size() - pos), &code_point);
}

bool is_arabic_mark(std::int32_t cp) {
    return (cp >= 0x0610 && cp <= 0x061A)     // Quranic honorifics and small high letters
           || (cp >= 0x064B && cp <= 0x065F)  // harakat, shadda, sukun, hamza above/below
           || cp == 0x0670                    // superscript (dagger) alef
           || (cp >= 0x06D6 && cp <= 0x06ED)  // Quranic annotation signs
           || cp == 0x0640;                   // tatweel
}

/// Single code points that the case-folded compatibility decomposition gives for U+0000 to
/// U+07FF, or -1 where it gives several. Built once from utf8proc, so that Latin, Greek,
/// Cyrillic, Hebrew and Arabic letters cost one load instead of a utf8proc call.
const std::array<std::int32_t, 0x800>& decomposition_table() {
    static const std::array<std::int32_t, 0x800> table = [] {
        std::array<std::int32_t, 0x800> built{};
        for (std::int32_t cp = 0; cp < 0x800; ++cp) {
            utf8proc_int32_t out[8];
            int boundclass = 0;
            const auto length = utf8proc_decompose_char(cp, out, 8, decompose_options, &boundclass);
            built[static_cast<std::size_t>(cp)] = length == 1 ? out[0] : -1;
        }
        // These decompose into a letter and a mark that fold_code_point either drops (ё) or
        // keeps and composition restores (й, ў, ї), so the composed result is known already.
        for (const std::int32_t yo : {0x0401, 0x0451}) built[yo] = cyrillic_small_ie;
        for (const std::int32_t short_i : {0x0419, 0x0439}) built[short_i] = cyrillic_small_short_i;
        for (const std::int32_t short_u : {0x040E, 0x045E}) built[short_u] = 0x045E;
        for (const std::int32_t yi : {0x0407, 0x0457}) built[yi] = 0x0457;
        return built;
    }();
    return table;
}

/// Appends the case-folded compatibility decomposition of `cp` to `out`.
void append_decomposition(std::int32_t cp, std::vector<std::int32_t>& out) {
    if (cp < 0x800) {
        const std::int32_t single = decomposition_table()[static_cast<std::size_t>(cp)];
        if (single >= 0) {
            out.push_back(single);
            return;
        }
    }
    // The maximum decomposition length in Unicode is 18 code points (U+FDFA).
    utf8proc_int32_t buffer[32];
    int boundclass = 0;
    const auto length = utf8proc_decompose_char(cp, buffer, 32, decompose_options, &boundclass);
    if (length <= 0 || length > 32) return;
    out.insert(out.end(), buffer, buffer + length);
}

/// Returns the ASCII spelling of a Latin letter that has no decomposition but is written as two
/// ASCII letters on a keyboard without it, or an empty view.
std::string_view latin_expansion(std::int32_t cp) {
    switch (cp) {
        case 0x00E6:  // æ
            return "ae";
        case 0x0153:  // œ
            return "oe";
        case 0x00FE:  // þ
            return "th";
        default:
            return {};
    }
}

/// Maps one code point of a case-folded compatibility decomposition to its index form, or to
/// -1 when it is dropped. `previous` is the last code point kept so far (0 at the start).
/// Sets `composable` when the kept code point may compose with the one before it, which is
/// when the result needs Unicode composition.
std::int32_t fold_code_point(std::int32_t cp, std::int32_t previous, bool& composable) {
    composable = false;
    if (cp < 0x80) return cp;
    if (is_arabic_mark(cp)) return -1;
    switch (cp) {
        case 0x0622:  // alef with madda above
        case 0x0623:  // alef with hamza above
        case 0x0625:  // alef with hamza below
        case 0x0671:  // alef wasla
            return arabic_alef;
        case 0x0649:  // alef maqsura
        case 0x06CC:  // Persian yeh
            return arabic_yeh;
        case 0x0629:  // teh marbuta
        case 0x06D5:  // ae, the base of Persian ۀ (heh with yeh above, an ezafe spelling of ه)
            return arabic_heh;
        case 0x06A9:  // Persian kaf (keheh)
            return arabic_kaf;
        case arabic_decimal_separator:
            return '.';
        case arabic_thousands_separator:
            return -1;
        case combining_breve:
            // The breve is what tells й from и and ў from у, so it survives mark removal.
            composable = previous == cyrillic_small_i || previous == cyrillic_small_short_u;
            return composable ? cp : -1;
        case combining_diaeresis:
            // Ukrainian ї is a letter of its own. Russian ё is not, because Russian text
            // often writes it as е.
            composable = previous == cyrillic_small_ukrainian_i;
            return composable ? cp : -1;
        // Latin letters without a decomposition, spelled as on an ASCII keyboard. Turkish
        // dotless ı folds to i because case folding already maps I and İ to i.
        case 0x00F8:  // ø
            return 'o';
        case 0x0142:  // ł
            return 'l';
        case 0x0111:  // đ
        case 0x00F0:  // ð
            return 'd';
        case 0x0131:  // ı
            return 'i';
        case 0x0127:  // ħ
            return 'h';
        case 0x0167:  // ŧ
            return 't';
        default:
            break;
    }
    // Most non-Latin text is Cyrillic or Arabic letters, which are kept as they are.
    if (cp >= 0x0400 && cp <= 0x0481) return cp;
    if ((cp >= 0x0621 && cp <= 0x063A) || (cp >= 0x0641 && cp <= 0x064A)) return cp;
    if (cp >= 0x0660 && cp <= 0x0669) return '0' + (cp - 0x0660);  // Arabic-Indic digits
    if (cp >= 0x06F0 && cp <= 0x06F9) return '0' + (cp - 0x06F0);  // Persian digits

    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_ME:
        case UTF8PROC_CATEGORY_CF:  // ZWNJ, ZWJ, bidi marks, soft hyphen
        case UTF8PROC_CATEGORY_CC:
        case UTF8PROC_CATEGORY_ZS:
        case UTF8PROC_CATEGORY_ZL:
        case UTF8PROC_CATEGORY_ZP:
            return -1;
        case UTF8PROC_CATEGORY_MC:
            composable = true;
            return cp;
        default:
            // Hangul syllables decompose into jamo, which composition puts back together.
            composable = cp >= 0x1100 && cp <= 0x11FF;
            return cp;
    }
}

/// Scratch buffers reused by `normalize_word` so that a non-ASCII word costs no allocation
/// beyond its result once a thread has warmed up.
struct normalize_scratch {
    std::vector<std::int32_t> decomposed;
    std::vector<std::int32_t> folded;
};

/// Treatment of the superscript (dagger) alef U+0670 in `normalize_non_ascii`. Quranic spelling
/// writes with it some long vowels that modern spelling writes as a letter (ٱلۡعَٰلَمِينَ for
/// العالمين, ٱلصَّلَوٰةَ for الصلاة) and others that it leaves out (ٱلرَّحۡمَٰنِ for الرحمن).
enum class superscript_alef {
    remove,     ///< the primary term: the mark is dropped like other diacritics
    as_letter,  ///< the variant: alef after most letters, replacing a waw, dropped after yeh
};

std::string normalize_non_ascii(std::string_view word, superscript_alef dagger) {
    thread_local normalize_scratch scratch;

    // Decomposing one code point at a time lets invalid bytes be skipped where they are, while
    // utf8proc_decompose would reject the whole string. It also skips the canonical reordering
    // of marks. That changes no term in practice, because marks are dropped except the breve
    // and diaeresis, which follow their letter directly in real text.
    std::vector<std::int32_t>& decomposed = scratch.decomposed;
    decomposed.clear();
    for (std::size_t i = 0; i < word.size();) {
        const auto byte = static_cast<unsigned char>(word[i]);
        if (byte < 0x80) {
            decomposed.push_back(ascii_lower(static_cast<char>(byte)));
            ++i;
            continue;
        }
        std::int32_t cp = 0;
        const auto length = decode_at(word, i, cp);
        if (length <= 0) {
            ++i;
            continue;
        }
        append_decomposition(cp, decomposed);
        i += static_cast<std::size_t>(length);
    }

    std::vector<std::int32_t>& folded_code_points = scratch.folded;
    folded_code_points.clear();
    bool compose = false;
    std::int32_t previous = 0;
    for (const std::int32_t cp : decomposed) {
        if (cp == arabic_superscript_alef && dagger == superscript_alef::as_letter) {
            if (previous == arabic_waw) {
                folded_code_points.back() = arabic_alef;
                previous = arabic_alef;
            } else if (previous != arabic_yeh) {
                folded_code_points.push_back(arabic_alef);
                previous = arabic_alef;
            }
            continue;
        }
        if (cp >= 0xC0 && cp < 0x180) {
            const std::string_view expansion = latin_expansion(cp);
            if (!expansion.empty()) {
                folded_code_points.insert(folded_code_points.end(), expansion.begin(),
                                          expansion.end());
                previous = folded_code_points.back();
                continue;
            }
        }
        bool composable = false;
        const std::int32_t folded = fold_code_point(cp, previous, composable);
        if (folded < 0) continue;
        if (folded == arabic_alef && previous == arabic_hamza) {
            // Quranic spelling writes آ as hamza + alef (ءَامَنُوا, ٱلۡقُرۡءَانُ); both become alef.
            folded_code_points.back() = arabic_alef;
            previous = arabic_alef;
            continue;
        }
        folded_code_points.push_back(folded);
        previous = folded;
        compose = compose || composable;
    }
    if (folded_code_points.empty()) return {};

    auto count = static_cast<utf8proc_ssize_t>(folded_code_points.size());
    if (compose) {
        count = utf8proc_normalize_utf32(
            folded_code_points.data(), count,
            static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
        if (count <= 0) return {};
    }

    std::string out;
    out.reserve(static_cast<std::size_t>(count) * 2);
    for (utf8proc_ssize_t i = 0; i < count; ++i) {
        utf8proc_uint8_t bytes[4];
        const auto length =
            utf8proc_encode_char(folded_code_points[static_cast<std::size_t>(i)], bytes);
        out.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(length));
    }
    return out;
}

/// Returns whether a normalized term starts with a letter of the Arabic block (U+0600 to
/// U+06FF), which Persian shares.
bool starts_arabic(std::string_view term) {
    if (term.empty()) return false;
    const auto lead = static_cast<unsigned char>(term[0]);
    return lead >= 0xD8 && lead <= 0xDB;
}

std::size_t count_code_points(std::string_view term) {
    std::size_t count = 0;
    for (const char c : term) {
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
    }
    return count;
}

template <std::size_t N>
std::array<std::string, N> normalize_all(const std::array<std::string_view, N>& words) {
    std::array<std::string, N> normalized;
    for (std::size_t i = 0; i < N; ++i) {
        normalized[i] = normalize_non_ascii(words[i], superscript_alef::remove);
    }
    return normalized;
}

/// Persian verb and adjective prefixes that writers attach, separate with a space or join with
/// a ZWNJ: می‌خواهم, می خواهم and میخواهم are one word.
bool is_persian_prefix(std::string_view term) {
    static const auto prefixes = normalize_all<3>({"می", "نمی", "بی"});
    return std::find(prefixes.begin(), prefixes.end(), term) != prefixes.end();
}

/// Persian suffixes written in the same three ways: plural ها/های/هایی, indefinite and ezafe
/// ای/ی, the personal endings ام/اش/ایم/اید/اند, and comparative تر/ترین. In the Persian
/// localization and help corpora each of ها، های، ای، تر، ی، اید occurs after a space as well as
/// after a ZWNJ. The others are rarer there but frequent in informal text.
bool is_persian_suffix(std::string_view term) {
    static const auto suffixes = normalize_all<12>(
        {"ها", "های", "هایی", "ای", "ی", "ام", "اش", "ایم", "اید", "اند", "تر", "ترین"});
    return std::find(suffixes.begin(), suffixes.end(), term) != suffixes.end();
}

enum class char_class {
    word,              ///< letter or digit: starts or continues a word
    mark,              ///< combining mark: continues a word, dropped elsewhere
    part_break,        ///< ZWNJ, apostrophe or hyphen: splits a word into parts between two letters
    format,            ///< invisible format character: continues a word between two letters
    zwj,               ///< zero-width joiner: joins an emoji sequence, or continues a word
    number_separator,  ///< Arabic decimal or thousands separator, inside a number only
    tag,               ///< emoji tag character: continues a tag sequence (a subdivision flag)
    symbol,            ///< emoji or other symbol: a token of its own
    modifier,          ///< emoji skin-tone modifier: dropped right after a symbol
    separator,         ///< everything else
};

char_class classify(std::int32_t cp) {
    switch (cp) {
        case zero_width_non_joiner:
        case 0x2019:  // right single quotation mark, the usual typographic apostrophe
        case 0x02BC:  // modifier letter apostrophe, the Ukrainian apostrophe
        case 0x2010:  // hyphen
        case 0x2011:  // non-breaking hyphen
        case 0x05F3:  // Hebrew geresh
        case 0x05F4:  // Hebrew gershayim
            return char_class::part_break;
        case zero_width_joiner:
            return char_class::zwj;
        case 0x00AD:  // soft hyphen
        case 0x061C:  // Arabic letter mark
        case 0x200E:  // left-to-right mark
        case 0x200F:  // right-to-left mark
        case 0x2060:  // word joiner
            return char_class::format;
        case arabic_decimal_separator:
        case arabic_thousands_separator:
            return char_class::number_separator;
        case zero_width_space:
            return char_class::separator;
        default:
            break;
    }
    if (cp >= 0x1F3FB && cp <= 0x1F3FF) return char_class::modifier;
    if (cp >= 0xE0020 && cp <= 0xE007F) return char_class::tag;
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_NO:
            return char_class::word;
        case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC:
        case UTF8PROC_CATEGORY_ME:
            return char_class::mark;
        case UTF8PROC_CATEGORY_SO:
        case UTF8PROC_CATEGORY_SK:
            return char_class::symbol;
        default:
            // The remaining format characters (Arabic number signs, bidi embeddings) separate
            // words like punctuation.
            return char_class::separator;
    }
}

bool is_regional_indicator(std::int32_t cp) { return cp >= 0x1F1E6 && cp <= 0x1F1FF; }

bool is_emoji_presentation_noise(std::int32_t cp) {
    return cp == 0xFE0E || cp == 0xFE0F || (cp >= 0x1F3FB && cp <= 0x1F3FF);
}

/// Returns the term of an emoji sequence: its bytes without variation selectors and skin-tone
/// modifiers, so that every skin tone of 👩🏽‍💻 is the term 👩‍💻.
std::string emoji_sequence_term(std::string_view sequence) {
    std::string term;
    for (std::size_t i = 0; i < sequence.size();) {
        std::int32_t cp = 0;
        const auto length = decode_at(sequence, i, cp);
        if (length <= 0) {
            ++i;
            continue;
        }
        if (!is_emoji_presentation_noise(cp)) {
            term.append(sequence.substr(i, static_cast<std::size_t>(length)));
        }
        i += static_cast<std::size_t>(length);
    }
    return term;
}

/// A run of word characters between part breaks, as byte offsets into the text.
struct word_part {
    std::size_t begin = 0;
    std::size_t end = 0;
    bool ascii = true;
    bool prefixed = false;  ///< starts with a `#`, `@` or `.` that the bare alternative drops
};

/// The last word emitted, for joining Persian affixes written as separate words.
struct emitted_word {
    bool valid = false;
    std::size_t first_token = 0;  ///< index in the output of the word's first token
    std::uint32_t position = 0;
    std::uint32_t span = 1;
    std::size_t begin = 0;
    std::size_t end = 0;
    bool single_part = true;
};

/// Splits text into tokens. One instance serves one `tokenize` call.
class tokenizer {
public:
    tokenizer(std::string_view text, std::vector<token>& out) : text_(text), out_(out) {}

    void run() {
        std::size_t i = 0;
        while (i < text_.size()) {
            const auto byte = static_cast<unsigned char>(text_[i]);
            if (byte < 0x80) {
                // ASCII carries most text, so it skips the Unicode tables, and a run of ASCII
                // letters and digits extends the word once.
                if (is_ascii_alnum(byte)) {
                    std::size_t run_end = i + 1;
                    while (run_end < text_.size() &&
                           is_ascii_alnum(static_cast<unsigned char>(text_[run_end]))) {
                        ++run_end;
                    }
                    extend_part(i, run_end - i, true,
                                static_cast<unsigned char>(text_[run_end - 1]));
                    i = run_end;
                } else if (byte == ' ') {
                    separate(true);
                    ++i;
                } else {
                    i = handle_ascii_punctuation(i);
                }
                continue;
            }

            std::int32_t cp = 0;
            const auto decoded = decode_at(text_, i, cp);
            if (decoded <= 0) {
                // An invalid byte cannot belong to a term, so it separates like punctuation.
                separate(false);
                ++i;
                continue;
            }
            const auto length = static_cast<std::size_t>(decoded);
            handle(cp, i, length);
            i += length;
        }
        end_word();
    }

private:
    /// Handles the ASCII punctuation or symbol at `i` and returns the offset after it. Only
    /// the cases listed at `tokenize` keep a word together. Everything else separates,
    /// including ^ and ` that Unicode classes as Sk.
    std::size_t handle_ascii_punctuation(std::size_t i) {
        const char c = text_[i];
        if (!ascii_word_punctuation_table[static_cast<unsigned char>(c)]) {
            separate(c == '\t');
            return i + 1;
        }
        // Most punctuation ends a sentence or clause and is followed by a space, and only `+`
        // and `#` can join a word without a letter or digit after them.
        if (c != '+' && c != '#' && !letter_or_digit_at(i + 1)) {
            separate(false);
            return i + 1;
        }
        if (in_part()) {
            switch (c) {
                case '.':
                    // A decimal point or a version number stays one term: 3.14, 1.2.3.
                    if (is_digit(part_last_) && digit_at(i + 1)) {
                        extend_part(i, 1, true, c);
                        return i + 1;
                    }
                    [[fallthrough]];
                case '\'':
                case '-':
                case '_':
                case '@':
                    if (letter_or_digit_at(i + 1)) {
                        break_part();
                        return i + 1;
                    }
                    break;
                case ',':
                    // A thousands separator: 1,000 is found as 1000 and as 1 000.
                    if (is_digit(part_last_) && digit_at(i + 1)) {
                        break_part();
                        return i + 1;
                    }
                    break;
                case '"':
                    // Hebrew acronyms are often typed with " for the gershayim: צה"ל.
                    if (is_hebrew_letter(part_last_) && hebrew_letter_at(i + 1)) {
                        break_part();
                        return i + 1;
                    }
                    break;
                case '+':
                    if (i + 1 < text_.size() && text_[i + 1] == '+' && !letter_or_digit_at(i + 2)) {
                        extend_part(i, 2, true, '+');
                        end_word();
                        return i + 2;
                    }
                    break;
                case '#':
                    if (!letter_or_digit_at(i + 1)) {
                        extend_part(i, 1, true, c);
                        end_word();
                        return i + 1;
                    }
                    break;
                default:
                    break;
            }
        } else if ((c == '#' || c == '@' || c == '.') && letter_or_digit_at(i + 1) &&
                   starts_word_after(i)) {
            extend_part(i, 1, true, c);
            part_prefixed_ = true;
            return i + 1;
        }
        separate(false);
        return i + 1;
    }

    void handle(std::int32_t cp, std::size_t pos, std::size_t length) {
        const std::size_t next = pos + length;
        switch (classify(cp)) {
            case char_class::word:
                extend_part(pos, length, false, cp);
                after_symbol_ = false;
                return;
            case char_class::mark:
                // A mark after a symbol (U+FE0F after an emoji, a keycap) or at the start of
                // text has no word to attach to and is dropped.
                if (in_part()) extend_part(pos, length, false, part_last_);
                return;
            case char_class::part_break:
                if (in_part() && letter_or_digit_at(next)) {
                    break_part();
                    return;
                }
                // A ZWNJ typed before a space (می‌ خواهم) still counts as a space.
                separate(cp == zero_width_non_joiner);
                return;
            case char_class::format:
                if (in_part() && letter_or_digit_at(next)) {
                    extend_part(pos, length, false, part_last_);
                    return;
                }
                separate(false);
                return;
            case char_class::zwj:
                if (after_symbol_ && symbol_emitted_ && symbol_at(next)) {
                    zwj_end_ = next;
                    return;
                }
                if (in_part() && letter_or_digit_at(next)) {
                    extend_part(pos, length, false, part_last_);
                    return;
                }
                separate(false);
                return;
            case char_class::number_separator:
                if (in_part() && is_digit(part_last_) && digit_at(next)) {
                    if (cp == arabic_decimal_separator) {
                        extend_part(pos, length, false, cp);
                    } else {
                        break_part();
                    }
                    return;
                }
                separate(false);
                return;
            case char_class::tag:
                if (after_symbol_ && symbol_emitted_) {
                    extend_last_symbol(next);
                    return;
                }
                separate(false);
                return;
            case char_class::modifier:
                if (after_symbol_) return;
                emit_symbol(cp, pos, length);
                return;
            case char_class::symbol:
                if (after_symbol_ && symbol_emitted_ && zwj_end_ == pos) {
                    extend_last_symbol(next);
                    return;
                }
                emit_symbol(cp, pos, length);
                return;
            case char_class::separator:
                separate(utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS);
                return;
        }
    }

    /// Ends the current word at a separator. `space` is true for a horizontal space, after
    /// which a Persian affix may still join the word.
    void separate(bool space) {
        end_word();
        gap_is_space_ = gap_is_space_ && space;
        after_symbol_ = false;
    }

    bool in_part() const { return part_begin_ != std::string_view::npos; }

    /// Decodes the code point at `pos`, or returns -1 at the end of text or an invalid byte.
    std::int32_t code_point_at(std::size_t pos) const {
        if (pos >= text_.size()) return -1;
        const auto byte = static_cast<unsigned char>(text_[pos]);
        if (byte < 0x80) return byte;
        std::int32_t cp = 0;
        return decode_at(text_, pos, cp) > 0 ? cp : -1;
    }

    bool letter_or_digit_at(std::size_t pos) const {
        if (pos >= text_.size()) return false;
        const auto byte = static_cast<unsigned char>(text_[pos]);
        if (byte < 0x80) return is_ascii_alnum(byte);
        const std::int32_t cp = code_point_at(pos);
        return cp >= 0 && classify(cp) == char_class::word;
    }

    bool digit_at(std::size_t pos) const { return is_digit(code_point_at(pos)); }

    bool hebrew_letter_at(std::size_t pos) const { return is_hebrew_letter(code_point_at(pos)); }

    bool symbol_at(std::size_t pos) const {
        const std::int32_t cp = code_point_at(pos);
        return cp >= 0x80 && classify(cp) == char_class::symbol;
    }

    /// Returns whether a `#`, `@` or `.` at `pos` may start a word: at the start of text or
    /// after a space, an opening bracket or quote, `/` or `~`.
    bool starts_word_after(std::size_t pos) const {
        if (pos == 0) return true;
        const auto before = static_cast<unsigned char>(text_[pos - 1]);
        if (before < 0x80) {
            return std::string_view(" \t\r\n([{<\"'/~").find(static_cast<char>(before)) !=
                   std::string_view::npos;
        }
        std::size_t lead = pos - 1;
        while (lead > 0 && pos - lead < 4 &&
               (static_cast<unsigned char>(text_[lead]) & 0xC0) == 0x80) {
            --lead;
        }
        const std::int32_t cp = code_point_at(lead);
        if (cp < 0) return false;
        const auto category = utf8proc_category(cp);
        return category == UTF8PROC_CATEGORY_ZS || category == UTF8PROC_CATEGORY_PS ||
               category == UTF8PROC_CATEGORY_PI;
    }

    void extend_part(std::size_t pos, std::size_t length, bool ascii, std::int32_t last) {
        if (!in_part()) {
            part_begin_ = pos;
            part_ascii_ = true;
            part_prefixed_ = false;
        }
        part_end_ = pos + length;
        part_ascii_ = part_ascii_ && ascii;
        part_last_ = last;
    }

    void close_part() {
        if (!in_part()) return;
        parts_[part_count_++] = word_part{part_begin_, part_end_, part_ascii_, part_prefixed_};
        part_begin_ = std::string_view::npos;
    }

    /// Closes the current part at a part break. The next letter starts the next part.
    void break_part() {
        close_part();
        if (part_count_ == max_word_parts) {
            end_word();
            gap_is_space_ = false;
        }
    }

    void end_word() {
        if (part_count_ == 0 && !in_part()) return;
        if (part_count_ == 0 && part_ascii_ && !part_prefixed_) {
            // A plain ASCII word, most of all text, takes the shortest path. Persian affixes
            // join Arabic-script words only, so it ends any affix join.
            token& added = out_.emplace_back();
            added.term.append(text_.data() + part_begin_, part_end_ - part_begin_);
            ascii_lower_in_place(added.term);
            added.begin = part_begin_;
            added.end = part_end_;
            added.position = next_position_++;
            part_begin_ = std::string_view::npos;
            previous_.valid = false;
        } else {
            close_part();
            emit_word();
            part_count_ = 0;
        }
        gap_is_space_ = true;
    }

    /// Writes the normalized term of `part` into `term`, leaving it empty when nothing of the
    /// part is left.
    void write_part_term(const word_part& part, std::string& term) const {
        const std::string_view bytes = text_.substr(part.begin, part.end - part.begin);
        if (part.ascii) {
            term.assign(bytes.data(), bytes.size());
            ascii_lower_in_place(term);
        } else {
            term = normalize_non_ascii(bytes, superscript_alef::remove);
        }
        // A `#` or `@` whose word normalizes to nothing is not a term either.
        if (part.prefixed && term.size() <= 1) term.clear();
    }

    /// Appends the tokens of one part at `position`: its term and its alternatives. Returns
    /// false, and appends nothing, when the part normalizes to nothing.
    bool push_part(const word_part& part, std::uint32_t position) {
        const std::size_t first = out_.size();
        token& added = out_.emplace_back();
        write_part_term(part, added.term);
        if (added.term.empty()) {
            out_.pop_back();
            return false;
        }
        added.begin = part.begin;
        added.end = part.end;
        added.position = position;
        if (part.prefixed) {
            out_.push_back(token{out_[first].term.substr(1), part.begin, part.end, position, 1});
        }
        if (!part.ascii) add_superscript_alef_variant(part, first);
        return true;
    }

    /// Adds a token over the same bytes when reading the part's superscript alef as a letter
    /// gives another term, so that both modern spellings of a Quranic word match.
    void add_superscript_alef_variant(const word_part& part, std::size_t primary) {
        constexpr std::string_view superscript_alef_utf8 = "\xD9\xB0";
        const std::string_view bytes = text_.substr(part.begin, part.end - part.begin);
        if (bytes.find(superscript_alef_utf8) == std::string_view::npos) return;
        std::string variant = normalize_non_ascii(bytes, superscript_alef::as_letter);
        if (variant.empty() || variant == out_[primary].term) return;
        out_.push_back(token{std::move(variant), part.begin, part.end, out_[primary].position, 1});
    }

    void emit_word() {
        emitted_word current;
        current.valid = true;
        current.first_token = out_.size();
        current.position = next_position_;
        // A word of several parts starts with its joined term, completed once the parts are.
        const bool compound = part_count_ > 1;
        if (compound) out_.emplace_back();
        std::uint32_t count = 0;
        for (std::size_t i = 0; i < part_count_; ++i) {
            const word_part& part = parts_[i];
            const std::size_t first = out_.size();
            if (!push_part(part, next_position_ + count)) continue;
            if (count == 0) current.begin = part.begin;
            current.end = part.end;
            if (compound) out_[current.first_token].term += out_[first].term;
            ++count;
        }
        if (compound && count < 2) {
            // Parts that normalized to nothing left one part or none, so nothing was joined.
            out_.erase(out_.begin() + static_cast<std::ptrdiff_t>(current.first_token));
        } else if (compound) {
            token& joined = out_[current.first_token];
            joined.begin = current.begin;
            joined.end = current.end;
            joined.position = current.position;
            joined.span = count;
        }
        if (count == 0) return;
        next_position_ += count;
        current.span = count;
        current.single_part = count == 1;

        if (gap_is_space_ && previous_.valid) join_persian_affix(current);
        previous_ = current;
    }

    /// Adds the joined term of the previous and the current word when one of them is a
    /// Persian affix written as a separate word, so that "می خواهم" also matches میخواهم.
    void join_persian_affix(emitted_word& current) {
        if (previous_.position + previous_.span != current.position) return;
        const std::string& before = out_[previous_.first_token].term;
        const std::string& after = out_[current.first_token].term;
        if (!starts_arabic(before) || !starts_arabic(after)) return;
        // Only a stem of two or more letters joins, so a stray letter is not made a word.
        const bool prefix =
            previous_.single_part && is_persian_prefix(before) && count_code_points(after) >= 2;
        const bool suffix =
            current.single_part && is_persian_suffix(after) && count_code_points(before) >= 2;
        if (!prefix && !suffix) return;
        token joined{before + after, previous_.begin, current.end, previous_.position,
                     previous_.span + current.span};
        // The joined term goes right after the previous word's first token, so that
        // alternatives of one word stay next to each other and positions stay in order.
        out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(previous_.first_token + 1),
                    std::move(joined));
        ++current.first_token;
    }

    void emit_symbol(std::int32_t cp, std::size_t pos, std::size_t length) {
        end_word();
        previous_.valid = false;
        gap_is_space_ = false;
        // Two regional indicators in a row spell one flag, so they make one token.
        if (is_regional_indicator(cp) && pending_flag_end_ == pos && !out_.empty()) {
            token& flag = out_.back();
            flag.end = pos + length;
            flag.term = normalize_word(text_.substr(flag.begin, flag.end - flag.begin));
            pending_flag_end_ = std::string_view::npos;
            after_symbol_ = true;
            return;
        }
        std::string term = normalize_word(text_.substr(pos, length));
        after_symbol_ = true;
        symbol_emitted_ = !term.empty();
        if (term.empty()) return;
        out_.push_back(token{std::move(term), pos, pos + length, next_position_++, 1});
        pending_flag_end_ = is_regional_indicator(cp) ? pos + length : std::string_view::npos;
    }

    /// Extends the last symbol token to `end`, for a ZWJ or tag sequence that continues it.
    void extend_last_symbol(std::size_t end) {
        token& symbol = out_.back();
        symbol.end = end;
        symbol.term = emoji_sequence_term(text_.substr(symbol.begin, end - symbol.begin));
        pending_flag_end_ = std::string_view::npos;
    }

    std::string_view text_;
    std::vector<token>& out_;

    std::size_t part_begin_ = std::string_view::npos;
    std::size_t part_end_ = 0;
    bool part_ascii_ = true;
    bool part_prefixed_ = false;
    std::int32_t part_last_ = 0;                   ///< last letter or digit of the current part
    std::array<word_part, max_word_parts> parts_;  ///< closed parts of the current word
    std::size_t part_count_ = 0;

    emitted_word previous_;
    bool gap_is_space_ = false;    ///< only horizontal space since the previous word
    bool after_symbol_ = false;    ///< the previous code point was a symbol token or its modifier
    bool symbol_emitted_ = false;  ///< that symbol is the last token, and not normalized away
    std::size_t zwj_end_ = std::string_view::npos;           ///< end of a ZWJ that follows a symbol
    std::size_t pending_flag_end_ = std::string_view::npos;  ///< end of an unpaired indicator
    std::uint32_t next_position_ = 0;
};

/// Appends to `out` every way to cover positions [position, end) with tokens of `group`, in
/// token order, up to `max_spellings`.
void collect_spellings(const std::vector<const token*>& group, std::uint32_t position,
                       std::uint32_t end, std::vector<std::string>& path,
                       std::vector<std::vector<std::string>>& out) {
    constexpr std::size_t max_spellings = 16;
    if (position == end) {
        if (std::find(out.begin(), out.end(), path) == out.end()) out.push_back(path);
        return;
    }
    for (const token* t : group) {
        if (out.size() == max_spellings) return;
        if (t->position != position || position + t->span > end) continue;
        path.push_back(t->term);
        collect_spellings(group, position + t->span, end, path, out);
        path.pop_back();
    }
}

}  // namespace

std::string normalize_word(std::string_view word) {
    if (is_ascii(word)) {
        std::string out(word);
        ascii_lower_in_place(out);
        return out;
    }
    return normalize_non_ascii(word, superscript_alef::remove);
}

void tokenize(std::string_view text, std::vector<token>& out) { tokenizer(text, out).run(); }

std::vector<std::string> query_terms(std::string_view query) {
    std::vector<token> tokens;
    tokenize(query, tokens);
    std::vector<std::string> terms;
    terms.reserve(tokens.size());
    for (token& t : tokens) terms.push_back(std::move(t.term));
    return terms;
}

std::vector<query_word> parse_query_words(std::string_view query) {
    std::vector<token> tokens;
    tokenize(query, tokens);
    std::vector<query_word> words;
    std::vector<const token*> group;
    std::vector<std::string> path;
    std::size_t i = 0;
    while (i < tokens.size()) {
        // A word is the tokens up to the end of the longest span among them.
        const std::uint32_t start = tokens[i].position;
        std::uint32_t end = start + tokens[i].span;
        group.clear();
        query_word& word = words.emplace_back();
        word.begin = tokens[i].begin;
        word.end = tokens[i].end;
        for (; i < tokens.size() && tokens[i].position < end; ++i) {
            end = std::max(end, tokens[i].position + tokens[i].span);
            word.begin = std::min(word.begin, tokens[i].begin);
            word.end = std::max(word.end, tokens[i].end);
            group.push_back(&tokens[i]);
        }
        collect_spellings(group, start, end, path, word.spellings);
    }
    return words;
}

}  // namespace tgsearch
