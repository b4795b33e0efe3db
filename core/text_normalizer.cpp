#include "core/text_normalizer.hpp"

#include <utf8proc.h>

#include <cstdint>

namespace tgsearch {
namespace {

constexpr std::int32_t zero_width_non_joiner = 0x200C;
constexpr std::int32_t zero_width_joiner = 0x200D;
constexpr std::int32_t combining_breve = 0x0306;
constexpr std::int32_t cyrillic_small_i = 0x0438;        // и, base of й
constexpr std::int32_t cyrillic_small_short_u = 0x0443;  // у, base of ў
constexpr std::int32_t arabic_hamza = 0x0621;
constexpr std::int32_t arabic_alef = 0x0627;
constexpr std::int32_t arabic_waw = 0x0648;
constexpr std::int32_t arabic_superscript_alef = 0x0670;
constexpr std::int32_t arabic_yeh = 0x064A;
constexpr std::int32_t arabic_heh = 0x0647;
constexpr std::int32_t arabic_kaf = 0x0643;

bool is_ascii_alnum(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_ascii(std::string_view text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    }
    return true;
}

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

/// Maps one code point of a case-folded compatibility decomposition to its index form, or to
/// -1 when it is dropped. `previous` is the last code point kept so far (0 at the start).
std::int32_t fold_code_point(std::int32_t cp, std::int32_t previous) {
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
            return arabic_heh;
        case 0x06A9:  // Persian kaf (keheh)
            return arabic_kaf;
        case combining_breve:
            // The breve is what tells й from и and ў from у, so it survives mark removal.
            return previous == cyrillic_small_i || previous == cyrillic_small_short_u ? cp : -1;
        default:
            break;
    }
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
        default:
            return cp;
    }
}

/// Scratch buffers reused by `normalize_word` so that a non-ASCII word costs no allocation
/// beyond its result once a thread has warmed up.
struct normalize_scratch {
    std::string valid_utf8;
    std::vector<utf8proc_int32_t> code_points;
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

    // utf8proc_decompose rejects a whole string with one bad byte, so bad bytes go first.
    std::string& valid = scratch.valid_utf8;
    valid.clear();
    for (std::size_t i = 0; i < word.size();) {
        if (static_cast<unsigned char>(word[i]) < 0x80) {
            valid += word[i++];
            continue;
        }
        std::int32_t cp = 0;
        const auto length = decode_at(word, i, cp);
        if (length <= 0) {
            ++i;
            continue;
        }
        valid.append(word.substr(i, static_cast<std::size_t>(length)));
        i += static_cast<std::size_t>(length);
    }

    const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                                        UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD);
    std::vector<utf8proc_int32_t>& buffer = scratch.code_points;
    if (buffer.size() < valid.size() + 16) buffer.resize(valid.size() + 16);
    auto decomposed = utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                                         static_cast<utf8proc_ssize_t>(valid.size()), buffer.data(),
                                         static_cast<utf8proc_ssize_t>(buffer.size()), options);
    if (decomposed > static_cast<utf8proc_ssize_t>(buffer.size())) {
        buffer.resize(static_cast<std::size_t>(decomposed));
        decomposed = utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                                        static_cast<utf8proc_ssize_t>(valid.size()), buffer.data(),
                                        decomposed, options);
    }
    if (decomposed <= 0) return {};

    std::size_t kept_count = 0;
    std::int32_t previous = 0;
    for (utf8proc_ssize_t i = 0; i < decomposed; ++i) {
        const std::int32_t cp = buffer[static_cast<std::size_t>(i)];
        if (cp == arabic_superscript_alef && dagger == superscript_alef::as_letter) {
            if (previous == arabic_waw) {
                buffer[kept_count - 1] = arabic_alef;
                previous = arabic_alef;
            } else if (previous != arabic_yeh) {
                buffer[kept_count++] = arabic_alef;
                previous = arabic_alef;
            }
            continue;
        }
        const std::int32_t folded = fold_code_point(cp, previous);
        if (folded < 0) continue;
        if (folded == arabic_alef && previous == arabic_hamza) {
            // Quranic spelling writes آ as hamza + alef (ءَامَنُوا, ٱلۡقُرۡءَانُ); both become alef.
            buffer[kept_count - 1] = arabic_alef;
            previous = arabic_alef;
            continue;
        }
        buffer[kept_count++] = folded;
        previous = folded;
    }
    if (kept_count == 0) return {};

    const auto composed = utf8proc_normalize_utf32(
        buffer.data(), static_cast<utf8proc_ssize_t>(kept_count),
        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (composed <= 0) return {};

    std::string out;
    out.reserve(static_cast<std::size_t>(composed) * 2);
    for (utf8proc_ssize_t i = 0; i < composed; ++i) {
        utf8proc_uint8_t bytes[4];
        const auto length = utf8proc_encode_char(buffer[static_cast<std::size_t>(i)], bytes);
        out.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(length));
    }
    return out;
}

enum class char_class {
    word,       ///< letter or digit: starts or continues a word
    mark,       ///< combining mark: continues a word, dropped elsewhere
    joiner,     ///< ZWNJ or ZWJ: joins a word when a word character follows it
    symbol,     ///< emoji or other symbol: a token of its own
    modifier,   ///< emoji skin-tone modifier: dropped right after a symbol
    separator,  ///< everything else
};

