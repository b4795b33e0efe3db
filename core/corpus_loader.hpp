#pragma once

#include "core/document.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// Layout of a corpus file.
///
/// JSON Lines: one {"id", "title", "text", "url"} object per line, other fields ignored.
/// `url` may be null or missing. `id` may be a string or an integer and, when missing, becomes
/// "<file name>:<line>". A record needs a non-empty `text` or `title`.
///
/// Telegram Desktop export: a single chat ({"type", "id", "messages": [...]}) or a full account
/// ({"chats": {"list": [...]}, "left_chats": {"list": [...]}}). Each message with text becomes a
/// document with id "<chat id>:<message id>", the text's first line (cut to 80 code points) as
/// title, and for channels and supergroups the link "https://t.me/c/<chat id>/<message id>", or
/// "https://t.me/<username>/<message id>" when corpus_options::channel_username is set.
///
/// CSV: RFC 4180 with a header row. Fields may be quoted with '"', a quoted field may contain
/// commas, line breaks and doubled quotes, and records may end in LF or CRLF. A '"' inside an
/// unquoted field is kept as a character.
///
/// TSV: a header row, fields separated by tabs, no quoting. The escapes \t, \n, \r and a
/// doubled backslash stand for a tab, a line feed, a carriage return and a backslash, as
/// PostgreSQL's COPY and MySQL's SELECT INTO OUTFILE write them. Any other backslash is kept.
///
/// In both, corpus_options::columns selects the columns. A row needs a non-empty text or title,
/// its id defaults to "<file name>:<line>", and blank lines are skipped.
///
/// Text folder: every .txt and .md file below a directory, in sorted path order. The id is the
/// path relative to the directory, the title the first Markdown heading or the first non-blank
/// line, and the text the rest of the file, with common Markdown syntax removed from .md files.
enum class corpus_format {
    detect,           ///< decide from the path: see load_corpus
    jsonl,            ///< JSON Lines, also called NDJSON
    telegram_export,  ///< Telegram Desktop's result.json (single chat or full account)
    csv,              ///< comma-separated values with a header row
    tsv,              ///< tab-separated values with a header row
    text_folder,      ///< a directory of .txt and .md files
};

/// Parses "detect", "jsonl", "telegram" (also "telegram-export"), "csv", "tsv" or "folder".
/// Throws std::invalid_argument naming the value and the accepted ones.
corpus_format parse_corpus_format(std::string_view name);

/// Column names chosen for CSV and TSV files. Header names match without regard to ASCII case.
/// An empty name picks the first header column named as the default lists below, and an empty
/// `text` list picks one column the same way.
struct csv_columns {
    std::string id;                 ///< default "id"; without one, ids are "<file name>:<line>"
    std::string title;              ///< default "title"; without one, titles stay empty
    std::vector<std::string> text;  ///< default "text", "body", "content" or "message"
    std::string url;                ///< default "url" or "link"; without one, urls stay empty
};

/// Progress through one corpus source: bytes of (decompressed) input parsed so far, out of
/// `bytes_total`, and the documents loaded from them.
struct load_progress {
    std::uint64_t bytes_done = 0;
    std::uint64_t bytes_total = 0;
    std::size_t documents = 0;
};

using load_progress_handler = std::function<void(const load_progress&)>;

/// Text folder files above this size are reported and skipped, because a file this large is
/// rarely prose and one such document would dominate every snippet.
constexpr std::uint64_t default_max_text_file_bytes = std::uint64_t{16} << 20;

/// Everything besides the path that decides how a corpus is read.
struct corpus_options {
    corpus_format format = corpus_format::detect;
    csv_columns columns;
    /// Public username of the channel or supergroup of a single-chat Telegram export, as
    /// parse_channel_username returns it. Empty keeps the t.me/c/<chat id> links.
    std::string channel_username;
    std::uint64_t max_text_file_bytes = default_max_text_file_bytes;
    /// Called from the loading thread when parsing starts, then at most once per 256 KiB of
    /// parsed input, and once at the end. May be empty.
    load_progress_handler on_progress;
};

/// Validates a Telegram channel username given as "name", "@name" or "https://t.me/name" (also
/// "t.me/name" and "http://"), and returns the bare name. A username has 5 to 32 characters from
/// [A-Za-z0-9_] and does not start with a digit. Throws std::invalid_argument otherwise.
std::string parse_channel_username(std::string_view value);

/// A record that could not be loaded. `line` is 1-based; for a Telegram export it is the line
/// where the message object starts, for CSV and TSV the line where the row starts, and 0 when it
/// is unknown or the whole file is meant (a text folder's file names itself in `file`).
struct load_error {
    std::string file;
    std::size_t line = 0;
    std::string reason;
    /// Set when the record loaded anyway, without the field that `reason` names.
    bool record_kept = false;
};

