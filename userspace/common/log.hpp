// Diagnostics on stderr, with levels: error, warning, info (the default) and
// debug (--debug). One message is one line: "closewait-trace: LEVEL: text".
// When stderr is the journal (JOURNAL_STREAM names it, as systemd sets it for
// a service), each line starts with its sd-daemon(3) priority, "<3>" error,
// "<4>" warning, "<6>" info, "<7>" debug, so `journalctl -p` can select them.
// Findings are not diagnostics: they go to the reporters (report/).
#pragma once

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace cwt
{

// The syslog priorities, as sd-daemon prefixes them.
enum class LogLevel : int { Error = 3, Warning = 4, Info = 6, Debug = 7 };

// Whether `fd` is the stream JOURNAL_STREAM ("DEV:INODE") names.
inline bool is_journal_stream(int fd)
{
    const char* js = std::getenv("JOURNAL_STREAM");
    unsigned long long dev = 0, ino = 0;
    if (!js || std::sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    struct stat st {
    };
    return fstat(fd, &st) == 0 && static_cast<unsigned long long>(st.st_dev) == dev &&
           static_cast<unsigned long long>(st.st_ino) == ino;
}

namespace log_detail
{
struct State {
    LogLevel level = LogLevel::Info;
    std::FILE* sink = nullptr; // nullptr: stderr
    int journal = -1;          // -1: not yet checked
};
inline State& state()
{
    static State s;
    return s;
}
} // namespace log_detail

inline void set_log_level(LogLevel l)
{
    log_detail::state().level = l;
}
inline LogLevel log_level()
{
    return log_detail::state().level;
}
inline bool log_enabled(LogLevel l)
{
    return static_cast<int>(l) <= static_cast<int>(log_level());
}
// Tests: write to `sink`, with or without the journal prefixes.
inline void set_log_sink(std::FILE* sink, bool journal)
{
    log_detail::state().sink = sink;
    log_detail::state().journal = journal ? 1 : 0;
}

// The line as written: priority prefix under the journal, the program and
// level, then the text with every control byte (a newline too) as a space.
inline std::string log_line(LogLevel l, std::string_view text, bool journal)
{
    std::string out;
    if (journal)
        out += "<" + std::to_string(static_cast<int>(l)) + ">";
    out += "closewait-trace: ";
    switch (l) {
    case LogLevel::Error:
        out += "error: ";
        break;
    case LogLevel::Warning:
        out += "warning: ";
        break;
    case LogLevel::Info:
        break;
    case LogLevel::Debug:
        out += "debug: ";
        break;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.remove_suffix(1);
    for (char c : text)
        out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    out += '\n';
    return out;
}

inline void log_message(LogLevel l, std::string_view text)
{
    if (!log_enabled(l))
        return;
    auto& s = log_detail::state();
    std::FILE* out = s.sink ? s.sink : stderr;
    if (s.journal < 0)
        s.journal = is_journal_stream(fileno(out)) ? 1 : 0;
    std::string line = log_line(l, text, s.journal == 1);
    std::fwrite(line.data(), 1, line.size(), out);
    std::fflush(out);
}

// A line whose exact wording is specified (it already starts with the
// program name): only the journal prefix is added.
inline void log_line_raw(LogLevel l, std::string_view line)
{
    auto& s = log_detail::state();
    std::FILE* out = s.sink ? s.sink : stderr;
    if (s.journal < 0)
        s.journal = is_journal_stream(fileno(out)) ? 1 : 0;
    std::string text = s.journal == 1 ? "<" + std::to_string(static_cast<int>(l)) + ">" : std::string();
    text.append(line);
    text += '\n';
    std::fwrite(text.data(), 1, text.size(), out);
    std::fflush(out);
}

inline void log_error(std::string_view text)
{
    log_message(LogLevel::Error, text);
}
inline void log_warning(std::string_view text)
{
    log_message(LogLevel::Warning, text);
}
inline void log_info(std::string_view text)
{
    log_message(LogLevel::Info, text);
}
inline void log_debug(std::string_view text)
{
    log_message(LogLevel::Debug, text);
}

// Text of many lines kept as it is (libbpf's verifier log), at debug level.
inline void log_debug_block(std::string_view text)
{
    if (!log_enabled(LogLevel::Debug))
        return;
    auto& s = log_detail::state();
    std::FILE* out = s.sink ? s.sink : stderr;
    std::fwrite(text.data(), 1, text.size(), out);
}

} // namespace cwt
