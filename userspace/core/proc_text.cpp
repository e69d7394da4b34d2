#include "core/proc_text.hpp"

#include <cstdint>
#include <limits>

namespace cwt
{

namespace
{

bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

// Calls f(line) for each line (without its '\n').
template <typename F> void for_each_line(std::string_view text, F f)
{
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        if (!f(line))
            return;
        if (nl == std::string_view::npos)
            return;
        text.remove_prefix(nl + 1);
    }
}

// "Key:\tvalue" -> value, when the line starts with key and a colon.
std::optional<std::string_view> value_of(std::string_view line, std::string_view key)
{
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':')
        return std::nullopt;
    return trim(line.substr(key.size() + 1));
}

std::string_view first_token(std::string_view s)
{
    s = trim(s);
    std::size_t i = 0;
    while (i < s.size() && !is_space(s[i]))
        ++i;
    return s.substr(0, i);
}

std::optional<std::uint32_t> to_u32(std::optional<std::uint64_t> v)
{
    if (!v || *v > std::numeric_limits<std::uint32_t>::max())
        return std::nullopt;
    return static_cast<std::uint32_t>(*v);
}

} // namespace

std::optional<std::uint64_t> parse_u64(std::string_view s, int base)
{
    if (s.empty() || s.size() > 64)
        return std::nullopt;
    std::uint64_t v = 0;
    const auto max = std::numeric_limits<std::uint64_t>::max();
    for (char c : s) {
        unsigned d;
        if (c >= '0' && c <= '9')
            d = static_cast<unsigned>(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = static_cast<unsigned>(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = static_cast<unsigned>(c - 'A' + 10);
        else
            return std::nullopt;
        if (d >= static_cast<unsigned>(base))
            return std::nullopt;
        if (v > (max - d) / static_cast<unsigned>(base))
            return std::nullopt;
        v = v * static_cast<unsigned>(base) + d;
    }
    return v;
}

ProcStatus parse_proc_status(std::string_view text)
{
    ProcStatus st;
    for_each_line(text, [&](std::string_view line) {
        if (auto v = value_of(line, "Name"))
            st.name = std::string(*v);
        else if (auto v = value_of(line, "State"))
            st.state = v->empty() ? 0 : (*v)[0];
        else if (auto v = value_of(line, "Tgid"))
            st.tgid = to_u32(parse_u64(first_token(*v)));
        else if (auto v = value_of(line, "Pid"))
            st.pid = to_u32(parse_u64(first_token(*v)));
        else if (auto v = value_of(line, "PPid"))
            st.ppid = to_u32(parse_u64(first_token(*v)));
        else if (auto v = value_of(line, "CapEff"))
            st.cap_eff = parse_u64(first_token(*v), 16);
        else if (auto v = value_of(line, "CapPrm"))
            st.cap_prm = parse_u64(first_token(*v), 16);
        return true;
    });
    return st;
}

FdInfoText parse_fdinfo(std::string_view text)
{
    FdInfoText fi;
    for_each_line(text, [&](std::string_view line) {
        if (auto v = value_of(line, "pos"))
            fi.pos = parse_u64(first_token(*v));
        else if (auto v = value_of(line, "flags"))
            fi.flags = to_u32(parse_u64(first_token(*v), 8));
        else if (auto v = value_of(line, "mnt_id"))
            fi.mnt_id = parse_u64(first_token(*v));
        else if (auto v = value_of(line, "ino"))
            fi.ino = parse_u64(first_token(*v));
        return true;
    });
    return fi;
}

std::optional<std::string> parse_cgroup_path(std::string_view text)
{
    std::optional<std::string> v1;
    std::optional<std::string> v2;
    for_each_line(text, [&](std::string_view line) {
        // hierarchy-ID:controller-list:path; the path may hold ':' itself.
        std::size_t a = line.find(':');
        if (a == std::string_view::npos)
            return true;
        std::size_t b = line.find(':', a + 1);
        if (b == std::string_view::npos)
            return true;
        std::string_view id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1);
        std::string_view path = line.substr(b + 1);
        if (path.empty() || path[0] != '/' || !parse_u64(id))
            return true;
        if (id == "0" && controllers.empty()) {
            v2 = std::string(path);
            return false;
        }
        if (!v1)
            v1 = std::string(path);
        return true;
    });
    return v2 ? v2 : v1;
}

std::optional<LimitRow> parse_limit(std::string_view text, std::string_view name)
{
    std::optional<LimitRow> row;
    if (name.empty())
        return row;
    for_each_line(text, [&](std::string_view line) {
        if (line.size() <= name.size() || line.substr(0, name.size()) != name || !is_space(line[name.size()]))
            return true;
        std::string_view rest = trim(line.substr(name.size()));
        std::string_view soft = first_token(rest);
        rest = trim(rest.substr(soft.size()));
        std::string_view hard = first_token(rest);
        auto value = [](std::string_view t) -> std::optional<std::uint64_t> {
            if (t == "unlimited")
                return std::numeric_limits<std::uint64_t>::max();
            return parse_u64(t);
        };
        auto s = value(soft), h = value(hard);
        if (s && h)
            row = LimitRow{*s, *h};
        return false;
    });
    return row;
}

} // namespace cwt
