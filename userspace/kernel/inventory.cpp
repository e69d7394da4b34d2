#include "kernel/inventory.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_set>
#include <cerrno>
#include <cstring>

#include "closewait.skel.h"
#include "core/decoder.hpp"
#include "core/seed_policy.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "kernel/diag_inventory.hpp"
#include "kernel/fd_budget.hpp"
#include "kernel/procfs.hpp"

namespace cwt
{

namespace
{

int map_fd(const bpf_map* m)
{
    return bpf_map__fd(m);
}

// Reads an iterator fd to its end, appending its records to `out` (the
// stream is a plain concatenation of fixed-size records).
template <typename T> void read_iter_fd(int fd, std::vector<T>& out)
{
    constexpr std::size_t kChunk = 1 << 16;
    std::size_t bytes = out.size() * sizeof(T);
    out.resize(out.size() + kChunk / sizeof(T) * 4);
    for (;;) {
        if (out.size() * sizeof(T) - bytes < kChunk)
            out.resize(out.size() * 2);
        ssize_t n = read(fd, reinterpret_cast<char*>(out.data()) + bytes, out.size() * sizeof(T) - bytes);
        // EAGAIN: the kernel visited a million objects without output and
        // yields; the iterator keeps its place.
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            int e = errno;
            throw UserError(std::string("BPF iterator read failed: ") + std::strerror(e),
                            "retry; if it persists, run with --debug and report it");
        }
        if (n == 0)
            break;
        bytes += static_cast<std::size_t>(n);
    }
    out.resize(bytes / sizeof(T));
}

[[noreturn]] void iter_create_failed(int err)
{
    if (is_fd_shortage(err))
        throw_fd_shortage(err);
    throw UserError(std::string("cannot start a BPF iterator: ") + std::strerror(err),
                    "check kernel support for BPF iterators (5.9+)");
}

// Runs an iterator to its end from this thread's namespace.
template <typename T> std::vector<T> read_records(int link_fd)
{
    UniqueFd fd(bpf_iter_create(link_fd));
    if (!fd.valid())
        iter_create_failed(errno);
    std::vector<T> out;
    read_iter_fd(fd.get(), out);
    return out;
}

} // namespace

std::vector<cwt_iter_sock> Inventory::walk_tcp(const std::vector<std::uint32_t>* only)
{
    int link = s_.iter_link_fd(true);
    if (!netns_) {
        walked_.assign(1, own_netns());
        return read_records<cwt_iter_sock>(link);
    }
    // A namespace without a hashed TCP socket ("inuse" 0: no listener, no
    // connection, no queued child) has nothing for iter/tcp: not entered.
    auto inuse = netns_->tcp_in_use();
    std::vector<std::uint32_t> which;
    walked_.clear();
    for (std::uint32_t ino : netns_->inodes()) {
        if (only && std::find(only->begin(), only->end(), ino) == only->end())
            continue;
        auto it = inuse.find(ino);
        if (it != inuse.end() && it->second == 0)
            walked_.push_back(ino); // nothing there is walked too
        else
            which.push_back(ino);
    }
    int err = 0;
    auto fds = netns_->make_in_each([link] { return bpf_iter_create(link); }, &which, &err);
    if (fds.empty() && !which.empty() && err)
        iter_create_failed(err);
    std::vector<cwt_iter_sock> out;
    for (auto& m : fds) {
        read_iter_fd(m.fd.get(), out);
        walked_.push_back(m.netns);
    }
    return out;
}

bool Inventory::walked(std::uint32_t netns) const
{
    return std::find(walked_.begin(), walked_.end(), netns) != walked_.end();
}

std::vector<cwt_iter_sock> Inventory::tcp_sockets(bool only_wanted)
{
    s_.skel().bss->iter_snapshot = false;
    s_.skel().bss->iter_only_wanted = only_wanted;
    s_.skel().bss->iter_tgid = 0;
    auto socks = walk_tcp();
    take_queued_on();
    return socks;
}

