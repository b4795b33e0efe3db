// Loading of a folder of .txt and .md files, one document per file.

#include "core/corpus_loader_detail.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tgsearch::detail {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

/// A file found by the walk and not yet read.
struct pending_file {
    fs::path path;
    std::string relative;  ///< path below the root with '/' separators: the document id
    std::uint64_t size = 0;
    bool markdown = false;
};

bool is_ascii_punctuation(char c) {
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

// ---------------------------------------------------------------------------------------------
// Walking the folder

/// Collects the .txt and .md files below a root, depth first in byte order of their names.
class folder_walker {
public:
    folder_walker(const load_context& context, load_report& result)
        : context_(context), result_(result) {}

    std::vector<pending_file> walk(const fs::path& root) {
        struct stat info {};
        if (::stat(root.c_str(), &info) != 0) {
            throw std::runtime_error(fmt::format("cannot read corpus folder {}: {}", root.string(),
                                                 std::strerror(errno)));
        }
        visited_.insert({info.st_dev, info.st_ino});
        walk_directory(root, "");
        return std::move(files_);
    }

private:
    void skip(const fs::path& path, std::string reason) {
        report(context_.on_error, path.string(), 0, std::move(reason));
        ++result_.skipped;
    }

    void walk_directory(const fs::path& directory, const std::string& relative) {
        std::error_code error;
        std::vector<fs::directory_entry> entries;
        for (fs::directory_iterator it(directory, error), end; !error && it != end;
             it.increment(error)) {
            entries.push_back(*it);
        }
        if (error) {
            skip(directory, fmt::format("cannot list the directory: {}", error.message()));
            return;
        }
        std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
            return a.path().filename().native() < b.path().filename().native();
        });
        for (const fs::directory_entry& entry : entries) {
            visit(entry, relative);
        }
    }

    void visit(const fs::directory_entry& entry, const std::string& parent) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with('.')) {
            ++result_.ignored;
            return;
        }
        const std::string relative = parent.empty() ? name : parent + "/" + name;
        // stat follows symbolic links, so a link to a directory is walked like the directory.
        struct stat info {};
        if (::stat(entry.path().c_str(), &info) != 0) {
            skip(entry.path(), fmt::format("cannot read it: {}", std::strerror(errno)));
            return;
        }
        if (S_ISDIR(info.st_mode)) {
            if (!visited_.insert({info.st_dev, info.st_ino}).second) {
                skip(entry.path(),
                     "the directory was read already under another path (a symbolic link "
                     "loop or a second link to it)");
                return;
            }
            walk_directory(entry.path(), relative);
            return;
        }
        const std::string lower = lowercase_ascii(name);
        const bool markdown = lower.ends_with(".md") || lower.ends_with(".markdown");
        if (!S_ISREG(info.st_mode) || !(markdown || lower.ends_with(".txt"))) {
            ++result_.ignored;
            return;
        }
        files_.push_back(pending_file{entry.path(), relative,
                                      static_cast<std::uint64_t>(info.st_size), markdown});
    }

    const load_context& context_;
    load_report& result_;
    std::set<std::pair<dev_t, ino_t>> visited_;
    std::vector<pending_file> files_;
};

// ---------------------------------------------------------------------------------------------
// Markdown

/// Finds the end of the bracketed text that starts at `open` ('['), allowing nested brackets.
std::size_t find_closing(std::string_view line, std::size_t open, char opening, char closing) {
    int depth = 0;
    for (std::size_t i = open; i < line.size(); ++i) {
        if (line[i] == '\\') {
            ++i;
        } else if (line[i] == opening) {
            ++depth;
        } else if (line[i] == closing && --depth == 0) {
            return i;
        }
    }
    return std::string_view::npos;
}

std::string strip_inline_markdown(std::string_view line);

/// Reads a link or image whose '[' is at `open`. Appends its text and returns the offset after
/// it, or returns `open` when no link starts there.
std::size_t append_link_text(std::string& out, std::string_view line, std::size_t open) {
    const std::size_t label_end = find_closing(line, open, '[', ']');
    if (label_end == std::string_view::npos || label_end + 1 >= line.size()) {
        return open;
    }
    std::size_t end = std::string_view::npos;
    if (line[label_end + 1] == '(') {
        end = find_closing(line, label_end + 1, '(', ')');
    } else if (line[label_end + 1] == '[') {
        end = find_closing(line, label_end + 1, '[', ']');
    }
    if (end == std::string_view::npos) {
        return open;
    }
    out += strip_inline_markdown(line.substr(open + 1, label_end - open - 1));
    return end + 1;
}