struct load_report {
    std::size_t loaded = 0;  ///< documents appended to the output
    /// Per loaded document, in output order, the line where its record starts; empty for a text
    /// folder, whose documents are whole files.
    std::vector<std::size_t> lines;
    std::size_t skipped = 0;  ///< malformed records reported through the error callback
    /// records deliberately left out: service messages, messages without text, and in a text
    /// folder hidden entries, files other than .txt and .md, and blank files
    std::size_t ignored = 0;
    /// id of the Telegram chat whose links use corpus_options::channel_username; empty when
    /// none does
    std::string username_chat;
    /// Description of the damage that ended the source early, naming the file, the problem and
    /// what to do. Damage is a truncated or corrupt gzip stream, a .gz file that is not gzip,
    /// UTF-16 or UTF-32 text, or a Telegram export that is damaged JSON or not UTF-8. The
    /// documents read before the damage are loaded. Empty when the whole source was read.
    std::string damage;
};

using load_error_handler = std::function<void(const load_error&)>;

/// Loads every document of the corpus at `path` and appends them to `out`. Gzip-compressed files
/// (with one or more members) are detected by their magic bytes and decompressed in memory. A
/// malformed record is reported to `on_error`, which may be empty, and skipped, and loading goes
/// on. Blank lines, service messages and messages without text are left out silently. Damaged
/// content, such as a truncated gzip file, ends the source early: the documents read before the
/// damage stay in `out`, and load_report::damage describes the problem.
///
/// With corpus_format::detect, a directory holding result.json is a Telegram export and any other
/// directory a text folder. For files, a name ending in .jsonl or .ndjson means JSON Lines, .csv
/// CSV, .tsv or .tab TSV, each also with .gz appended, and result.json or a name ending in .json
/// or .json.gz means a Telegram export. Otherwise a first non-blank line that is one complete JSON
/// object means JSON Lines, unless that object has a "messages" or "chats" field (an export
/// written on one line). Any other first line starting with '{' means a Telegram export. With
/// corpus_format::telegram_export, `path` may also be the export's folder.
///
/// Throws std::runtime_error naming the path when the file is missing or cannot be read, or its
/// format cannot be detected. It also throws when a Telegram export has neither "messages" nor
/// "chats", when a CSV or TSV header lacks a chosen column, and when `path` is a directory but
/// the format is a file format. `out` is then left as it was.
load_report load_corpus(const std::filesystem::path& path, const corpus_options& options,
                        std::vector<document>& out, const load_error_handler& on_error);

/// Loads documents from bytes already in memory (possibly gzip-compressed), like load_corpus.
/// `name` stands for the file name in errors, generated ids and format detection. Throws
/// std::runtime_error for corpus_format::text_folder, which needs a directory.
load_report load_corpus_bytes(std::string_view name, std::string_view bytes,
                              const corpus_options& options, std::vector<document>& out,
                              const load_error_handler& on_error);

/// Calls load_corpus with default options apart from `format`.
load_report load_corpus_file(const std::filesystem::path& path, corpus_format format,
                             std::vector<document>& out, const load_error_handler& on_error);

/// Calls load_corpus_bytes with default options apart from `format`.
load_report load_corpus_bytes(std::string_view name, std::string_view bytes, corpus_format format,
                              std::vector<document>& out, const load_error_handler& on_error);

/// One --corpus argument: the path and the options for that source alone.
struct corpus_source {
    std::filesystem::path path;
    corpus_options options;
};

/// Splits a --corpus argument into its path and options. The argument is a path, optionally
/// followed by '#' and options separated by ';', which override `defaults` for this source:
/// format=FORMAT (as parse_corpus_format), text=COLUMN[,COLUMN...], title=COLUMN, id=COLUMN and
/// url=COLUMN. An empty value restores automatic detection. Example: faq.csv#text=q,a;title=q.
/// A '#' followed by anything but one of these keys and '=' is part of the path. Throws
/// std::invalid_argument naming the argument for an unknown key, an item without '=' or an
/// invalid format.
corpus_source parse_corpus_source(std::string_view argument, const corpus_options& defaults);

/// A document that remove_duplicate_ids removed.
struct duplicate_document {
    std::string id;
    std::size_t index = 0;        ///< its position in the vector before the removal
    std::size_t first_index = 0;  ///< position of the first document with this id, likewise
};

/// Removes every document whose id repeats an earlier one, keeping the first and the order,
/// so that a file given twice does not show up twice in every result list. Returns how many
/// were removed and stores the first repeated id in `first_duplicate`.
std::size_t remove_duplicate_ids(std::vector<document>& docs, std::string& first_duplicate);

/// Removes documents like the overload above, and describes each removed one in `removed`.
void remove_duplicate_ids(std::vector<document>& docs, std::vector<duplicate_document>& removed);

}  // namespace tgsearch
