// libFuzzer target: the byte stream of the two BPF iterators (iter/tcp:
// cwt_iter_sock, iter/task_file: cwt_iter_file), cut into whole records the
// way Inventory's reader does (a trailing partial record is dropped), then
// every record through the decoders. The first byte picks the iterator.
// TODO(layout): the framing is a copy of inventory.cpp's read_records<T>;
// once it is a pure function of bytes (core/), call it here instead.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/decoder.hpp"
#include "report/format.hpp"

namespace
{

void require_printable(const std::string& s)
{
    for (unsigned char c : s)
        if (c < 0x20 || c > 0x7e)
            __builtin_trap();
}

template <typename T> std::vector<T> frame(const std::uint8_t* data, std::size_t size)
{
    std::vector<T> out(size / sizeof(T));
    if (!out.empty())
        std::memcpy(out.data(), data, out.size() * sizeof(T));
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const bool tcp = data[0] & 1;
    ++data;
    --size;
    if (tcp) {
        for (const auto& rec : frame<cwt_iter_sock>(data, size)) {
            auto l = cwt::decode_listener(rec);
            require_printable(cwt::format_endpoint(l.local));
            auto t = cwt::decode_tuple(rec.tuple);
            require_printable(cwt::format_endpoint(t.remote));
        }
    } else {
        for (const auto& rec : frame<cwt_iter_file>(data, size)) {
            auto p = cwt::decode_process(rec.tgid, rec.comm, rec.fd);
            require_printable(p.comm);
        }
    }
    return 0;
}
