#include "kernel/leak_sites.hpp"

#include <bpf/bpf.h>

#include <algorithm>
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

LeakSiteResolver::LeakSiteResolver(const LeakSiteOptions& o) : session_(o) {}

void LeakSiteResolver::annotate(std::vector<Finding>& findings)
{
    for (auto& f : findings) {
        auto* leak = std::get_if<LeakFinding>(&f);
        if (!leak || leak->site)
            continue;
        auto raw = read_raw_site(session_.sites_fd(), session_.stacks_fd(), leak->sock.sk);
        if (!raw)
            continue;
        LeakSite site = resolve_site(*raw, sym_);
        if (site.frames.empty())
            continue;
        ++resolved_;
        auto& shared = by_key_[site.key()];
        if (!shared) // the thread recorded is the first leak's there
            shared = std::make_shared<const LeakSite>(std::move(site));
        leak->site = shared;
    }
}

} // namespace cwt
