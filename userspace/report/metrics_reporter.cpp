#include "report/metrics_reporter.hpp"

#include <algorithm>
#include <cstdio>

#include "common/error.hpp"

namespace cwt
{

namespace
{

using prom::Fold;
using prom::MetricType;

const std::string kCw = "closewait_trace_close_wait_sockets";
const std::string kCwAge = "closewait_trace_close_wait_oldest_age_seconds";
const std::string kUnknown = "closewait_trace_close_wait_unknown_owner_sockets";
const std::string kLeaks = "closewait_trace_leaks_total";
const std::string kAcceptErrors = "closewait_trace_accept_errors_total";
const std::string kShed = "closewait_trace_connections_shed_total";
const std::string kOverflows = "closewait_trace_listen_overflows_total";
const std::string kLost = "closewait_trace_lost_events_total";
const std::string kQueue = "closewait_trace_accept_queue_length";
const std::string kBacklog = "closewait_trace_accept_queue_backlog";
const std::string kSinceAccept = "closewait_trace_seconds_since_last_accept";
const std::string kTier = "closewait_trace_probe_tier_info";
const std::string kBuild = "closewait_trace_build_info";
const std::string kStart = "closewait_trace_start_time_seconds";

// Everything the metrics take from a finding, in one place: the only code
// that knows the findings' fields.
enum class Counted { None, Leak, AcceptError, Overflow, Lost };
struct Facts {
    Counted kind = Counted::None;
    bool has_process = false;
    std::uint32_t pid = 0;
    std::string comm;
    const char* owner = "process";
    std::string listener; // address:port, "" when unknown
    std::string errno_name;
    std::uint64_t count = 0;
    std::uint64_t shed = 0;
};

void set_process(Facts& x, const ProcessRef* who)
{
    if (!who)
        return;
    x.has_process = true;
    x.pid = who->pid;
    x.comm = who->comm;
}

void set_listener(Facts& x, const std::optional<ListenerView>& l)
{
    if (l)
        x.listener = format_endpoint(l->local);
}

Facts facts_of(const LeakFinding& f)
{
    Facts x;
    x.kind = Counted::Leak;
    const SocketFacts& s = f.sock;
    set_process(x, !s.processes.empty()                ? &s.processes.front()
                   : (s.listener && s.listener->owner) ? &*s.listener->owner
                                                       : nullptr);
    x.owner = s.owner == OwnerKind::AcceptQueue ? "accept_queue" : "process";
    set_listener(x, s.listener);
    return x;
}

Facts facts_of(const AcceptErrorFinding& f)
{
    Facts x;
    x.kind = Counted::AcceptError;
    set_process(x, &f.process);
    set_listener(x, f.listener);
    x.errno_name = f.errno_name;
    x.count = f.count;
    x.shed = f.shed;
    return x;
}

Facts facts_of(const ListenOverflowFinding& f)
{
    Facts x;
    x.kind = Counted::Overflow;
    set_process(x, f.queue.process ? &*f.queue.process : nullptr);
    set_listener(x, f.queue.listener);
    x.count = f.drops;
    return x;
}

Facts facts_of(const LostFinding& f)
{
    Facts x;
    x.kind = Counted::Lost;
    x.count = f.count;
    return x;
}

// The other findings are gauges, read from the live state.
template <typename Other> Facts facts_of(const Other&)
{
    return Facts{};
}

} // namespace

void declare_metrics(prom::Model& m)
{
    m.declare(
        {kCw,
         "Sockets in CLOSE_WAIT now, per holding process (owner=\"process\") and per listener for the ones "
         "in an accept queue (owner=\"accept_queue\")",
         MetricType::Gauge,
         "pid",
         {"owner"},
         Fold::Sum});
    m.declare({kCwAge,
               "Age of the oldest of those CLOSE_WAIT sockets (a lower bound if older than the tool)",
               MetricType::Gauge,
               "pid",
               {"owner"},
               Fold::Max});
    m.declare({kUnknown,
               "CLOSE_WAIT sockets whose owner is not resolved yet",
               MetricType::Gauge,
               "pid",
               {},
               Fold::Sum});
    m.declare({kLeaks,
               "CLOSE_WAIT sockets reported as leaks (older than --threshold)",
               MetricType::Counter,
               "pid",
               {"owner"},
               Fold::Sum});
    m.declare({kAcceptErrors,
               "accept() failures with EMFILE or ENFILE",
               MetricType::Counter,
               "pid",
               {"errno"},
               Fold::Sum});
    m.declare({kShed,
               "Connections accepted and closed at once by a process out of fds",
               MetricType::Counter,
               "pid",
               {},
               Fold::Sum});
    m.declare({kOverflows,
               "Connections dropped on a full accept queue",
               MetricType::Counter,
               "listener",
               {},
               Fold::Sum});
    m.declare({kLost,
               "Kernel records lost (ring buffer or map full) or malformed",
               MetricType::Counter,
               "pid",
               {},
               Fold::Sum});
    m.declare({kQueue,
               "Connections waiting in the listener's accept queue",
               MetricType::Gauge,
               "listener",
               {},
               Fold::Sum});
    m.declare({kBacklog,
               "The listener's accept-queue limit (backlog)",
               MetricType::Gauge,
               "listener",
               {},
               Fold::Sum});
    m.declare({kSinceAccept,
               "Seconds since the listener's last accept(), where one was seen",
               MetricType::Gauge,
               "listener",
               {},
               Fold::Max});
    m.declare({kTier, "The probe tier in use (always 1)", MetricType::Gauge, "tier", {}, Fold::Max});
    m.declare(
        {kBuild, "The closewait-trace version (always 1)", MetricType::Gauge, "version", {}, Fold::Max});
    m.declare({kStart,
               "When closewait-trace started, in seconds since the Unix epoch",
               MetricType::Gauge,
               "pid",
               {},
               Fold::Max});
}

MetricsReporter::MetricsReporter(MetricsOptions o, ExpositionSink sink, WallClock clock,
                                 ContainerFn container, AliveFn alive, std::FILE* err)
    : o_(std::move(o)), sink_(std::move(sink)), clock_(clock), container_fn_(std::move(container)),
      alive_(std::move(alive)), err_(err), model_(o_.max_series)
{
    declare_metrics(model_);
}

std::string MetricsReporter::container(std::uint32_t pid)
{
    auto it = containers_.find(pid);
    if (it != containers_.end())
        return it->second;
    std::string c = container_fn_ ? container_fn_(pid) : "";
    containers_.emplace(pid, c);
    return c;
}

prom::Labels MetricsReporter::process_labels(std::uint32_t pid, const std::string& comm, const char* owner,
                                             const std::string& listener)
{
    return {{"pid", pid ? std::to_string(pid) : ""},
            {"comm", comm},
            {"container", pid ? container(pid) : ""},
            {"owner", owner},
            {"listener", listener}};
}

void MetricsReporter::start(const StartInfo& s)
{
    start_info_tier_ = s.tier;
    start_unix_s_ = static_cast<double>(clock_.to_unix_ns(mono_now_ns())) / 1e9;
    model_.add_counter(kLost, {}, 0); // label-less counters exist from the start
    LiveState empty;
    empty.now = mono_now_ns();
    set_gauges(empty);
    // A bad --prometheus-textfile ends the tool here, before any work.
    sink_(model_.render());
}

void MetricsReporter::finding(const Finding& f)
{
    Facts x = std::visit([](const auto& y) { return facts_of(y); }, f);
    auto track = [&] {
        if (x.has_process && x.pid)
            counter_pids_.insert(x.pid);
    };
    switch (x.kind) {
    case Counted::Leak:
        model_.add_counter(kLeaks,
                           process_labels(x.pid, x.comm, x.owner, x.owner[0] == 'a' ? x.listener : ""), 1);
        track();
        break;
    case Counted::AcceptError: {
        prom::Labels base = process_labels(x.pid, x.comm, "", x.listener);
        base.erase(
            std::remove_if(base.begin(), base.end(), [](const auto& kv) { return kv.first == "owner"; }),
            base.end());
        if (x.count) {
            prom::Labels l = base;
            l.emplace_back("errno", x.errno_name);
            model_.add_counter(kAcceptErrors, l, static_cast<double>(x.count));
        }
        if (x.shed)
            model_.add_counter(kShed, base, static_cast<double>(x.shed));
        track();
        break;
    }
    case Counted::Overflow:
        model_.add_counter(kOverflows, {{"listener", x.listener}}, static_cast<double>(x.count));
        break;
    case Counted::Lost:
        model_.add_counter(kLost, {}, static_cast<double>(x.count));
        break;
    default:
        break;
    }
}

void MetricsReporter::set_gauges(const LiveState& st)
{
    model_.begin_interval();
    const Summary& s = st.summary;
    for (const auto& p : s.processes)
        if (p.open_close_waits) {
            auto l = process_labels(p.process.pid, p.process.comm, "process", "");
            model_.set_gauge(kCw, l, static_cast<double>(p.open_close_waits));
            model_.set_gauge(kCwAge, l, p.oldest_age_s);
        }
    // Per listener for the queued ones; SO_REUSEPORT listeners of one owner
    // share an address: their series add up.
    std::map<prom::Labels, std::pair<double, double>> queued;
    for (const auto& l : s.listeners) {
        if (!l.queued_close_waits)
            continue;
        const ProcessRef* o = l.listener.owner ? &*l.listener.owner : nullptr;
        auto labels = process_labels(o ? o->pid : 0, o ? o->comm : "", "accept_queue",
                                     format_endpoint(l.listener.local));
        auto& q = queued[labels];
        q.first += static_cast<double>(l.queued_close_waits);
        q.second = std::max(q.second, l.oldest_age_s);
    }
    for (const auto& [labels, q] : queued) {
        model_.set_gauge(kCw, labels, q.first);
        model_.set_gauge(kCwAge, labels, q.second);
    }
    model_.set_gauge(kUnknown, {}, static_cast<double>(s.unknown_owner));

    struct Lsn {
        double queue = 0, backlog = 0;
        std::optional<double> since;
    };
    std::map<prom::Labels, Lsn> lsn;
    for (const auto& l : st.listeners) {
        const ProcessRef* o = l.owners.empty() ? nullptr : &l.owners.front();
        prom::Labels labels = {{"listener", format_endpoint(l.local)},
                               {"pid", o ? std::to_string(o->pid) : ""},
                               {"comm", o ? o->comm : ""}};
        Lsn& x = lsn[labels];
        x.queue += l.queue;
        x.backlog += l.backlog;
        if (l.last_accept_ns && *l.last_accept_ns && st.now >= *l.last_accept_ns) {
            double since = static_cast<double>(st.now - *l.last_accept_ns) / 1e9;
            x.since = x.since ? std::min(*x.since, since) : since;
        }
    }
    for (const auto& [labels, x] : lsn) {
        model_.set_gauge(kQueue, labels, x.queue);
        model_.set_gauge(kBacklog, labels, x.backlog);
        if (x.since)
            model_.set_gauge(kSinceAccept, labels, *x.since);
    }
    model_.set_gauge(kTier, {{"tier", start_info_tier_}}, 1);
    model_.set_gauge(kBuild, {{"version", o_.version}}, 1);
    model_.set_gauge(kStart, {}, start_unix_s_);

    // Counter series of processes that exited go; so does their cached container.
    for (auto it = counter_pids_.begin(); it != counter_pids_.end();) {
        if (alive_ && !alive_(*it)) {
            model_.retire_counters("pid", std::to_string(*it));
            it = counter_pids_.erase(it);
        } else {
            ++it;
        }
    }
    std::set<std::uint32_t> keep(counter_pids_);
    for (const auto& p : s.processes)
        keep.insert(p.process.pid);
    for (auto it = containers_.begin(); it != containers_.end();)
        it = keep.count(it->first) ? std::next(it) : containers_.erase(it);
}

void MetricsReporter::state(const LiveState& st)
{
    last_listeners_ = st.listeners;
    set_gauges(st);
    write();
}

void MetricsReporter::summary(const Summary& s, double)
{
    LiveState st;
    st.now = s.ts_ns;
    st.summary = s;
    st.listeners = last_listeners_;
    set_gauges(st);
    write();
}

void MetricsReporter::write()
{
    try {
        sink_(model_.render());
        last_error_.clear();
    } catch (const UserError& e) {
        std::string msg = std::string(e.what()) + "; " + e.remedy();
        if (msg != last_error_ && err_)
            std::fprintf(err_, "closewait-trace: warning: metrics not written: %s\n", msg.c_str());
        last_error_ = msg;
    }
}

} // namespace cwt
