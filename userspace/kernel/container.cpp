#include "kernel/container.hpp"

#include <fstream>
#include <sstream>

namespace cwt
{

std::string container_id_from_cgroup(std::string_view file)
{
    std::string best;
    // Lines are "hierarchy:controllers:path"; any of them may name it (v1 or v2).
    std::size_t pos = 0;
    while (pos < file.size()) {
        std::size_t end = file.find('\n', pos);
        std::string_view line =
            file.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? file.size() : end + 1;
        std::size_t c1 = line.find(':');
        std::size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string_view::npos)
            continue;
        std::string_view path = line.substr(c2 + 1);
        // The last run of exactly 64 hex digits in the path.
        std::size_t run = 0;
        for (std::size_t i = 0; i <= path.size(); ++i) {
            char ch = i < path.size() ? path[i] : '/';
            bool hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
            if (hex) {
                ++run;
                continue;
            }
            if (run == 64)
                best = std::string(path.substr(i - 64, 12));
            run = 0;
        }
    }
    return best;
}

std::string container_of(std::uint32_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    if (!in)
        return "";
    std::stringstream ss;
    ss << in.rdbuf();
    return container_id_from_cgroup(ss.str());
}

} // namespace cwt
