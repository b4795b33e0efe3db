#include "core/bot_replies.hpp"

#include "core/html.hpp"
#include "core/snippet.hpp"
#include "core/text_normalizer.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace tgsearch {
namespace {

/// Only this many bytes of a message are searched. A query of a few dozen words is already
/// more than BM25 can use, and a 4096-character message must not cost a long scan.
constexpr std::size_t max_query_bytes = 512;

/// How many code points of the query are echoed back in the reply's heading.
constexpr std::size_t max_echo_chars = 64;

/// Per-result budgets, chosen so that five results and the heading stay far below
/// telegram_max_message_chars: 5 * (160 + 240 + 8) plus a heading of at most ~100.
constexpr std::size_t max_title_chars = 160;
constexpr std::size_t max_snippet_chars = 240;

/// URLs longer than this are not linked, so that a hostile corpus cannot push the raw HTML past
/// Telegram's 32768-byte limit on message text.
constexpr std::size_t max_url_bytes = 1024;

std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!text.empty() && is_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

/// Cuts `text` to at most `max_chars` code points, adding "…" when something was cut. Control
/// characters (C0, DEL, C1) and bidirectional overrides become spaces: Telegram rejects some of
/// them, and an override in an echoed query would reorder the rest of the reply.
std::string clip(std::string_view text, std::size_t max_chars) {
    std::size_t chars = 0;
    std::size_t pos = 0;
    while (pos < text.size() && chars < max_chars) {
        const auto lead = static_cast<unsigned char>(text[pos]);
        std::size_t width = 1;
        if (lead >= 0xF0) {
            width = 4;
        } else if (lead >= 0xE0) {
            width = 3;
        } else if (lead >= 0xC0) {
            width = 2;
        }
        pos = std::min(text.size(), pos + width);
        ++chars;
    }
    std::string result;
    result.reserve(pos);
    for (std::size_t i = 0; i < pos;) {
        const auto byte = static_cast<unsigned char>(text[i]);
        const std::string_view rest = text.substr(i, pos - i);
        // C1 controls (U+0080..U+009F) are two bytes, C2 80..C2 9F; the bidirectional
        // embeddings, overrides and isolates U+202A..U+202E and U+2066..U+2069 are three.
        const bool c1_control =
            rest.size() >= 2 && byte == 0xC2 && static_cast<unsigned char>(rest[1]) <= 0x9F;
        const bool bidi_control =
            rest.size() >= 3 && byte == 0xE2 &&
            ((rest[1] == '\x80' && static_cast<unsigned char>(rest[2]) >= 0xAA &&
              static_cast<unsigned char>(rest[2]) <= 0xAE) ||
             (rest[1] == '\x81' && static_cast<unsigned char>(rest[2]) >= 0xA6 &&
              static_cast<unsigned char>(rest[2]) <= 0xA9));
        if (byte < 0x20 || byte == 0x7F) {
            result += ' ';
            i += 1;
        } else if (c1_control) {
            result += ' ';
            i += 2;
        } else if (bidi_control) {
            result += ' ';
            i += 3;
        } else {
            result += text[i];
            i += 1;
        }
    }
    if (pos < text.size()) {
        result += "…";
    }
    return result;
}

bool is_linkable(std::string_view url) {
    if (url.size() > max_url_bytes) {
        return false;
    }
    return url.starts_with("https://") || url.starts_with("http://");
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return std::ranges::equal(a, b, [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

/// A message split into its leading command and the text after it.
struct command_line {
    std::string_view name;    ///< without the slash, e.g. "search"; empty when not a command
    std::string_view target;  ///< the bot named after "@", empty when none
    std::string_view argument;
};

command_line parse_command(std::string_view text) {
    command_line result;
    if (!text.starts_with('/')) {
        result.argument = text;
        return result;
    }
    const std::size_t word_end = std::min(text.find_first_of(" \t\r\n"), text.size());
    std::string_view word = text.substr(1, word_end - 1);
    if (const std::size_t at = word.find('@'); at != std::string_view::npos) {
        result.target = word.substr(at + 1);
        word = word.substr(0, at);
    }
    result.name = word;
    result.argument = trim(text.substr(word_end));
    return result;
}

}  // namespace

reply_builder::reply_builder(const search_index& index, std::string bot_username)
    : index_(index), bot_username_(std::move(bot_username)) {}

outgoing_reply reply_builder::reply_to(const incoming_message& message) const {
    outgoing_reply reply;
    reply.update_id = message.update_id;
    reply.chat_id = message.chat_id;

    const bool is_private = message.chat_type == "private";
    const bool is_group = message.chat_type == "group" || message.chat_type == "supergroup";
    if (!is_private && !is_group) {
        return reply;
    }
    if (is_group) {
        reply.reply_to_message_id = message.message_id;
    }

    const std::string_view text = trim(message.text);
    const command_line command = parse_command(text);
    if (!command.target.empty() && !equals_ignoring_case(command.target, bot_username_)) {
        return reply;  // a command for another bot in the same group
    }

    if (command.name.empty()) {
        if (!is_private) {
            return reply;  // ordinary group chatter
        }
        reply.html = command.argument.empty()
                         ? std::string("Send me a few words and I will search for them.")
                         : render_search(command.argument);
        return reply;
    }
    // Telegram clients send commands as typed, and users type /Start or /SEARCH too.
    if (equals_ignoring_case(command.name, "start") || equals_ignoring_case(command.name, "help")) {
        reply.html = render_help();
        return reply;
    }
    if (equals_ignoring_case(command.name, "search")) {
        reply.html = command.argument.empty() ? std::string("Usage: <code>/search words</code>")
                                              : render_search(command.argument);
        return reply;
    }
    // An unknown command: in a group it is probably meant for another bot, unless it names us.
    if (is_private || !command.target.empty()) {
        reply.html = "Unknown command. " + render_help();
    }
    return reply;
}

std::string reply_builder::render_search(std::string_view query) const {
    query = trim(query);
    if (query.size() > max_query_bytes) {
        // Drop the word the cut falls into, so that no fragment of it becomes a search term.
        // The tokenizer decides what a word is, since it also splits at punctuation and at
        // Unicode spaces.
        const std::string_view whole = query;
        query = query.substr(0, utf8_floor(query, max_query_bytes));
        std::vector<token> tokens;
        tokenize(whole.substr(0, std::min(whole.size(), query.size() + 64)), tokens);
        for (const token& word : tokens) {
            if (word.begin < query.size() && word.end > query.size()) {
                query = trim(query.substr(0, word.begin));
                break;
            }
        }
    }

    // One snapshot serves the search and the documents of its hits, even when a reload
    // replaces the index meanwhile.
    const std::shared_ptr<const search_index> index = index_.snapshot();
    search_options options;
    options.limit = results_per_reply;
    const search_result result = index->search(query, options);
    const std::vector<search_hit>& hits = result.hits;
    std::string html;
    if (hits.empty()) {
        html += "Nothing found for <b>";
        append_html_escaped(html, clip(query, max_echo_chars));
        html += "</b>. Try other or fewer words.";
        return html;
    }

    // With a corrected word, the heading shows what was searched, and the snippets mark the
    // corrected words.
    const std::string_view searched =
        result.corrections.empty() ? query : std::string_view(result.corrected_query);
    const std::vector<std::string> terms = query_terms(searched);
    html += result.corrections.empty() ? "🔎 <b>" : "Showing results for <b>";
    append_html_escaped(html, clip(searched, max_echo_chars));
    html += "</b>\n";

    std::size_t rank = 0;
    for (const search_hit& hit : hits) {
        const document_view doc = index->document_at(hit.doc);
        std::string entry = "\n" + std::to_string(++rank) + ". ";
        const std::string title =
            clip(trim(doc.title.empty() ? doc.id : doc.title), max_title_chars);
        if (is_linkable(doc.url)) {
            entry += "<a href=\"";
            append_html_escaped(entry, doc.url);
            entry += "\">";
            append_html_escaped(entry, title);
            entry += "</a>";
        } else {
            entry += "<b>";
            append_html_escaped(entry, title);
            entry += "</b>";
        }
        const std::string snippet = make_snippet_html(doc.text, terms, max_snippet_chars);
        if (!snippet.empty()) {
            entry += "\n";
            entry += snippet;
        }
        entry += "\n";
        // The budgets above keep five entries well inside the limit; this guards the promise
        // should a budget change.
        if (telegram_html_length(html) + telegram_html_length(entry) > telegram_max_message_chars) {
            break;
        }
        html += entry;
    }
    while (!html.empty() && html.back() == '\n') {
        html.pop_back();
    }
    return html;
}

std::string reply_builder::render_help() const {
    std::string html =
        "Send me a few words and I will find the best matching documents.\n\n"
        "In a group, write <code>/search words</code>";
    if (!bot_username_.empty()) {
        html += " or <code>/search@";
        append_html_escaped(html, bot_username_);
        html += " words</code>";
    }
    html += ".\nI search " + std::to_string(index_.document_count()) + " documents.";
    return html;
}

}  // namespace tgsearch