// Reads and empties the map, so the next walk starts from nothing.
void Inventory::take_queued_on()
{
    queued_on_.clear();
    int fd = map_fd(s_.skel().maps.queued_on);
    constexpr std::uint32_t kBatch = 1024;
    std::vector<SockId> keys(kBatch), vals(kBatch);
    std::uint64_t in_batch = 0, out_batch = 0;
    for (bool first = true;; first = false) {
        std::uint32_t count = kBatch;
        int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                                  vals.data(), &count, nullptr);
        if (err && errno != ENOENT)
            break; // no batch support (before 5.6): one by one below
        for (std::uint32_t i = 0; i < count; ++i)
            queued_on_.emplace(keys[i], vals[i]);
        if (err)
            return;
        in_batch = out_batch;
    }
    SockId key = 0;
    SockId listener = 0;
    while (bpf_map_get_next_key(fd, nullptr, &key) == 0) {
        if (bpf_map_lookup_elem(fd, &key, &listener) == 0)
            queued_on_.emplace(key, listener);
        bpf_map_delete_elem(fd, &key);
    }
}

std::vector<cwt_iter_file> Inventory::socket_fds(std::uint32_t tgid, bool only_wanted)
{
    s_.skel().bss->iter_snapshot = false;
    s_.skel().bss->iter_only_wanted = only_wanted;
    s_.skel().bss->iter_tgid = tgid;
    return read_records<cwt_iter_file>(s_.iter_link_fd(false));
}

// The audit with namespaces: one iter/task_file walk over every fd first,
// which also reads each socket's namespace and state and the whole record of
// every listener and CLOSE_WAIT. A namespace whose hashed TCP sockets
// (sockstat "inuse", read before and after that walk) are exactly the ones
// with an fd holds no queued child and no orphan: its records are complete
// without iter/tcp, whose walk of a namespace costs a pass over the whole
// (shared) established hash. Only the other namespaces are walked by iter/tcp.
Inventory::AuditWalk Inventory::audit_walk_netns()
{
    AuditWalk w;
    auto& bss = *s_.skel().bss;
    auto inuse_before = netns_->tcp_in_use();
    bss.iter_snapshot = true;
    bss.iter_tgid = 0;
    bss.iter_only_wanted = false;
    bss.iter_file_socks = true;
    bss.iter_cur_tgid = 0;
    std::vector<cwt_iter_file> raw_files;
    try {
        raw_files = read_records<cwt_iter_file>(s_.iter_link_fd(false));
    } catch (...) {
        bss.iter_file_socks = false;
        throw;
    }
    bss.iter_file_socks = false;
    auto inuse_after = netns_->tcp_in_use();

    // Distinct hashed sockets with an fd, per namespace (TCP_CLOSE: not hashed).
    std::vector<std::pair<std::uint32_t, SockId>> held;
    held.reserve(raw_files.size());
    for (const auto& f : raw_files)
        if (f.state && f.state != CWT_TCP_CLOSE)
            held.emplace_back(f.netns, f.sk);
    std::sort(held.begin(), held.end());
    held.erase(std::unique(held.begin(), held.end()), held.end());
    std::unordered_map<std::uint32_t, std::uint64_t> held_count;
    for (const auto& h : held)
        ++held_count[h.first];
    std::vector<std::uint32_t> complete, walk;
    for (std::uint32_t ns : netns_->inodes()) {
        auto b = inuse_before.find(ns), a = inuse_after.find(ns);
        bool known = b != inuse_before.end() && a != inuse_after.end();
        std::uint64_t fds = held_count.count(ns) ? held_count[ns] : 0;
        if (known && b->second == a->second && b->second == fds)
            complete.push_back(ns);
        else
            walk.push_back(ns);
    }
    complete_netns_ = complete.size();

    walked_.clear();
    std::vector<cwt_iter_sock> socks = walk.empty() ? std::vector<cwt_iter_sock>{} : walk_tcp(&walk);
    take_queued_on();
    w.queued_on = queued_on_;
    std::unordered_set<std::uint32_t> done(complete.begin(), complete.end());
    std::unordered_set<SockId> have;
    for (const auto& s : socks)
        have.insert(s.sk);
    for (const auto& f : raw_files)
        if (f.sock.sk && done.count(f.sock.netns) && have.insert(f.sock.sk).second)
            socks.push_back(f.sock);
    for (std::uint32_t ns : complete)
        walked_.push_back(ns);
    // Only the fds of listeners and CLOSE_WAITs matter to the audit.
    std::vector<cwt_iter_file> files;
    for (const auto& f : raw_files)
        if (have.count(f.sk))
            files.push_back(f);
    w.socks = decode_sockets(socks);
    w.files = decode_socket_fds(files);
    drop_closed_meanwhile(w);
    bss.iter_snapshot = false;
    bss.iter_only_wanted = false;
    return w;
}

