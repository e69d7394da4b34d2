#include "core/leak_site.hpp"

#include <cstdio>

#include "common/text.hpp"

namespace cwt
{

const char* site_kind_name(SiteKind k)
{
    return k == SiteKind::Accept ? "accept" : "read_eof";
}

namespace
{

std::string basename_of(const std::string& path)
{
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool starts_with(const std::string& s, const char* prefix)
{
    return s.rfind(prefix, 0) == 0;
}

} // namespace

bool is_system_frame(const StackFrame& f)
{
    std::string b = basename_of(f.module);
    if (b.empty())
        return false;
    return starts_with(b, "libc.so") || starts_with(b, "libc-") || starts_with(b, "ld-linux") ||
           starts_with(b, "ld-musl") || starts_with(b, "libpthread") || starts_with(b, "[vdso]") ||
           starts_with(b, "linux-vdso");
}

std::optional<std::size_t> site_frame_index(const std::vector<StackFrame>& frames)
{
    for (std::size_t i = 0; i < frames.size(); ++i)
        if (frames[i].pc && !is_system_frame(frames[i]) && !frames[i].module.empty())
            return i;
    return std::nullopt;
}

std::string interpreter_of(const std::string& exe_path)
{
    std::string b = basename_of(exe_path);
    for (const char* name : {"python", "node", "nodejs", "ruby", "perl", "php", "lua", "java"})
        if (starts_with(b, name))
            return b;
    return "";
}

void fill_site_from_frames(LeakSite& s)
{
    auto i = site_frame_index(s.frames);
    if (!i) {
        // Nothing outside libc: name the innermost frame we have.
        if (s.frames.empty())
            return;
        i = 0;
    }
    const StackFrame& f = s.frames[*i];
    s.function = f.function;
    s.offset = f.function.empty() ? f.module_offset : f.offset;
    s.file = f.file;
    s.line = f.line;
    s.module = f.module;
    s.build_id = f.build_id;
}

std::string LeakSite::key() const
{
    // One code location: the line where debug info exists, else the symbol
    // and offset; the kind splits EOF reads from accept clues.
    std::string k = site_kind_name(kind);
    k += '|' + module + '|' + build_id + '|';
    if (!file.empty())
        k += function + '|' + file + ':' + std::to_string(line);
    else
        k += function + '+' + std::to_string(offset);
    return k;
}

std::string LeakSite::label() const
{
    std::string where;
    if (!function.empty()) {
        where = sanitize_symbol(function);
        if (file.empty()) {
            char off[32];
            std::snprintf(off, sizeof(off), "+0x%llx", static_cast<unsigned long long>(offset));
            where += off;
        }
    } else {
        char off[48];
        std::snprintf(off, sizeof(off), "0x%llx", static_cast<unsigned long long>(offset));
        where = off;
    }
    std::string loc;
    if (!file.empty()) {
        auto slash = file.rfind('/');
        loc = sanitize_symbol(slash == std::string::npos ? file : file.substr(slash + 1)) + ':' +
              std::to_string(line);
    } else if (!module.empty()) {
        loc = sanitize_symbol(basename_of(module));
    }
    std::string out = kind == SiteKind::Accept ? "accepted by " + call + "() in " : "after " + call + "()=0 in ";
    out += where;
    if (!loc.empty())
        out += " (" + loc + ")";
    if (!interpreter.empty())
        out += " [interpreter stack (" + sanitize_symbol(interpreter) + ")]";
    return out;
}

std::string sanitize_symbol(const std::string& s)
{
    return escape_comm(s);
}

} // namespace cwt
