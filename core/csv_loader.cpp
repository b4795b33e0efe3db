// Loading of CSV and TSV corpora: a header row, then one document per row.

#include "core/corpus_loader_detail.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tgsearch::detail {

namespace {

/// Column names tried, in order, when no name is chosen for that role.
constexpr std::string_view default_text_columns[] = {"text", "body", "content", "message"};
constexpr std::string_view default_url_columns[] = {"url", "link"};

/// One row split into fields, with the line it starts on.
struct row {
    std::vector<std::string> fields;  ///< the first fields, at most row_reader's field limit
    std::size_t field_count = 0;      ///< all fields, also those beyond the limit
    std::size_t line = 0;
    std::string problem;  ///< why the row is malformed; empty when it is well-formed
};

/// Splits delimited text into rows. With quoting (CSV) a field may be quoted as RFC 4180
/// describes; without it (TSV) backslash escapes are decoded instead.
class row_reader {
public:
    row_reader(std::string_view text, char delimiter)
        : text_(text), delimiter_(delimiter), quoting_(delimiter != '\t') {}

    /// Reads the next row that is not blank into `out`. Returns false at the end of the text.
    bool next(row& out);

    /// Keeps at most `limit` fields of each row and only counts the rest, so that a runaway row
    /// of millions of short fields does not store them all.
    void limit_fields(std::size_t limit) { field_limit_ = limit; }

    /// Returns the offset of the first byte not read yet.
    std::size_t position() const { return position_; }

private:
    void read_unquoted(std::string& field);
    void read_quoted(std::string& field, row& out);
    void skip_blank_lines();
    std::size_t line_end() {
        if (line_end_ < position_ || line_end_ == std::string_view::npos) {
            line_end_ = std::min(text_.find('\n', position_), text_.size());
        }
        return line_end_;
    }

    std::string_view text_;
    char delimiter_;
    bool quoting_;
    std::size_t position_ = 0;
    std::size_t line_ = 1;
    std::size_t line_end_ = std::string_view::npos;  ///< next '\n' at or after position_, cached
    bool restarted_ = false;  ///< set when an unclosed quote moved position_ back
    std::size_t field_limit_ = std::numeric_limits<std::size_t>::max();
    std::string overflow_field_;  ///< receives the fields beyond field_limit_
};

/// Appends a TSV field to `out`, decoding \t, \n, \r and \\ and keeping other backslashes.
void append_tsv_unescaped(std::string& out, std::string_view raw) {
    std::size_t copied = 0;
    for (std::size_t slash = raw.find('\\'); slash != std::string_view::npos;
         slash = raw.find('\\', slash)) {
        if (slash + 1 == raw.size()) {
            break;
        }
        const char escaped = raw[slash + 1];
        const char decoded = escaped == 't'    ? '\t'
                             : escaped == 'n'  ? '\n'
                             : escaped == 'r'  ? '\r'
                             : escaped == '\\' ? '\\'
                                               : '\0';
        if (decoded == '\0') {
            slash += 1;
            continue;
        }
        out.append(raw.substr(copied, slash - copied));
        out.push_back(decoded);
        slash += 2;
        copied = slash;
    }
    out.append(raw.substr(copied));
}

void row_reader::skip_blank_lines() {
    while (position_ < text_.size()) {
        const std::size_t first = text_.find_first_not_of(" \t\r", position_);
        if (first == std::string_view::npos) {
            position_ = text_.size();
            return;
        }
        if (text_[first] != '\n') {
            return;
        }
        position_ = first + 1;
        ++line_;
    }
}

bool row_reader::next(row& out) {
    skip_blank_lines();
    if (position_ >= text_.size()) {
        return false;
    }
    out.fields.clear();
    out.field_count = 0;
    out.problem.clear();
    out.line = line_;
    for (;;) {
        ++out.field_count;
        overflow_field_.clear();
        std::string& field =
            out.fields.size() < field_limit_ ? out.fields.emplace_back() : overflow_field_;
        if (quoting_ && position_ < text_.size() && text_[position_] == '"') {
            read_quoted(field, out);
            if (restarted_) {
                restarted_ = false;
                return true;
            }
        } else {
            read_unquoted(field);
        }
        if (position_ >= text_.size()) {
            return true;
        }
        if (text_[position_] == delimiter_) {
            ++position_;
            continue;
        }
        // The field ended at a line break, which ends the row.
        ++position_;
        ++line_;
        return true;
    }
}

void row_reader::read_unquoted(std::string& field) {
    const std::size_t end = line_end();
    const void* found = std::memchr(text_.data() + position_, delimiter_, end - position_);
    const std::size_t field_end =
        found ? static_cast<std::size_t>(static_cast<const char*>(found) - text_.data()) : end;
    std::string_view raw = text_.substr(position_, field_end - position_);
    if (field_end == end && raw.ends_with('\r')) {
        raw.remove_suffix(1);
    }
    if (quoting_) {
        field.append(raw);
    } else {
        append_tsv_unescaped(field, raw);
    }
    position_ = field_end;
}

void row_reader::read_quoted(std::string& field, row& out) {
    const std::size_t opening = position_;
    const std::size_t opening_line = line_;
    ++position_;
    for (;;) {
        const std::size_t quote = text_.find('"', position_);
        if (quote == std::string_view::npos) {
            if (out.problem.empty()) {
                out.problem = fmt::format(
                    "unclosed quote: the quoted field {} that starts on line {} has no closing "
                    "'\"' before the end of the file",
                    out.field_count, opening_line);
            }
            // Everything after the opening quote would otherwise be lost. Reading on from the
            // next line recovers the rows after a stray quote.
            const std::size_t newline = text_.find('\n', opening);
            position_ = newline == std::string_view::npos ? text_.size() : newline + 1;
            line_ = opening_line + 1;
            restarted_ = true;
            return;
        }
        const std::string_view chunk = text_.substr(position_, quote - position_);
        line_ += static_cast<std::size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
        append_with_lf_endings(field, chunk);
        if (quote + 1 < text_.size() && text_[quote + 1] == '"') {
            field.push_back('"');
            position_ = quote + 2;
            continue;
        }
        position_ = quote + 1;
        break;
    }
    if (position_ >= text_.size()) {
        return;
    }
    const char after = text_[position_];
    if (after == delimiter_ || after == '\n') {
        return;
    }
    if (after == '\r' && (position_ + 1 == text_.size() || text_[position_ + 1] == '\n')) {
        ++position_;
        return;
    }
    if (out.problem.empty()) {
        out.problem = fmt::format(
            "unexpected '{}' after the closing quote of field {}: a quote inside a quoted field "
            "must be doubled",
            after, out.field_count);
    }
    // Keep reading the row so that the next row starts where it should.
    read_unquoted(field);
}

/// Indexes of the header's columns chosen for each role. A role without a column is empty.
struct column_choice {
    std::optional<std::size_t> id;
    std::optional<std::size_t> title;
    std::vector<std::size_t> text;
    std::optional<std::size_t> url;
};

class column_resolver {
public:
    column_resolver(std::string_view name, const std::vector<std::string>& header)
        : name_(name), header_(header) {
        for (const std::string& column : header) {
            lower_names_.push_back(lowercase_ascii(trim(column)));
        }
    }