Inventory::AuditWalk Inventory::audit_walk()
{
    if (netns_)
        return audit_walk_netns();
    AuditWalk w;
    auto& bss = *s_.skel().bss;
    bss.iter_snapshot = true;
    bss.iter_tgid = 0;
    bss.iter_only_wanted = false;
    w.socks = decode_sockets(walk_tcp());
    take_queued_on();
    w.queued_on = queued_on_;
    // iter/tcp marked the sockets that can have fds; if the mark failed for
    // any (map full), walk every socket fd instead.
    w.full_fd_walk = counter(CWT_CNT_WANTED_FULL) > 0;
    bss.iter_only_wanted = !w.full_fd_walk;
    bss.iter_cur_tgid = 0;
    w.files = decode_socket_fds(read_records<cwt_iter_file>(s_.iter_link_fd(false)));
    drop_closed_meanwhile(w);
    bss.iter_snapshot = false;
    bss.iter_only_wanted = false;
    return w;
}

// A CLOSE_WAIT whose owner closed it between the two walks has no fd left
// and would read as "no_fd". Walk those few again and keep only the ones
// still in CLOSE_WAIT.
void Inventory::drop_closed_meanwhile(AuditWalk& w)
{
    std::unordered_set<SockId> with_fd;
    for (const auto& f : w.files)
        with_fd.insert(f.sk);
    std::vector<SockId> suspects;
    for (const auto& s : w.socks)
        if (s.state == CWT_TCP_CLOSE_WAIT && s.has_socket && !with_fd.count(s.sk))
            suspects.push_back(s.sk);
    if (suspects.empty())
        return;
    set_wanted(suspects);
    if (netns_) {
        // The fd walk came first: a suspect may have been accepted since.
        auto& bss = *s_.skel().bss;
        bool snap = bss.iter_snapshot;
        bss.iter_snapshot = false;
        auto late = decode_socket_fds(socket_fds(0, true));
        bss.iter_snapshot = snap;
        std::unordered_set<SockId> found;
        for (auto& f : late) {
            found.insert(f.sk);
            w.files.push_back(std::move(f));
        }
        suspects.erase(std::remove_if(suspects.begin(), suspects.end(),
                                      [&](SockId sk) { return found.count(sk) > 0; }),
                       suspects.end());
        if (suspects.empty())
            return;
        set_wanted(suspects);
    }
    std::unordered_set<SockId> still;
    for (const auto& s : tcp_sockets(true))
        if (s.state == CWT_TCP_CLOSE_WAIT)
            still.insert(s.sk);
    std::unordered_set<SockId> gone;
    for (SockId sk : suspects)
        if (!still.count(sk))
            gone.insert(sk);
    w.socks.erase(std::remove_if(w.socks.begin(), w.socks.end(),
                                 [&](const SocketRecord& s) { return gone.count(s.sk) > 0; }),
                  w.socks.end());
}

std::optional<Inventory::FdCount> Inventory::audit_fd_count(std::uint32_t tgid)
{
    cwt_fd_count c{};
    if (bpf_map_lookup_elem(map_fd(s_.skel().maps.fd_counts), &tgid, &c) != 0)
        return std::nullopt;
    return FdCount{c.open_fds, c.nofile_soft, c.nofile_hard};
}

void Inventory::set_wanted(const std::vector<SockId>& sks)
{
    int fd = map_fd(s_.skel().maps.wanted);
    // Clear, then fill: the map is small and this runs only on findings.
    std::vector<SockId> old;
    SockId key = 0, next = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        old.push_back(next);
        key = next;
        prev = &key;
    }
    for (SockId k : old)
        bpf_map_delete_elem(fd, &k);
    std::uint8_t one = 1;
    for (SockId k : sks)
        bpf_map_update_elem(fd, &k, &one, BPF_ANY);
}

