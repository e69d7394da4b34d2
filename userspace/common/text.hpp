// Text that every stage may produce: safe process names and errno names.
#pragma once

#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>

namespace cwt
{

// Process names are chosen by whoever runs the process: never let them reach a
// terminal or a JSON consumer raw. Printable ASCII passes, everything else
// (control bytes, escape sequences, invalid UTF-8) becomes \xNN; '\' is doubled.
inline std::string escape_comm(std::string_view raw)
{
    std::string out;
    out.reserve(raw.size());
    for (unsigned char c : raw) {
        if (c == '\0')
            break;
        if (c == '\\') {
            out += "\\\\";
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char hex[5];
            std::snprintf(hex, sizeof(hex), "\\x%02x", c);
            out += hex;
        }
    }
    return out;
}

inline std::string errno_name(int err)
{
    switch (err) {
    case EMFILE:
        return "EMFILE";
    case ENFILE:
        return "ENFILE";
    default:
        return "E" + std::to_string(err);
    }
}

} // namespace cwt