    std::optional<std::size_t> find(std::string_view column) const {
        const std::string expected = lowercase_ascii(trim(column));
        const auto it = std::find(lower_names_.begin(), lower_names_.end(), expected);
        if (it == lower_names_.end()) {
            return std::nullopt;
        }
        return static_cast<std::size_t>(it - lower_names_.begin());
    }

    /// Finds a column chosen by name, throwing when the header lacks it. `role` and `key` name
    /// the choice: "text" and "text" for --text-column or text= of the --corpus argument.
    std::size_t require(std::string_view column, std::string_view role,
                        std::string_view key) const {
        if (const std::optional<std::size_t> index = find(column)) {
            return *index;
        }
        throw std::runtime_error(fmt::format(
            "{} column \"{}\" not found in {}, whose header has {}. --{}-column applies to every "
            "CSV and TSV source; to choose the columns of this file alone, write --corpus "
            "{}#{}=COLUMN",
            role, column, name_, header_list(), key, name_, key));
    }

    /// Finds the first of `defaults` in the header.
    template <std::size_t count>
    std::optional<std::size_t> find_any(const std::string_view (&defaults)[count]) const {
        for (const std::string_view column : defaults) {
            if (const std::optional<std::size_t> index = find(column)) {
                return index;
            }
        }
        return std::nullopt;
    }