/// Checks whether a run of '*', '_' or '~' between `before` and `after` opens or closes
/// emphasis. A run between two word characters ("snake_case", "2*3") or two spaces is a
/// literal character.
bool is_emphasis_delimiter(char before, char after) {
    const bool space_before = before == '\0' || is_space(before);
    const bool space_after = after == '\0' || is_space(after);
    const bool opens = !space_after && (space_before || is_ascii_punctuation(before));
    const bool closes = !space_before && (space_after || is_ascii_punctuation(after));
    return opens || closes;
}

/// Removes emphasis markers, code spans' backticks, link and image syntax (keeping their text),
/// autolink brackets and backslash escapes from one line of Markdown.
std::string strip_inline_markdown(std::string_view line) {
    std::string out;
    out.reserve(line.size());
    std::size_t i = 0;
    while (i < line.size()) {
        const char c = line[i];
        if (c == '\\' && i + 1 < line.size() && is_ascii_punctuation(line[i + 1])) {
            out.push_back(line[i + 1]);
            i += 2;
            continue;
        }
        if (c == '`') {
            const std::size_t run = line.find_first_not_of('`', i) == std::string_view::npos
                                        ? line.size() - i
                                        : line.find_first_not_of('`', i) - i;
            const std::string_view fence = line.substr(i, run);
            const std::size_t close = line.find(fence, i + run);
            if (close == std::string_view::npos) {
                out.append(fence);
                i += run;
                continue;
            }
            std::string_view code = line.substr(i + run, close - i - run);
            if (code.size() >= 2 && code.front() == ' ' && code.back() == ' ') {
                code = code.substr(1, code.size() - 2);
            }
            out.append(code);
            i = close + run;
            continue;
        }
        if (c == '[' || (c == '!' && i + 1 < line.size() && line[i + 1] == '[')) {
            const std::size_t open = c == '[' ? i : i + 1;
            const std::size_t after = append_link_text(out, line, open);
            if (after != open) {
                i = after;
                continue;
            }
        }
        if (c == '<') {
            const std::size_t close = line.find('>', i);
            const std::string_view inside =
                close == std::string_view::npos ? "" : line.substr(i + 1, close - i - 1);
            const bool autolink = inside.find(' ') == std::string_view::npos &&
                                  (inside.starts_with("http://") ||
                                   inside.starts_with("https://") || inside.starts_with("mailto:"));
            if (autolink) {
                out.append(inside);
                i = close + 1;
                continue;
            }
        }
        if (c == '*' || c == '_' || c == '~') {
            std::size_t run = 1;
            while (i + run < line.size() && line[i + run] == c) {
                ++run;
            }
            const char before = i == 0 ? '\0' : line[i - 1];
            const char after = i + run < line.size() ? line[i + run] : '\0';
            // A single '~' is text; strikethrough takes two.
            const bool delimiter = (c != '~' || run >= 2) && is_emphasis_delimiter(before, after);
            if (!delimiter) {
                out.append(line.substr(i, run));
            }
            i += run;
            continue;
        }
        out.push_back(c);
        ++i;
    }
    return out;
}

/// Returns the text of an ATX heading ("## Title ##"), or nothing when `line` is not one.
std::optional<std::string_view> atx_heading(std::string_view line) {
    const std::size_t indent = line.find_first_not_of(' ');
    if (indent == std::string_view::npos || indent > 3 || line[indent] != '#') {
        return std::nullopt;
    }
    const std::size_t level_end = line.find_first_not_of('#', indent);
    const std::size_t level =
        (level_end == std::string_view::npos ? line.size() : level_end) - indent;
    if (level > 6 || (level_end != std::string_view::npos && !is_space(line[level_end]))) {
        return std::nullopt;
    }
    std::string_view text = level_end == std::string_view::npos ? "" : trim(line.substr(level_end));
    // A closing sequence of '#' counts only after a space.
    const std::size_t closing = text.find_last_not_of('#');
    if (closing == std::string_view::npos) {
        text = {};
    } else if (closing + 1 < text.size() && is_space(text[closing])) {
        text = trim(text.substr(0, closing));
    }
    return text;
}