Inventory::Refresh Inventory::refresh(const std::vector<SockId>& sks, std::uint32_t tgid)
{
    Refresh r;
    set_wanted(sks);
    std::vector<SockId> all = sks;
    listener_by_ino_.clear();
    for (const auto& rec : tcp_sockets(true)) {
        if (rec.state != CWT_TCP_LISTEN) {
            r.socks.emplace(rec.sk, SeenSock{rec.state, rec.recv_q});
            continue;
        }
        listener_by_ino_[rec.ino] = rec.sk;
        r.listeners.push_back(decode_listener(rec));
        all.push_back(rec.sk);
    }
    r.queued_on = queued_on_;
    if (all.empty())
        return r;
    set_wanted(all);
    for (const auto& f : socket_fds(tgid, true))
        r.owners[f.sk].push_back(decode_process(f.tgid, f.comm, f.fd));
    int lfd = map_fd(s_.skel().maps.listeners);
    for (auto& l : r.listeners) {
        auto it = r.owners.find(l.sk);
        if (it != r.owners.end())
            l.owners = it->second;
        listener_owners_[l.sk] = l.owners;
        cwt_listener_entry le{};
        if (bpf_map_lookup_elem(lfd, &l.sk, &le) == 0)
            l.last_accept_ns = le.last_accept_ns;
    }
    return r;
}

std::vector<ListenerInfo> Inventory::listeners()
{
    set_wanted({});
    std::vector<ListenerInfo> ls;
    bool need_owners = false;
    int lfd = map_fd(s_.skel().maps.listeners);
    listener_by_ino_.clear();
    for (const auto& rec : tcp_sockets(true)) {
        if (rec.state != CWT_TCP_LISTEN)
            continue;
        listener_by_ino_[rec.ino] = rec.sk;
        ListenerInfo l = decode_listener(rec);
        auto c = listener_owners_.find(rec.sk);
        if (c != listener_owners_.end())
            l.owners = c->second;
        else
            need_owners = true; // a listener we have not seen: who owns it?
        cwt_listener_entry le{};
        if (bpf_map_lookup_elem(lfd, &l.sk, &le) == 0)
            l.last_accept_ns = le.last_accept_ns;
        ls.push_back(std::move(l));
    }
    if (need_owners) {
        refresh({});
        for (auto& l : ls)
            l.owners = listener_owners_[l.sk];
    }
    return ls;
}

std::vector<ListenerInfo> Inventory::listener_queues()
{
    if (!netns_)
        return listeners();
    std::vector<SocketRecord> recs;
    try {
        recs = diag_listeners(netns_->diag_sockets(), filter_);
    } catch (const UserError&) {
        return listeners(); // no sock_diag (CONFIG_INET_DIAG off): the iterator walk
    }
    std::vector<ListenerInfo> ls;
    ls.reserve(recs.size());
    int lfd = map_fd(s_.skel().maps.listeners);
    for (const auto& rec : recs) {
        auto sk = listener_by_ino_.find(rec.ino);
        if (sk == listener_by_ino_.end())
            return listeners(); // a listener the last walk did not see: who owns it?
        ListenerInfo l;
        l.sk = sk->second;
        l.netns = rec.netns;
        l.local = rec.tuple.local;
        l.queue = rec.recv_q;
        l.backlog = rec.send_q;
        if (auto o = listener_owners_.find(l.sk); o != listener_owners_.end())
            l.owners = o->second;
        cwt_listener_entry le{};
        if (bpf_map_lookup_elem(lfd, &l.sk, &le) == 0)
            l.last_accept_ns = le.last_accept_ns;
        ls.push_back(std::move(l));
    }
    return ls;
}

namespace
{

// One syscall per 4096 entries (kernel 5.6+); false if batching is unsupported.
bool scan_batched(int fd, const Inventory::CloseWaitSink& out)
{
    constexpr std::uint32_t kBatch = 4096;
    std::vector<SockId> keys(kBatch);
    std::vector<cwt_cw_entry> vals(kBatch);
    std::uint64_t in_batch = 0, out_batch = 0;
    for (bool first = true;; first = false) {
        std::uint32_t count = kBatch;
        int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(), vals.data(),
                                       &count, nullptr);
        if (err && errno != ENOENT)
            return !first; // a later batch failing leaves a partial scan: the next one completes it
        for (std::uint32_t i = 0; i < count; ++i)
            out(keys[i], decode_close_wait(vals[i]));
        if (err)
            return true; // ENOENT: that was the last batch
        in_batch = out_batch;
    }
}

