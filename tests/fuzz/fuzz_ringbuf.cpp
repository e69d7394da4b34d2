// libFuzzer target: one ring-buffer record, as the kernel (or a corrupted
// ring) hands it to the decoder: any length, truncated or oversized, any kind.
// Beyond "no crash, no UB": whatever decodes must print as plain ASCII.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "core/decoder.hpp"
#include "report/format.hpp"

namespace
{

void require_printable(const std::string& s)
{
    for (unsigned char c : s)
        if (c < 0x20 || c > 0x7e)
            __builtin_trap(); // an escape or control byte would reach a terminal or JSON
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto ev = cwt::decode_event(data, size);
    if (!ev)
        return 0;
    if (auto* s = std::get_if<cwt::SockEvent>(&*ev)) {
        require_printable(cwt::format_endpoint(s->info.tuple.local));
        require_printable(cwt::format_endpoint(s->info.tuple.remote));
        if (s->info.accepted)
            require_printable(s->info.accepted->by.comm);
    } else if (auto* a = std::get_if<cwt::AcceptErrorEvent>(&*ev)) {
        require_printable(a->process.comm);
        require_printable(cwt::errno_name(a->err));
    }
    return 0;
}
