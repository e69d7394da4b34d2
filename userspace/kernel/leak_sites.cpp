#include "kernel/leak_sites.hpp"

#include <bpf/bpf.h>

#include <cstring>

namespace cwt
{

const char* site_call_name(std::uint8_t call)
{
    switch (call) {
    case CWT_CALL_READ: return "read";
    case CWT_CALL_RECVFROM: return "recvfrom";
    case CWT_CALL_RECVMSG: return "recvmsg";
    case CWT_CALL_READV: return "readv";
    case CWT_CALL_ACCEPT: return "accept";
    case CWT_CALL_ACCEPT4: return "accept4";
    }
    return "read";
}

std::optional<RawSite> read_raw_site(int sites_fd, int stacks_fd, std::uint64_t sk)
{
    RawSite r;
    if (sites_fd < 0 || bpf_map_lookup_elem(sites_fd, &sk, &r.rec) != 0)
        return std::nullopt;
    if (r.rec.stack_id >= 0 && stacks_fd >= 0) {
        std::uint64_t ips[CWT_SITE_STACK_DEPTH] = {};
        std::uint32_t id = static_cast<std::uint32_t>(r.rec.stack_id);
        if (bpf_map_lookup_elem(stacks_fd, &id, ips) == 0)
            for (std::uint64_t ip : ips) {
                if (!ip)
                    break;
                r.fp_ips.push_back(ip);
            }
    }
    return r;
}

LeakSite resolve_site(const RawSite& raw, Symbolizer& sym)
{
    LeakSite s;
    s.kind = raw.rec.kind == CWT_SITE_ACCEPT ? SiteKind::Accept : SiteKind::ReadEof;
    s.call = site_call_name(raw.rec.call);
    s.tid = raw.rec.tid;
    RawUserStack u;
    u.pid = raw.rec.tgid;
    u.tid = raw.rec.tid;
    u.ip = raw.rec.ip;
    u.sp = raw.rec.sp;
    u.bp = raw.rec.bp;
    std::size_t len = std::min<std::size_t>(raw.rec.stack_len, sizeof(raw.rec.stack));
    u.stack.resize(len);
    std::memcpy(u.stack.data(), raw.rec.stack, len);
    u.fp_ips = raw.fp_ips;
    s.frames = sym.frames(u);
    s.interpreter = interpreter_of(sym.exe(u.pid));
    fill_site_from_frames(s);
    return s;
}

} // namespace cwt