/// Returns the fence ("```" or "~~~", possibly longer) that opens a code block on `line`.
std::string_view code_fence(std::string_view line) {
    const std::size_t indent = line.find_first_not_of(' ');
    if (indent == std::string_view::npos || indent > 3) {
        return {};
    }
    const char marker = line[indent];
    if (marker != '`' && marker != '~') {
        return {};
    }
    const std::size_t end = line.find_first_not_of(marker, indent);
    const std::size_t length = (end == std::string_view::npos ? line.size() : end) - indent;
    return length >= 3 ? line.substr(indent, length) : std::string_view{};
}

/// Checks for a thematic break: three or more '-', '*' or '_' and nothing else but spaces.
bool is_thematic_break(std::string_view line) {
    const std::string_view content = trim(line);
    if (content.empty() || (content[0] != '-' && content[0] != '*' && content[0] != '_')) {
        return false;
    }
    std::size_t marks = 0;
    for (const char c : content) {
        if (c == content[0]) {
            ++marks;
        } else if (!is_space(c)) {
            return false;
        }
    }
    return marks >= 3;
}

/// Checks for a link reference definition ("[label]: https://..."), which is not text.
bool is_reference_definition(std::string_view line) {
    const std::string_view content = trim(line);
    if (!content.starts_with('[')) {
        return false;
    }
    const std::size_t close = find_closing(content, 0, '[', ']');
    return close != std::string_view::npos && close + 1 < content.size() &&
           content[close + 1] == ':';
}

/// Removes blockquote markers and turns '*' and '+' list bullets into '-', so that emphasis
/// stripping does not read a bullet as a marker.
std::string_view strip_block_markers(std::string_view line, std::string& bullet) {
    std::size_t indent = line.find_first_not_of(' ');
    while (indent != std::string_view::npos && line[indent] == '>') {
        line.remove_prefix(indent + 1);
        if (line.starts_with(' ')) {
            line.remove_prefix(1);
        }
        indent = line.find_first_not_of(' ');
    }
    bullet.clear();
    if (indent != std::string_view::npos && indent + 1 < line.size() &&
        (line[indent] == '*' || line[indent] == '+' || line[indent] == '-') &&
        is_space(line[indent + 1])) {
        bullet = std::string(line.substr(0, indent)) + "- ";
        line.remove_prefix(indent + 2);
    }
    return line;
}

/// Reads a YAML front matter block ("---" ... "---") at the start of `text`, stores its
/// `title:` value in `title` and returns the offset after the block, or 0 without one.
std::size_t skip_front_matter(std::string_view text, std::string& title) {
    if (!text.starts_with("---\n")) {
        return 0;
    }
    std::size_t position = 4;
    while (position < text.size()) {
        const std::size_t end = std::min(text.find('\n', position), text.size());
        const std::string_view line = text.substr(position, end - position);
        position = end + 1;
        if (line == "---" || line == "...") {
            return std::min(position, text.size());
        }
        if (line.starts_with("title:")) {
            std::string_view value = trim(line.substr(6));
            if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
                value.back() == value.front()) {
                value = value.substr(1, value.size() - 2);
            }
            title = value;
        }
    }
    // Without a closing line this is a thematic break followed by text, not front matter.
    title.clear();
    return 0;
}

/// A document's title and text before ids are given.
struct title_and_text {
    std::string title;
    std::string text;
};

/// Takes the first non-blank line of `text` as the title. When the line is longer than a title
/// may be, the title is cut and the text keeps the whole line.
title_and_text split_first_line(std::string_view text) {
    title_and_text result;
    const std::size_t first = text.find_first_not_of(" \t\n");
    if (first == std::string_view::npos) {
        return result;
    }
    const std::size_t line_start =
        text.rfind('\n', first) == std::string_view::npos ? 0 : text.rfind('\n', first) + 1;
    const std::size_t line_end = std::min(text.find('\n', first), text.size());
    const std::string_view line = trim(text.substr(line_start, line_end - line_start));
    result.title = make_title(line);
    if (result.title == line) {
        result.text = trim(text.substr(std::min(line_end + 1, text.size())));
    } else {
        result.text = trim(text);
    }
    return result;
}