    std::string header_list() const {
        std::string list;
        for (const std::string& column : header_) {
            list += list.empty() ? "" : ", ";
            list += fmt::format("\"{}\"", column);
        }
        return list;
    }

private:
    std::string_view name_;
    const std::vector<std::string>& header_;
    std::vector<std::string> lower_names_;
};

/// Returns a hint for a header that suggests the file is not CSV or TSV at all, or not the
/// kind its name says, or an empty string.
std::string header_hint(const std::vector<std::string>& header) {
    const std::string_view first = header.empty() ? std::string_view() : header.front();
    if (first.starts_with('{') || first.starts_with('[')) {
        return ". The file looks like JSON: name it .jsonl or .json, or pass --format jsonl or "
               "--format telegram";
    }
    for (const std::string& column : header) {
        if (column.find('\r') != std::string::npos) {
            return ". Its lines end in a bare carriage return (CR): convert them to LF, for "
                   "example with tr '\\r' '\\n'";
        }
    }
    if (header.size() == 1) {
        for (const char separator : {';', '\t', ',', '|'}) {
            if (first.find(separator) != std::string_view::npos) {
                return fmt::format(
                    ". Its header is one column that contains '{}': CSV must be separated by "
                    "commas and TSV by tabs, so convert the file or name it to match",
                    separator == '\t' ? std::string("\\t") : std::string(1, separator));
            }
        }
    }
    return {};
}

column_choice choose_columns(std::string_view name, const std::vector<std::string>& header,
                             const csv_columns& chosen) {
    const column_resolver resolver(name, header);
    column_choice choice;
    choice.id = chosen.id.empty() ? resolver.find("id") : resolver.require(chosen.id, "id", "id");
    choice.title = chosen.title.empty() ? resolver.find("title")
                                        : resolver.require(chosen.title, "title", "title");
    choice.url = chosen.url.empty() ? resolver.find_any(default_url_columns)
                                    : resolver.require(chosen.url, "url", "url");
    for (const std::string& column : chosen.text) {
        choice.text.push_back(resolver.require(column, "text", "text"));
    }
    if (chosen.text.empty()) {
        const std::optional<std::size_t> text = resolver.find_any(default_text_columns);
        if (!text) {
            throw std::runtime_error(fmt::format(
                "{} has no text column: its header has {} but none of \"text\", \"body\", "
                "\"content\" or \"message\"; choose one with --corpus {}#text=COLUMN, or with "
                "--text-column for every CSV and TSV source{}",
                name, resolver.header_list(), name, header_hint(header)));
        }
        choice.text.push_back(*text);
    }
    return choice;
}

/// Returns why the field in `column` cannot be loaded, or an empty string.
std::string check_field(std::string_view field, std::string_view column) {
    if (field.find('\0') != std::string_view::npos) {
        return fmt::format("column \"{}\" contains a NUL byte", column);
    }
    if (const std::size_t invalid = find_invalid_utf8(field); invalid != std::string_view::npos) {
        return fmt::format("column \"{}\" is not valid UTF-8 (byte {} of the field)", column,
                           invalid + 1);
    }
    return {};
}

}  // namespace

load_report load_delimited(const load_context& context, std::string_view content, char delimiter,
                           std::vector<document>& out) {
    load_report result;
    progress_reporter progress(context.options.on_progress, content.size());
    row_reader reader(content, delimiter);
    row header;
    if (!reader.next(header)) {
        progress.finish(0);
        return result;
    }
    if (!header.problem.empty()) {
        throw std::runtime_error(fmt::format("cannot read the header row of {} (line {}): {}",
                                             context.name, header.line, header.problem));
    }
    const column_choice columns =
        choose_columns(context.name, header.fields, context.options.columns);
    reader.limit_fields(header.fields.size() + 1);
    const std::string_view id_prefix = file_name_of(context.name);

    // Checked in this order, so the first problem of a row names the first column involved.
    std::vector<std::size_t> checked = columns.text;
    for (const std::optional<std::size_t>& column : {columns.id, columns.title, columns.url}) {
        if (column) {
            checked.push_back(*column);
        }
    }

    row current;
    while (reader.next(current)) {
        progress.update(reader.position(), result.loaded);
        const auto skip = [&](std::string reason) {
            report(context.on_error, context.name, current.line, std::move(reason));
            ++result.skipped;
        };
        if (!current.problem.empty()) {
            skip(std::move(current.problem));
            continue;
        }
        if (current.field_count != header.fields.size()) {
            skip(fmt::format(
                "row has {} fields, but the header has {}; check the row's quoting (a field with "
                "a {} or a line break must be in double quotes) and that the file uses {}",
                current.field_count, header.fields.size(), delimiter == '\t' ? "tab" : "comma",
                delimiter == '\t' ? "tabs between fields" : "commas between fields"));
            continue;
        }
        std::string problem;
        for (const std::size_t column : checked) {
            problem = check_field(current.fields[column], header.fields[column]);
            if (!problem.empty()) {
                break;
            }
        }
        if (!problem.empty()) {
            skip(std::move(problem));
            continue;
        }

        document doc;
        for (const std::size_t column : columns.text) {
            std::string& part = current.fields[column];
            if (trim(part).empty()) {
                continue;
            }
            if (!doc.text.empty()) {
                doc.text += '\n';
            }
            doc.text += part;
        }
        if (columns.title) {
            doc.title = trim(current.fields[*columns.title]);
        }
        if (doc.text.empty() && doc.title.empty()) {
            skip(columns.title ? "row has no text: its text and title columns are empty"
                               : "row has no text: its text column is empty");
            continue;
        }
        if (columns.id) {
            doc.id = trim(current.fields[*columns.id]);
        }
        if (doc.id.empty()) {
            doc.id = fmt::format("{}:{}", id_prefix, current.line);
        }
        if (columns.url) {
            doc.url = trim(current.fields[*columns.url]);
        }
        out.push_back(std::move(doc));
        result.lines.push_back(current.line);
        ++result.loaded;
    }
    progress.finish(result.loaded);
    return result;
}

}  // namespace tgsearch::detail