void scan_one_by_one(int fd, const Inventory::CloseWaitSink& out)
{
    SockId key = 0, next = 0;
    const void* prev = nullptr;
    cwt_cw_entry e{};
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, &e) == 0)
            out(next, decode_close_wait(e));
        key = next;
        prev = &key;
    }
}

} // namespace

void Inventory::scan_close_waits(const CloseWaitSink& each)
{
    int fd = map_fd(s_.skel().maps.close_waits);
    if (!scan_batched(fd, each))
        scan_one_by_one(fd, each);
}

std::vector<std::pair<SockId, CloseWaitInfo>> Inventory::scan_close_waits()
{
    std::vector<std::pair<SockId, CloseWaitInfo>> out;
    scan_close_waits([&](SockId sk, const CloseWaitInfo& info) { out.emplace_back(sk, info); });
    return out;
}

std::vector<AcceptErrorSample> Inventory::accept_errors()
{
    int fd = map_fd(s_.skel().maps.accept_errors);
    std::vector<AcceptErrorSample> out;
    cwt_accept_error_key key{}, next{};
    const void* prev = nullptr;
    cwt_accept_error_value v{};
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
            AcceptErrorSample a;
            a.pid = next.tgid;
            a.listen_fd = next.listen_fd;
            a.comm = decode_process(next.tgid, v.comm, -1).comm;
            a.listener_sk = v.listener_sk;
            a.syscall_nr = v.syscall_nr;
            a.emfile = v.emfile;
            a.enfile = v.enfile;
            a.shed = v.shed;
            out.push_back(std::move(a));
        }
        key = next;
        prev = &key;
    }
    return out;
}

FdContext Inventory::fd_context(std::uint32_t pid)
{
    FdContext c;
    c.open_fds = count_open_fds(pid);
    if (auto lim = nofile_limit(pid)) {
        c.nofile_soft = lim->soft;
        c.nofile_hard = lim->hard;
    }
    std::unordered_map<SockId, int> mine;
    for (const auto& f : socket_fds(pid, false)) {
        mine[f.sk]++;
        ++c.socket_fds;
    }
    if (mine.empty())
        return c;
    for (const auto& s : tcp_sockets(false)) {
        auto it = mine.find(s.sk);
        if (it != mine.end() && s.state == CWT_TCP_CLOSE_WAIT)
            c.close_wait_fds += static_cast<std::size_t>(it->second);
    }
    return c;
}

std::uint64_t Inventory::counter(cwt_counter idx)
{
    int fd = map_fd(s_.skel().maps.counters);
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return 0;
    std::vector<std::uint64_t> vals(static_cast<std::size_t>(ncpu));
    std::uint32_t k = idx;
    if (bpf_map_lookup_elem(fd, &k, vals.data()) != 0)
        return 0;
    std::uint64_t sum = 0;
    for (auto v : vals)
        sum += v;
    return sum;
}

std::uint64_t Inventory::lost_total()
{
    return counter(CWT_CNT_RINGBUF_DROPPED) + counter(CWT_CNT_CW_MAP_FULL) + counter(CWT_CNT_OWNER_MAP_FULL) +
           counter(CWT_CNT_LISTENER_MAP_FULL) + counter(CWT_CNT_ACCEPT_ERR_MAP_FULL);
}

void Inventory::seed_close_wait(SockId sk, const cwt_cw_entry& e)
{
    bpf_map_update_elem(map_fd(s_.skel().maps.close_waits), &sk, &e, BPF_NOEXIST);
}

void Inventory::unseed_close_wait(SockId sk)
{
    int fd = map_fd(s_.skel().maps.close_waits);
    cwt_cw_entry e{};
    if (bpf_map_lookup_elem(fd, &sk, &e) == 0 && e.preexisting)
        bpf_map_delete_elem(fd, &sk);
}

