#include "core/netstat.hpp"

#include <vector>

namespace cwt
{

std::optional<std::uint64_t> parse_listen_overflows(std::string_view text)
{
    // Pairs of lines: "TcpExt: Name1 Name2 ..." then "TcpExt: 1 2 ...".
    auto next_line = [&](std::size_t& at) {
        std::size_t eol = text.find('\n', at);
        std::string_view l =
            text.substr(at, eol == std::string_view::npos ? std::string_view::npos : eol - at);
        at = eol == std::string_view::npos ? text.size() : eol + 1;
        return l;
    };
    auto words = [](std::string_view l) {
        std::vector<std::string_view> w;
        std::size_t i = 0;
        while (i < l.size()) {
            while (i < l.size() && l[i] == ' ')
                ++i;
            std::size_t j = i;
            while (j < l.size() && l[j] != ' ')
                ++j;
            if (j > i)
                w.push_back(l.substr(i, j - i));
            i = j;
        }
        return w;
    };
    std::size_t at = 0;
    while (at < text.size()) {
        std::string_view names = next_line(at);
        if (at >= text.size() && names.empty())
            break;
        std::string_view values = next_line(at);
        if (names.compare(0, 7, "TcpExt:") != 0 || values.compare(0, 7, "TcpExt:") != 0)
            continue;
        auto n = words(names), v = words(values);
        for (std::size_t i = 1; i < n.size() && i < v.size(); ++i) {
            if (n[i] != "ListenOverflows")
                continue;
            std::uint64_t x = 0;
            if (v[i].empty() || v[i].size() > 20)
                return std::nullopt;
            for (char c : v[i]) {
                if (c < '0' || c > '9')
                    return std::nullopt;
                x = x * 10 + static_cast<std::uint64_t>(c - '0');
            }
            return x;
        }
    }
    return std::nullopt;
}

std::optional<std::uint64_t> parse_tcp_inuse(std::string_view text)
{
    return parse_inuse(text, "TCP: inuse ");
}

std::optional<std::uint64_t> parse_tcp6_inuse(std::string_view text)
{
    return parse_inuse(text, "TCP6: inuse ");
}

std::optional<std::uint64_t> parse_inuse(std::string_view text, std::string_view prefix)
{
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t eol = text.find('\n', at);
        std::string_view l =
            text.substr(at, eol == std::string_view::npos ? std::string_view::npos : eol - at);
        at = eol == std::string_view::npos ? text.size() : eol + 1;
        if (l.compare(0, prefix.size(), prefix) != 0)
            continue;
        std::uint64_t v = 0;
        std::size_t i = prefix.size(), digits = 0;
        for (; i < l.size() && l[i] >= '0' && l[i] <= '9' && digits < 20; ++i, ++digits)
            v = v * 10 + static_cast<std::uint64_t>(l[i] - '0');
        if (!digits || (i < l.size() && l[i] != ' '))
            return std::nullopt;
        return v;
    }
    return std::nullopt;
}

} // namespace cwt