title_and_text convert_markdown(std::string_view text) {
    std::string title;
    std::size_t position = skip_front_matter(text, title);
    std::string body;
    body.reserve(text.size() - position);
    std::string_view fence;
    std::string bullet;
    while (position < text.size()) {
        const std::size_t end = std::min(text.find('\n', position), text.size());
        const std::string_view line = text.substr(position, end - position);
        position = end + 1;

        if (!fence.empty()) {
            // Code is kept as it is written, since its punctuation is part of what is searched.
            const std::string_view closing = code_fence(line);
            if (!closing.empty() && closing[0] == fence[0] && closing.size() >= fence.size() &&
                trim(line).size() == closing.size()) {
                fence = {};
                continue;
            }
            body.append(line);
            body.push_back('\n');
            continue;
        }
        if (const std::string_view opening = code_fence(line); !opening.empty()) {
            fence = opening;
            continue;
        }
        if (const std::optional<std::string_view> heading = atx_heading(line)) {
            std::string heading_text = strip_inline_markdown(*heading);
            if (title.empty()) {
                title = make_title(heading_text);
                if (title == heading_text) {
                    continue;
                }
            }
            body.append(heading_text);
            body.push_back('\n');
            continue;
        }
        if (is_thematic_break(line) || is_reference_definition(line)) {
            continue;
        }
        const std::string_view content = strip_block_markers(line, bullet);
        body.append(bullet);
        body.append(strip_inline_markdown(content));
        body.push_back('\n');
    }
    if (title.empty()) {
        return split_first_line(body);
    }
    return title_and_text{std::move(title), std::string(trim(body))};
}

// ---------------------------------------------------------------------------------------------
// Reading the files

/// Reads a whole file. Returns false with `error` set when it cannot be read.
bool read_whole_file(const fs::path& path, std::uint64_t size, std::string& content,
                     std::string& error) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                               std::fclose);
    if (!file) {
        error = fmt::format("cannot read it: {}", std::strerror(errno));
        return false;
    }
    content.resize(static_cast<std::size_t>(size));
    const std::size_t read = std::fread(content.data(), 1, content.size(), file.get());
    if (std::ferror(file.get())) {
        error = fmt::format("cannot read it: {}", std::strerror(errno));
        return false;
    }
    // The file may have changed size since the walk: keep what is there now.
    content.resize(read);
    char extra[4096];
    for (std::size_t more; (more = std::fread(extra, 1, sizeof extra, file.get())) > 0;) {
        content.append(extra, more);
    }
    return true;
}

}  // namespace

load_report load_text_folder(const load_context& context, const fs::path& root,
                             std::vector<document>& out) {
    load_report result;
    folder_walker walker(context, result);
    const std::vector<pending_file> files = walker.walk(root);

    std::uint64_t total = 0;
    for (const pending_file& file : files) {
        total += file.size;
    }
    progress_reporter progress(context.options.on_progress, total);
    std::uint64_t done = 0;
    std::string content;
    for (const pending_file& file : files) {
        progress.update(done, result.loaded);
        done += file.size;
        const std::string name = file.path.string();
        const auto skip = [&](std::size_t line, std::string reason) {
            report(context.on_error, name, line, std::move(reason));
            ++result.skipped;
        };
        const std::uint64_t limit = context.options.max_text_file_bytes;
        if (file.size > limit) {
            skip(0, fmt::format("file of {} bytes is larger than the limit of {} bytes; split it "
                                "into smaller .txt or .md files, for example one per chapter "
                                "or with split -C {}",
                                file.size, limit, limit));
            continue;
        }
        std::string error;
        if (!read_whole_file(file.path, file.size, content, error)) {
            skip(0, std::move(error));
            continue;
        }
        std::string_view text = content;
        if (text.starts_with(utf8_bom)) {
            text.remove_prefix(utf8_bom.size());
        }
        if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
            skip(line_at_offset(text, nul), "file contains a NUL byte, so it is not a text file");
            continue;
        }
        if (const std::size_t invalid = find_invalid_utf8(text);
            invalid != std::string_view::npos) {
            skip(line_at_offset(text, invalid),
                 "file is not valid UTF-8 from this line on; convert it to UTF-8, e.g. with "
                 "iconv -f LATIN1 -t UTF-8");
            continue;
        }
        std::string normalized;
        append_with_lf_endings(normalized, text);
        if (trim(normalized).empty()) {
            ++result.ignored;
            continue;
        }
        title_and_text parts =
            file.markdown ? convert_markdown(normalized) : split_first_line(normalized);
        document doc;
        doc.id = file.relative;
        doc.title = std::move(parts.title);
        doc.text = std::move(parts.text);
        out.push_back(std::move(doc));
        ++result.loaded;
    }
    progress.finish(result.loaded);
    return result;
}

}  // namespace tgsearch::detail
