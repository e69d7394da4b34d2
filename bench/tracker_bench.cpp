// Microbenchmarks of cwt::Tracker (userspace/core/tracker.hpp): the userspace cost of
// one kernel event and of one close_waits scan entry.
//
// Every benchmark reports, besides time per iteration:
//   events/s       events (or scan entries) per second on one core
//   allocs/event   heap allocations per event, counted by the global operator
//                  new overrides below (this binary only)
//   bytes/event    bytes allocated per event
//
// Run: build/bench/tracker_bench  (add --benchmark_repetitions=3 for medians)
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "closewait_trace/events.h"
#include "common/units.hpp"
#include "core/decoder.hpp"
#include "core/tracker.hpp"

// ---- allocation counting ------------------------------------------------------

namespace
{
std::atomic<std::uint64_t> g_allocs{0};
std::atomic<std::uint64_t> g_alloc_bytes{0};

// Out of line, so that GCC does not pair the inlined malloc with the
// operator delete below and warn (-Wmismatched-new-delete).
[[gnu::noinline]] void* counted_alloc(std::size_t n, std::size_t align = 0)
{
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    g_alloc_bytes.fetch_add(n, std::memory_order_relaxed);
    if (n == 0)
        n = 1;
    void* p = nullptr;
    if (align > alignof(std::max_align_t)) {
        if (posix_memalign(&p, align, n) != 0)
            p = nullptr;
    } else {
        p = std::malloc(n);
    }
    return p;
}
[[gnu::noinline]] void counted_free(void* p) noexcept
{
    std::free(p);
}
} // namespace