char_class classify(std::int32_t cp) {
    if (cp == zero_width_non_joiner || cp == zero_width_joiner) return char_class::joiner;
    if (cp >= 0x1F3FB && cp <= 0x1F3FF) return char_class::modifier;
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
            return char_class::separator;
    }
}

bool is_regional_indicator(std::int32_t cp) { return cp >= 0x1F1E6 && cp <= 0x1F1FF; }

/// Splits text into tokens. One instance serves one `tokenize` call.
class tokenizer {
public:
    tokenizer(std::string_view text, std::vector<token>& out) : text_(text), out_(out) {}

    void run() {
        std::size_t i = 0;
        while (i < text_.size()) {
            const auto byte = static_cast<unsigned char>(text_[i]);
            if (byte < 0x80) {
                // ASCII carries most text, so it skips the Unicode tables. ASCII punctuation and
                // symbols, including ^ and ` that Unicode classes as Sk, all separate words.
                if (is_ascii_alnum(byte)) {
                    extend_word(i, 1, true);
                } else {
                    end_word();
                    after_symbol_ = false;
                }
                ++i;
                continue;
            }

            std::int32_t cp = 0;
            const auto decoded = decode_at(text_, i, cp);
            if (decoded <= 0) {
                // An invalid byte cannot belong to a term, so it separates like punctuation.
                end_word();
                after_symbol_ = false;
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
    void handle(std::int32_t cp, std::size_t pos, std::size_t length) {
        switch (classify(cp)) {
            case char_class::word:
                extend_word(pos, length, false);
                after_symbol_ = false;
                return;
            case char_class::mark:
                // A mark after a symbol (U+FE0F after an emoji, a keycap) or at the start of
                // text has no word to attach to and is dropped.
                if (in_word()) extend_word(pos, length, false);
                return;
            case char_class::joiner:
                if (in_word() && word_follows(pos + length)) {
                    extend_word(pos, length, false);
                } else {
                    end_word();
                }
                return;
            case char_class::modifier:
                if (after_symbol_) return;
                emit_symbol(cp, pos, length);
                return;
            case char_class::symbol:
                emit_symbol(cp, pos, length);
                return;
            case char_class::separator:
                end_word();
                after_symbol_ = false;
                return;
        }
    }

    bool in_word() const { return word_begin_ != std::string_view::npos; }

    bool word_follows(std::size_t pos) const {
        if (pos >= text_.size()) return false;
        const auto byte = static_cast<unsigned char>(text_[pos]);
        if (byte < 0x80) return is_ascii_alnum(byte);
        std::int32_t cp = 0;
        if (decode_at(text_, pos, cp) <= 0) return false;
        const char_class next = classify(cp);
        return next == char_class::word || next == char_class::mark;
    }

    void extend_word(std::size_t pos, std::size_t length, bool ascii) {
        if (!in_word()) {
            word_begin_ = pos;
            word_ascii_ = true;
        }
        word_end_ = pos + length;
        word_ascii_ = word_ascii_ && ascii;
    }

    void end_word() {
        if (!in_word()) return;
        const std::string_view word = text_.substr(word_begin_, word_end_ - word_begin_);
        if (word_ascii_) {
            token& added = out_.emplace_back();
            added.term.assign(word);
            for (char& c : added.term) c = ascii_lower(c);
            added.begin = word_begin_;
            added.end = word_end_;
            added.position = next_position_++;
        } else {
            std::string term = normalize_non_ascii(word, superscript_alef::remove);
            if (!term.empty()) {
                out_.push_back(token{std::move(term), word_begin_, word_end_, next_position_++});
                add_superscript_alef_variant(word);
            }
        }
        word_begin_ = std::string_view::npos;
    }

    /// Adds a second token over the same bytes when reading the word's superscript alef as a
    /// letter gives another term, so that both modern spellings of a Quranic word match.
    void add_superscript_alef_variant(std::string_view word) {
        constexpr std::string_view superscript_alef_utf8 = "\xD9\xB0";
        if (word.find(superscript_alef_utf8) == std::string_view::npos) return;
        std::string variant = normalize_non_ascii(word, superscript_alef::as_letter);
        if (variant.empty() || variant == out_.back().term) return;
        out_.push_back(token{std::move(variant), word_begin_, word_end_, out_.back().position});
    }

    void emit_symbol(std::int32_t cp, std::size_t pos, std::size_t length) {
        end_word();
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
        if (term.empty()) return;
        out_.push_back(token{std::move(term), pos, pos + length, next_position_++});
        pending_flag_end_ = is_regional_indicator(cp) ? pos + length : std::string_view::npos;
    }

    std::string_view text_;
    std::vector<token>& out_;
    std::size_t word_begin_ = std::string_view::npos;
    std::size_t word_end_ = 0;
    bool word_ascii_ = true;
    bool after_symbol_ = false;  ///< the previous code point was a symbol token or its modifier
    std::size_t pending_flag_end_ = std::string_view::npos;  ///< end of an unpaired indicator
    std::uint32_t next_position_ = 0;
};

}  // namespace

std::string normalize_word(std::string_view word) {
    if (is_ascii(word)) {
        std::string out(word);
        for (char& c : out) c = ascii_lower(c);
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
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        token& t = tokens[i];
        if (!words.empty() && i > 0 && tokens[i - 1].position == t.position) {
            words.back().spellings.push_back({std::move(t.term)});
            continue;
        }
        query_word& word = words.emplace_back();
        word.spellings.push_back({std::move(t.term)});
        word.begin = t.begin;
        word.end = t.end;
    }
    return words;
}

}  // namespace tgsearch
