#include "core/bot_replies.hpp"

#include "core/html.hpp"
#include "core/snippet.hpp"
#include "core/text_normalizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace tgsearch {
namespace {

/// Only this many bytes of a message are searched: about 1,000 Arabic or Cyrillic letters,
/// enough for a pasted verse or paragraph. The search itself reads at most max_query_words
/// words, and a 4096-character message must not cost a long scan.
constexpr std::size_t max_query_bytes = 2048;

/// How many code points of the query are echoed back in the reply's heading.
constexpr std::size_t max_echo_chars = 64;

/// Per-result budgets, chosen so that five results and the heading stay far below
/// telegram_max_message_chars: 5 * (160 + 240 + 8) plus a heading of at most ~100.
constexpr std::size_t max_title_chars = 160;
constexpr std::size_t max_snippet_chars = 240;

/// A page that must fit one message keeps this much room for its heading, which echoes at
/// most max_echo_chars of the query, and for each result's number and line breaks.
constexpr std::size_t heading_reserve_chars = 200;
constexpr std::size_t entry_overhead_chars = 10;

/// Snippets shorter than this carry too little text to be worth their line.
constexpr std::size_t min_snippet_chars = 16;

/// search_index ranks at most this many hits, so no page or inline offset goes past it.
constexpr std::size_t max_ranked_hits = 10'000;

/// Budgets of an inline result: the title and description shown in the list, and the snippet
/// in the message a user sends by picking it.
constexpr std::size_t max_inline_title_chars = 100;
constexpr std::size_t max_inline_description_chars = 200;
constexpr std::size_t max_inline_snippet_chars = 600;

/// An inline query's offset is a result index of at most this many digits.
constexpr std::size_t max_offset_digits = 5;

constexpr std::string_view expired_search_text = "This search has expired, send it again.";

#ifndef TGSEARCH_VERSION
#error "core/CMakeLists.txt defines TGSEARCH_VERSION from the project() version"
#endif

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

/// Returns `query` trimmed and cut to max_query_bytes. The cut drops the word it falls into, so
/// that no fragment of it becomes a search term. The tokenizer decides what a word is, since it
/// also splits at punctuation and at Unicode spaces.
std::string_view cut_query(std::string_view query) {
    query = trim(query);
    if (query.size() <= max_query_bytes) {
        return query;
    }
    const std::string_view whole = query;
    query = query.substr(0, utf8_floor(query, max_query_bytes));
    std::vector<token> tokens;
    tokenize(whole.substr(0, std::min(whole.size(), query.size() + 64)), tokens);
    for (const token& word : tokens) {
        if (word.begin < query.size() && word.end > query.size()) {
            // A first word longer than the limit is kept cut, so that the reply still says
            // what was searched.
            const std::string_view before = trim(query.substr(0, word.begin));
            return before.empty() ? query : before;
        }
    }
    return query;
}

/// Returns the title to show for a document: its title, or its id when the title is empty or
/// only spaces.
std::string_view display_title(const document_view& doc) {
    const std::string_view title = trim(doc.title);
    return title.empty() ? trim(doc.id) : title;
}

/// Renders a document's title as a link to its URL when it has a usable one, else in bold.
std::string title_html(const document_view& doc, std::size_t max_chars) {
    std::string html;
    const std::string title = clip(display_title(doc), max_chars);
    if (is_linkable(doc.url)) {
        html += "<a href=\"";
        append_html_escaped(html, doc.url);
        html += "\">";
        append_html_escaped(html, title);
        html += "</a>";
    } else {
        html += "<b>";
        append_html_escaped(html, title);
        html += "</b>";
    }
    return html;
}

/// Parses an inline query offset: empty for the first page, else a result index.
std::optional<std::size_t> parse_inline_offset(std::string_view offset) {
    if (offset.empty()) {
        return 0;
    }
    if (offset.size() > max_offset_digits) {
        return std::nullopt;
    }
    std::size_t value = 0;
    const auto [end, error] = std::from_chars(offset.data(), offset.data() + offset.size(), value);
    if (error != std::errc() || end != offset.data() + offset.size() || value >= max_ranked_hits) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

reply_builder::reply_builder(const search_index& index, reply_settings settings)
    : index_(index), settings_(std::move(settings)) {
    if (settings_.page_size == 0 || settings_.page_size > max_results_per_page) {
        throw std::invalid_argument(fmt::format("invalid page size {}: expected 1 to {}",
                                                settings_.page_size, max_results_per_page));
    }
}

reply_builder::reply_builder(const search_index& index, std::string bot_username)
    : reply_builder(index, reply_settings{std::move(bot_username), 0, results_per_reply, nullptr}) {
}

outgoing_reply reply_builder::reply_to(const incoming_message& message) const {
    switch (message.type) {
        case incoming_message::kind::callback_query:
            return reply_to_button(message);
        case incoming_message::kind::inline_query:
            return reply_to_inline_query(message);
        case incoming_message::kind::message:
            break;
    }
    outgoing_reply reply = reply_to_text(message);
    if (!reply.html.empty()) {
        reply.parts = split_html_message(reply.html);
    }
    return reply;
}

outgoing_reply reply_builder::reply_to_text(const incoming_message& message) const {
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
    if (!command.target.empty() && !equals_ignoring_case(command.target, settings_.bot_username)) {
        return reply;  // a command for another bot in the same group
    }

    if (command.name.empty()) {
        // With privacy mode on, Telegram sends a group's replies to the bot's messages, and
        // those continue a conversation with the bot.
        const bool replies_to_bot =
            settings_.bot_id != 0 && message.reply_to_user_id == settings_.bot_id;
        if (!is_private && !replies_to_bot) {
            return reply;  // ordinary group chatter
        }
        if (command.argument.empty()) {
            reply.html = "Send me a few words and I will search for them.";
        } else {
            render_search_reply(command.argument, message.chat_id, reply);
        }
        return reply;
    }
    // Telegram clients send commands as typed, and users type /Start or /SEARCH too.
    if (equals_ignoring_case(command.name, "start") || equals_ignoring_case(command.name, "help")) {
        reply.html = render_help();
        return reply;
    }
    if (equals_ignoring_case(command.name, "about")) {
        reply.html = render_about();
        return reply;
    }
    if (equals_ignoring_case(command.name, "search")) {
        if (command.argument.empty()) {
            reply.html = "Usage: <code>/search words</code>";
        } else {
            render_search_reply(command.argument, message.chat_id, reply);
        }
        return reply;
    }
    // An unknown command: in a group it is probably meant for another bot, unless it names us.
    if (is_private || !command.target.empty()) {
        reply.html = "Unknown command. " + render_help();
    }
    return reply;
}

void reply_builder::render_search_reply(std::string_view query, std::int64_t chat_id,
                                        outgoing_reply& reply) const {
    query = cut_query(query);
    if (settings_.pages == nullptr) {
        reply.html = render_page(query, 0, true).html;
        return;
    }
    // A reply with buttons is edited in place when a button is pressed, so it must fit one
    // message. A reply without buttons lists all results with full snippets, and may be
    // split into several messages. The search shows which of the two it is, so the page is
    // rendered once.
    const searched_page found = search_page(query, 0);
    const bool has_next = found.result.hits.size() > settings_.page_size;
    rendered_page page = render_found_page(query, 0, found, has_next);
    if (!has_next) {
        reply.html = std::move(page.html);
        return;
    }
    const std::string key = settings_.pages->add(paged_search{chat_id, std::string(query)});
    reply.buttons = page_buttons(key, 0, page);
    reply.html = std::move(page.html);
}

outgoing_reply reply_builder::reply_to_button(const incoming_message& message) const {
    outgoing_reply reply;
    reply.update_id = message.update_id;
    reply.chat_id = message.chat_id;
    reply.callback_query_id = message.query_id;
    reply.type = outgoing_reply::kind::callback_answer;

    const std::optional<page_request> request = parse_page_callback_data(message.text);
    std::optional<paged_search> search;
    if (request && settings_.pages != nullptr && message.chat_id != 0 && message.message_id != 0) {
        search = settings_.pages->find(request->key, message.chat_id);
    }
    if (!search) {
        reply.callback_text = std::string(expired_search_text);
        return reply;
    }
    const rendered_page page = render_page(search->query, request->page, true);
    reply.type = outgoing_reply::kind::edit;
    reply.message_id = message.message_id;
    reply.html = page.html;
    reply.buttons = page_buttons(request->key, page.page, page);
    return reply;
}

outgoing_reply reply_builder::reply_to_inline_query(const incoming_message& message) const {
    outgoing_reply reply;
    reply.type = outgoing_reply::kind::inline_answer;
    reply.update_id = message.update_id;
    reply.inline_query_id = message.query_id;

    const std::string_view query = cut_query(message.text);
    const std::optional<std::size_t> offset = parse_inline_offset(message.offset);
    if (query.empty() || !offset) {
        // No results. Telegram sends back only offsets that the bot set, so an invalid one
        // is not worth a search.
        return reply;
    }

    const std::shared_ptr<const search_index> index = index_.snapshot();
    search_options options;
    options.offset = *offset;
    // One more hit than a page shows whether another page follows.
    options.limit = std::min(max_inline_results + 1, max_ranked_hits - *offset);
    // The query is typed letter by letter, so its last word is usually unfinished.
    options.prefix_last = true;
    const search_result result = index->search(query, options);
    const std::string_view searched =
        result.corrections.empty() ? query : std::string_view(result.corrected_query);
    const std::vector<std::string> terms = query_terms(searched);

    const std::size_t shown = std::min(result.hits.size(), max_inline_results);
    reply.articles.reserve(shown);
    // The description and the message show passages of two lengths of the same text.
    constexpr std::array<std::size_t, 2> snippet_chars = {max_inline_description_chars,
                                                          max_inline_snippet_chars};
    for (std::size_t i = 0; i < shown; ++i) {
        const document_view doc = index->document_at(result.hits[i].doc);
        const std::vector<std::string> snippets =
            make_snippets_html(doc.text, terms, snippet_chars);
        inline_article article;
        article.id = fmt::format("d{}", result.hits[i].doc);
        article.title = clip(display_title(doc), max_inline_title_chars);
        article.description = clip(html_to_plain_text(snippets[0]), max_inline_description_chars);
        article.message_html = title_html(doc, max_title_chars);
        if (!snippets[1].empty()) {
            article.message_html += '\n';
            article.message_html += snippets[1];
        }
        if (is_linkable(doc.url)) {
            article.url = std::string(doc.url);
        }
        reply.articles.push_back(std::move(article));
    }
    if (result.hits.size() > max_inline_results) {
        reply.next_offset = std::to_string(*offset + max_inline_results);
    }
    return reply;
}

std::string reply_builder::render_search(std::string_view query) const {
    return render_page(cut_query(query), 0, true).html;
}

reply_builder::searched_page reply_builder::search_page(std::string_view query,
                                                        std::size_t page) const {
    const std::size_t page_size = settings_.page_size;
    const std::size_t offset = std::min(page * page_size, max_ranked_hits);
    searched_page found;
    // One snapshot serves the search and the documents of its hits, even when a reload
    // replaces the index meanwhile.
    found.index = index_.snapshot();
    search_options options;
    options.offset = offset;
    // One more hit than a page shows whether another page follows.
    options.limit = std::min(page_size + 1, max_ranked_hits - offset);
    found.result = found.index->search(query, options);
    return found;
}

reply_builder::rendered_page reply_builder::render_page(std::string_view query, std::size_t page,
                                                        bool one_message) const {
    return render_found_page(query, page, search_page(query, page), one_message);
}

reply_builder::rendered_page reply_builder::render_found_page(std::string_view query,
                                                              std::size_t page,
                                                              const searched_page& found,
                                                              bool one_message) const {
    const std::size_t page_size = settings_.page_size;
    const std::size_t offset = std::min(page * page_size, max_ranked_hits);
    rendered_page rendered;
    const search_index& index = *found.index;
    const search_result& result = found.result;
    rendered.has_next = result.hits.size() > page_size;
    const std::span<const search_hit> hits(result.hits.data(),
                                           std::min(result.hits.size(), page_size));
    const std::size_t ranked = std::min(result.total_matches, max_ranked_hits);
    const std::size_t pages = (ranked + page_size - 1) / page_size;
    if (hits.empty() && page > 0) {
        // The bot's buttons request only pages that had results, so a page past the end comes
        // from a forged button or a changed index. It gets the last page instead. Each step
        // requests an earlier page, so the recursion ends.
        const rendered_page first = render_page(query, 0, one_message);
        if (first.hit_count == 0) return first;
        return render_page(query, std::min(first.page_count, page) - 1, one_message);
    }
    rendered.page = page;
    rendered.page_count = std::max(pages, page + (rendered.has_next ? 2 : 1));
    rendered.page_count_is_estimate = result.total_is_estimate;

    std::string& html = rendered.html;
    if (hits.empty()) {
        html += page == 0 ? "Nothing found for <b>" : "No more results for <b>";
        append_html_escaped(html, clip(query, max_echo_chars));
        html += page == 0 ? "</b>. Try other or fewer words." : "</b>.";
        return rendered;
    }

    // With a corrected word, the heading shows what was searched, and the snippets mark the
    // corrected words.
    const std::string_view searched =
        result.corrections.empty() ? query : std::string_view(result.corrected_query);
    const std::vector<std::string> terms = query_terms(searched);
    html += result.corrections.empty() ? "🔎 <b>" : "Showing results for <b>";
    append_html_escaped(html, clip(searched, max_echo_chars));
    html += "</b>\n";

    std::size_t snippet_chars = max_snippet_chars;
    if (one_message) {
        const std::size_t per_entry =
            (telegram_max_message_chars - heading_reserve_chars) / page_size;
        const std::size_t fixed = max_title_chars + entry_overhead_chars;
        snippet_chars = std::min(max_snippet_chars, per_entry > fixed ? per_entry - fixed : 0);
        if (snippet_chars < min_snippet_chars) {
            snippet_chars = 0;
        }
    }

    // The heading and every entry are whole tags and escaped text, so the length of the page
    // is the sum of their lengths.
    std::size_t html_chars = one_message ? telegram_html_length(html) : 0;
    std::size_t rank = offset;
    std::string entry;
    for (const search_hit& hit : hits) {
        const document_view doc = index.document_at(hit.doc);
        entry.clear();
        fmt::format_to(std::back_inserter(entry), "\n{}. ", ++rank);
        entry += title_html(doc, max_title_chars);
        const std::string snippet =
            snippet_chars == 0 ? std::string() : make_snippet_html(doc.text, terms, snippet_chars);
        if (!snippet.empty()) {
            entry += '\n';
            entry += snippet;
        }
        entry += '\n';
        // The budgets above keep a one-message page inside the limit. This check keeps the
        // promise should a budget change.
        if (one_message) {
            const std::size_t entry_chars = telegram_html_length(entry);
            if (html_chars + entry_chars > telegram_max_message_chars) break;
            html_chars += entry_chars;
        }
        html += entry;
        ++rendered.hit_count;
    }
    while (!html.empty() && html.back() == '\n') {
        html.pop_back();
    }
    return rendered;
}

std::vector<inline_button> reply_builder::page_buttons(std::string_view key, std::size_t page,
                                                       const rendered_page& rendered) const {
    std::vector<inline_button> buttons;
    if (page > 0) {
        buttons.push_back({"◀", page_callback_data(key, page - 1)});
    }
    // The label button asks for the page shown, so pressing it changes nothing.
    const std::string count = rendered.page_count_is_estimate
                                  ? fmt::format("~{}", rendered.page_count)
                                  : std::to_string(rendered.page_count);
    buttons.push_back({fmt::format("page {}/{}", page + 1, count), page_callback_data(key, page)});
    if (rendered.has_next) {
        buttons.push_back({"▶", page_callback_data(key, page + 1)});
    }
    return buttons;
}

std::string reply_builder::render_help() const {
    const std::string& username = settings_.bot_username;
    std::string html =
        "Send me a few words and I will find the best matching documents.\n\n"
        "In a group, write <code>/search words</code>";
    if (!username.empty()) {
        html += " or <code>/search@";
        append_html_escaped(html, username);
        html += " words</code>";
    }
    html += ", or reply to one of my messages with the words.";
    if (!username.empty()) {
        html += "\nIn any chat, type <code>@";
        append_html_escaped(html, username);
        html += " words</code> and pick a result to share it.";
    }
    html += "\nUse ◀ and ▶ under a reply to see more results.";
    html += "\nI search " + std::to_string(index_.document_count()) + " documents.";
    return html;
}

std::string reply_builder::render_about() const {
    const std::shared_ptr<const search_index> index = index_.snapshot();
    return fmt::format(
        "<b>tgsearch</b> {}, a Telegram bot that searches a corpus of documents.\n"
        "This corpus has {} documents and {} distinct words.",
        TGSEARCH_VERSION, index->document_count(), index->term_count());
}

}  // namespace tgsearch