void* operator new(std::size_t n)
{
    if (void* p = counted_alloc(n))
        return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n)
{
    if (void* p = counted_alloc(n))
        return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept
{
    return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept
{
    return counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t a)
{
    if (void* p = counted_alloc(n, static_cast<std::size_t>(a)))
        return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a)
{
    if (void* p = counted_alloc(n, static_cast<std::size_t>(a)))
        return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept
{
    counted_free(p);
}
void operator delete[](void* p) noexcept
{
    counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept
{
    counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept
{
    counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept
{
    counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept
{
    counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept
{
    counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept
{
    counted_free(p);
}

namespace
{

using namespace cwt;

constexpr MonoNs kSec = kNsPerSec;
constexpr MonoNs kStep = 38000; // ~26k connections/s, the churn measured on this machine
constexpr SockId kSkBase = 0xffff888100000000ULL;
constexpr std::uint32_t kNetns = 4026531840U;
constexpr std::uint16_t kServerPort = 8080;

// Counts allocations over a scope and publishes per-event figures.
class AllocMeter
{
  public:
    AllocMeter() : a0_(g_allocs.load()), b0_(g_alloc_bytes.load()) {}
    void publish(benchmark::State& st, double events) const
    {
        double a = static_cast<double>(g_allocs.load() - a0_);
        double b = static_cast<double>(g_alloc_bytes.load() - b0_);
        st.counters["events/s"] = benchmark::Counter(events, benchmark::Counter::kIsRate);
        st.counters["allocs/event"] = events > 0 ? a / events : 0;
        st.counters["bytes/event"] = events > 0 ? b / events : 0;
    }

  private:
    std::uint64_t a0_, b0_;
};

cwt_tuple raw_tuple(std::uint32_t i)
{
    cwt_tuple t{};
    t.saddr[10] = t.saddr[11] = 0xff;
    t.daddr[10] = t.daddr[11] = 0xff;
    t.saddr[12] = 127;
    t.saddr[15] = 1;
    t.daddr[12] = 127;
    t.daddr[15] = static_cast<std::uint8_t>(1 + i % 16);
    t.sport = kServerPort;
    t.dport = static_cast<std::uint16_t>(1024 + i % 60000);
    t.family = 2; // AF_INET
    return t;
}

// The kernel's close_waits entry of an accepted (process-owned) socket.
cwt_cw_entry raw_entry(std::uint32_t i, MonoNs enter_ns)
{
    cwt_cw_entry e{};
    e.enter_ns = enter_ns;
    e.netns = kNetns;
    e.recv_q = 1;
    e.owner_kind = CWT_OWNER_PROCESS;
    e.tuple = raw_tuple(i);
    e.owner.tgid = 4242;
    e.owner.fd = static_cast<std::int32_t>(10 + i % 20000);
    e.owner.accept_ns = enter_ns - 1000;
    e.owner.listener_sk = kSkBase - 4096;
    std::memcpy(e.owner.comm, "cwt_churn", 10);
    return e;
}

SockId sk_of(std::uint32_t slot)
{
    return kSkBase + static_cast<SockId>(slot) * 2048;
}

TrackerConfig config(bool verbose)
{
    TrackerConfig c;
    c.verbose = verbose;
    c.started_ns = kSec;
    return c;
}

std::vector<ListenerInfo> one_listener()
{
    ListenerInfo l;
    l.sk = kSkBase - 4096;
    l.netns = kNetns;
    l.local.port = kServerPort;
    l.backlog = 4096;
    return {l};
}

// Steady churn of process-owned CLOSE_WAITs: each step one socket enters CLOSE_WAIT
// and the one that entered `window` steps earlier leaves it (LAST_ACK). Findings go
// into a batch that is dropped every 256 events, as the daemon does per drain.
// Args: verbose (0/1), window (sockets in CLOSE_WAIT at any time).
void BM_EnterLeave(benchmark::State& st)
{
    const bool verbose = st.range(0) != 0;
    const auto window = static_cast<std::uint32_t>(st.range(1));
    const std::uint32_t slots = window * 2;
    ListenerState listeners;
    Tracker tr(config(verbose), listeners);
    listeners.update(one_listener());

    // Prebuilt events, one per slot: only the timestamps change during the run.
    std::vector<SockEvent> enter(slots), leave(slots);
    for (std::uint32_t s = 0; s < slots; ++s) {
        enter[s].kind = SockEventKind::EnteredCloseWait;
        enter[s].sk = sk_of(s);
        enter[s].old_state = CWT_TCP_ESTABLISHED;
        enter[s].new_state = CWT_TCP_CLOSE_WAIT;
        enter[s].info = decode_close_wait(raw_entry(s, 0));
        leave[s] = enter[s];
        leave[s].kind = SockEventKind::LeftCloseWait;
        leave[s].old_state = CWT_TCP_CLOSE_WAIT;
        leave[s].new_state = CWT_TCP_LAST_ACK;
    }
    Findings out;
    out.reserve(512);
    MonoNs now = 2 * kSec;
    std::uint64_t i = 0;
    // Warm up: fill the window.
    for (; i < window; ++i) {
        auto s = static_cast<std::uint32_t>(i % slots);
        now += kStep;
        enter[s].ts_ns = enter[s].info.enter_ns = now;
        tr.on_event(enter[s], out);
    }
    out.clear();

    std::uint64_t events = 0;
    AllocMeter meter;
    for (auto _ : st) {
        auto s = static_cast<std::uint32_t>(i % slots);
        auto old = static_cast<std::uint32_t>((i - window) % slots);
        now += kStep;
        enter[s].ts_ns = enter[s].info.enter_ns = now;
        tr.on_event(enter[s], out);
        leave[old].ts_ns = now;
        leave[old].info.enter_ns = enter[old].info.enter_ns;
        tr.on_event(leave[old], out);
        events += 2;
        ++i;
        if ((events & 255) == 0)
            out.clear();
    }
    meter.publish(st, static_cast<double>(events));
    benchmark::DoNotOptimize(tr.tracked());
}
BENCHMARK(BM_EnterLeave)->ArgNames({"verbose", "window"})->ArgsProduct({{0, 1}, {64, 65536}});

// The daemon's path for one ring-buffer record: raw cwt_sock_event bytes ->
// decode_event -> Tracker::on_event (verbose: the kernel sends these for every
// connection only with -v). Arg: verbose.
void BM_DecodeAndTrack(benchmark::State& st)
{
    const bool verbose = st.range(0) != 0;
    constexpr std::uint32_t kWindow = 64, kSlots = 128;
    ListenerState listeners;
    Tracker tr(config(verbose), listeners);
    listeners.update(one_listener());
    std::vector<cwt_sock_event> enter(kSlots), leave(kSlots);
    for (std::uint32_t s = 0; s < kSlots; ++s) {
        enter[s].hdr.kind = CWT_EV_CLOSE_WAIT;
        enter[s].sk = sk_of(s);
        enter[s].old_state = CWT_TCP_ESTABLISHED;
        enter[s].new_state = CWT_TCP_CLOSE_WAIT;
        enter[s].cw = raw_entry(s, 0);
        leave[s] = enter[s];
        leave[s].hdr.kind = CWT_EV_CW_CLOSED;
        leave[s].old_state = CWT_TCP_CLOSE_WAIT;
        leave[s].new_state = CWT_TCP_LAST_ACK;
    }
    Findings out;
    out.reserve(512);
    MonoNs now = 2 * kSec;
    std::uint64_t i = 0, events = 0;
    auto feed = [&](const cwt_sock_event& raw) {
        if (auto ev = decode_event(&raw, sizeof(raw)))
            tr.on_event(std::get<SockEvent>(*ev), out);
    };
    for (; i < kWindow; ++i) {
        auto s = static_cast<std::uint32_t>(i % kSlots);
        now += kStep;
        enter[s].hdr.ts_ns = enter[s].cw.enter_ns = now;
        feed(enter[s]);
    }
    out.clear();
    AllocMeter meter;
    for (auto _ : st) {
        auto s = static_cast<std::uint32_t>(i % kSlots);
        auto old = static_cast<std::uint32_t>((i - kWindow) % kSlots);
        now += kStep;
        enter[s].hdr.ts_ns = enter[s].cw.enter_ns = now;
        feed(enter[s]);
        leave[old].hdr.ts_ns = now;
        leave[old].cw.enter_ns = enter[old].cw.enter_ns;
        feed(leave[old]);
        events += 2;
        ++i;
        if ((events & 255) == 0)
            out.clear();
    }
    meter.publish(st, static_cast<double>(events));
}
BENCHMARK(BM_DecodeAndTrack)->ArgName("verbose")->Arg(0)->Arg(1);

// Tracker::on_scan with the close_waits map holding N sockets the tracker
// already knows (the steady state of the daemon's periodic scan; with a leak of
// N sockets it runs every second). events/s here = scan entries per second.
void BM_Scan(benchmark::State& st)
{
    const auto n = static_cast<std::uint32_t>(st.range(0));
    ListenerState listeners;
    Tracker tr(config(false), listeners);
    listeners.update(one_listener());
    std::vector<std::pair<SockId, CloseWaitInfo>> entries;
    entries.reserve(n);
    for (std::uint32_t s = 0; s < n; ++s)
        entries.emplace_back(sk_of(s), decode_close_wait(raw_entry(s, kSec + s)));
    MonoNs now = 5 * kSec;
    tr.on_scan(now, entries);
    std::uint64_t events = 0;
    AllocMeter meter;
    for (auto _ : st) {
        now += kSec;
        tr.on_scan(now, entries);
        events += n;
    }
    meter.publish(st, static_cast<double>(events));
    benchmark::DoNotOptimize(tr.tracked());
}
BENCHMARK(BM_Scan)->ArgName("entries")->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// Heap held per tracked socket (issue #13, target with the kernel side: 300 B):
// live heap bytes (mallinfo2: arena + mmapped chunks) of a Tracker holding N process-owned CLOSE_WAITs fed
// by scans, before and after every one was reported as a leak. The scan is
// streamed as in the daemon (begin_scan/scan_entry/end_scan), so no copy of
// the kernel map is counted.
void BM_BytesPerSocket(benchmark::State& st)
{
    const auto n = static_cast<std::uint32_t>(st.range(0));
    double tracked_b = 0, reported_b = 0;
    for (auto _ : st) {
        malloc_trim(0);
        auto live = [] {
            struct mallinfo2 m = mallinfo2();
            return static_cast<double>(m.uordblks + m.hblkhd);
        };
        double base = live();
        ListenerState listeners;
        auto tr = std::make_unique<Tracker>(config(false), listeners);
        listeners.update(one_listener());
        MonoNs now = 5 * kSec;
        auto feed = [&] {
            tr->begin_scan(now);
            for (std::uint32_t s = 0; s < n; ++s)
                tr->scan_entry(sk_of(s), decode_close_wait(raw_entry(s, kSec)));
            tr->end_scan();
        };
        feed();
        now += kSec;
        feed();
        tracked_b = (live() - base) / n;
        now += kDefaultThresholdNs;
        Findings out;
        for (SockId sk : tr->due_for_leak_report(now)) {
            tr->report_leak(sk, Enrichment{}, now, out);
            out.clear();
        }
        feed();
        reported_b = (live() - base) / n;
        benchmark::DoNotOptimize(tr->tracked());
    }
    st.counters["B/socket tracked"] = tracked_b;
    st.counters["B/socket reported"] = reported_b;
}
BENCHMARK(BM_BytesPerSocket)->ArgName("sockets")->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

// The live loop as a whole at the measured churn rate with -v: per 100 ms drain,
// 2600 connections (an enter and a leave each); every 10th drain an on_scan of
// the map as it is then (the `window` sockets in CLOSE_WAIT) and a
// due_for_leak_report. events/s counts ring-buffer events only; the scans are
// part of the time. Arg: window.
void BM_Replay(benchmark::State& st)
{
    const auto window = static_cast<std::uint32_t>(st.range(0));
    const std::uint32_t slots = window + 4096;
    constexpr std::uint32_t kPerDrain = 2600;
    ListenerState listeners;
    Tracker tr(config(true), listeners);
    listeners.update(one_listener());
    std::vector<SockEvent> enter(slots), leave(slots);
    std::vector<cwt_cw_entry> raw(slots);
    for (std::uint32_t s = 0; s < slots; ++s) {
        raw[s] = raw_entry(s, 0);
        enter[s].kind = SockEventKind::EnteredCloseWait;
        enter[s].sk = sk_of(s);
        enter[s].old_state = CWT_TCP_ESTABLISHED;
        enter[s].new_state = CWT_TCP_CLOSE_WAIT;
        enter[s].info = decode_close_wait(raw[s]);
        leave[s] = enter[s];
        leave[s].kind = SockEventKind::LeftCloseWait;
        leave[s].old_state = CWT_TCP_CLOSE_WAIT;
        leave[s].new_state = CWT_TCP_LAST_ACK;
    }
    MonoNs now = 2 * kSec;
    std::uint64_t i = 0, events = 0, drains = 0;
    Findings out;
    auto step = [&](bool with_leave) {
        auto s = static_cast<std::uint32_t>(i % slots);
        now += kStep;
        enter[s].ts_ns = enter[s].info.enter_ns = now;
        raw[s].enter_ns = now;
        tr.on_event(enter[s], out);
        if (with_leave) {
            auto old = static_cast<std::uint32_t>((i - window) % slots);
            leave[old].ts_ns = now;
            leave[old].info.enter_ns = enter[old].info.enter_ns;
            tr.on_event(leave[old], out);
        }
        ++i;
    };
    for (std::uint32_t k = 0; k < window; ++k)
        step(false);
    out.clear();
    std::vector<std::pair<SockId, CloseWaitInfo>> scan;
    AllocMeter meter;
    for (auto _ : st) {
        Findings batch; // per drain, as LiveLoop::drain
        for (std::uint32_t k = 0; k < kPerDrain; ++k) {
            auto s = static_cast<std::uint32_t>(i % slots);
            auto old = static_cast<std::uint32_t>((i - window) % slots);
            now += kStep;
            enter[s].ts_ns = enter[s].info.enter_ns = now;
            raw[s].enter_ns = now;
            tr.on_event(enter[s], batch);
            leave[old].ts_ns = now;
            leave[old].info.enter_ns = enter[old].info.enter_ns;
            tr.on_event(leave[old], batch);
            ++i;
        }
        events += 2 * kPerDrain;
        if (++drains % 10 == 0) {
            // What Inventory::scan_close_waits would return now: the open window.
            scan.clear();
            for (std::uint64_t j = i - window; j < i; ++j) {
                auto s = static_cast<std::uint32_t>(j % slots);
                scan.emplace_back(sk_of(s), decode_close_wait(raw[s]));
            }
            tr.on_scan(now, scan);
            benchmark::DoNotOptimize(tr.due_for_leak_report(now));
        }
        benchmark::DoNotOptimize(batch.data());
    }
    meter.publish(st, static_cast<double>(events));
}
BENCHMARK(BM_Replay)->ArgName("window")->Arg(16)->Arg(10000)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
