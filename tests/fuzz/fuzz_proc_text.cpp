// libFuzzer target: the /proc texts (status, fdinfo, cgroup, limits). The
// first byte picks the parser (or all of them), the rest is the file. No
// input may crash them, and what they return must hold together.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/proc_text.hpp"
#include "kernel/container.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0 || size > 256 * 1024)
        return 0;
    const unsigned which = data[0] % 5;
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (which == 0 || which == 4) {
        cwt::ProcStatus st = cwt::parse_proc_status(text);
        if (st.name.size() > text.size())
            __builtin_trap();
        if (st.exited() && st.state != 'Z' && st.state != 'X')
            __builtin_trap();
    }
    if (which == 1 || which == 4) {
        cwt::FdInfoText fi = cwt::parse_fdinfo(text);
        (void)fi;
    }
    if (which == 2 || which == 4) {
        auto path = cwt::parse_cgroup_path(text);
        if (path && (path->empty() || (*path)[0] != '/' || path->size() > text.size()))
            __builtin_trap();
        std::string id = cwt::container_id_from_cgroup(text);
        if (!id.empty() && id.size() != 12)
            __builtin_trap();
    }
    if (which == 3 || which == 4) {
        auto row = cwt::parse_limit(text, "Max open files");
        (void)row;
        (void)cwt::parse_limit(text, "");
    }
    return 0;
}