void Inventory::unseed_owner(SockId sk)
{
    int fd = map_fd(s_.skel().maps.owners);
    cwt_owner o{};
    if (bpf_map_lookup_elem(fd, &sk, &o) == 0 && o.accept_ns == 0)
        bpf_map_delete_elem(fd, &sk);
}

void Inventory::seed_owner(SockId sk, const cwt_owner& o)
{
    bpf_map_update_elem(map_fd(s_.skel().maps.owners), &sk, &o, BPF_NOEXIST);
}

} // namespace cwt

namespace cwt
{

namespace
{

cwt_owner raw_owner(const cwt_iter_file& f)
{
    cwt_owner ow{};
    ow.tgid = f.tgid;
    ow.fd = f.fd;
    ow.listen_fd = -1;
    std::memcpy(ow.comm, f.comm, sizeof(ow.comm)); // raw: the decoder escapes it on the way out
    return ow;
}

cwt_cw_entry raw_close_wait(const cwt_iter_sock& s, const CloseWaitSeed& seed,
                            const std::vector<cwt_iter_file>& fds)
{
    cwt_cw_entry e{};
    e.enter_ns = 0;
    e.netns = s.netns;
    e.recv_q = s.recv_q;
    e.preexisting = 1;
    e.fin_by_ns = s.fin_by_ns;
    e.tuple = s.tuple;
    e.owner.fd = -1;
    e.owner.listen_fd = -1;
    switch (seed.owner) {
    case OwnerKind::AcceptQueue:
        e.owner_kind = CWT_OWNER_ACCEPT_QUEUE;
        break;
    case OwnerKind::Process:
        e.owner_kind = CWT_OWNER_PROCESS;
        e.owner = raw_owner(fds[*seed.owner_fd]);
        break;
    default:
        e.owner_kind = CWT_OWNER_UNKNOWN;
        break;
    }
    return e;
}

} // namespace

Inventory::Preexisting Inventory::seed_preexisting(const TargetFilter& target)
{
    auto socks = tcp_sockets(false);
    // Every process's fds, even under -p (see plan_seeds).
    auto fds = socket_fds(0, false);
    std::vector<InventorySock> sock_view;
    sock_view.reserve(socks.size());
    for (const auto& s : socks)
        sock_view.push_back(InventorySock{s.sk, s.state, s.has_socket != 0, s.netns,
                                          decode_tuple(s.tuple).local.port, s.recv_q});
    std::vector<InventoryFd> fd_view;
    fd_view.reserve(fds.size());
    for (const auto& f : fds)
        fd_view.push_back(InventoryFd{f.sk, decode_process(f.tgid, f.comm, f.fd)});
    SeedPlan plan = plan_seeds(sock_view, fd_view, target);

    Preexisting pre;
    std::vector<SockId> seeded_cw, seeded_owner;
    for (const auto& seed : plan.owners) {
        SockId sk = socks[seed.sock].sk;
        seed_owner(sk, raw_owner(fds[seed.owner_fd]));
        seeded_owner.push_back(sk);
    }
    for (auto& seed : plan.close_waits) {
        const cwt_iter_sock& s = socks[seed.sock];
        seed_close_wait(s.sk, raw_close_wait(s, seed, fds));
        seeded_cw.push_back(s.sk);
        pre.enrich.emplace(s.sk, std::move(seed.enrich));
    }

    // A socket may have moved on between the walk and its seed; the probes
    // saw that transition before the seed existed. A second walk finds those
    // and removes their seeds, so every socket ends in its true state.
    std::unordered_map<SockId, std::uint8_t> now_state;
    for (const auto& s : tcp_sockets(false))
        now_state.emplace(s.sk, s.state);
    for (SockId sk : seeded_cw) {
        auto it = now_state.find(sk);
        if (it == now_state.end() || it->second != CWT_TCP_CLOSE_WAIT) {
            unseed_close_wait(sk);
            pre.enrich.erase(sk);
        }
    }
    for (SockId sk : seeded_owner)
        if (!now_state.count(sk))
            unseed_owner(sk);
    pre.close_waits = pre.enrich.size();
    return pre;
}

} // namespace cwt
