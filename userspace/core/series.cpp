#include "core/series.hpp"

#include <cctype>

namespace cwt
{

std::string container_of_cgroup(const std::string& text)
{
    // The last run of 64 hex digits in the file (".../docker-<id>.scope",
    // "/kubepods/.../<id>", "/docker/<id>").
    std::string best;
    std::size_t run = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        bool hex = i < text.size() && std::isxdigit(static_cast<unsigned char>(text[i])) &&
                   !std::isupper(static_cast<unsigned char>(text[i]));
        if (hex) {
            ++run;
            continue;
        }
        if (run == 64)
            best = text.substr(i - 64, 12);
        run = 0;
    }
    return best;
}

} // namespace cwt
