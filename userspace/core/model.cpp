// Plain model helpers: address predicates and owner names.
#include <cstring>

#include "core/model.hpp"

namespace cwt
{

bool Endpoint::is_v4_mapped() const
{
    static constexpr std::array<std::uint8_t, 12> prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(addr.data(), prefix.data(), prefix.size()) == 0;
}

bool Endpoint::is_unspecified() const
{
    if (is_v4_mapped())
        return addr[12] == 0 && addr[13] == 0 && addr[14] == 0 && addr[15] == 0;
    for (auto b : addr)
        if (b)
            return false;
    return true;
}

const char* owner_kind_name(OwnerKind k)
{
    switch (k) {
    case OwnerKind::Process:
        return "process";
    case OwnerKind::AcceptQueue:
        return "accept_queue";
    case OwnerKind::NoFd:
        return "no_fd";
    case OwnerKind::Unknown:
        break;
    }
    return "unknown";
}

} // namespace cwt
