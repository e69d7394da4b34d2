#include "report/fanout.hpp"

namespace cwt
{

void FanoutReporter::add(std::unique_ptr<Reporter> r, MonoNs state_period_ns)
{
    if (r)
        reporters_.push_back(Entry{std::move(r), state_period_ns, 0});
}

void FanoutReporter::start(const StartInfo& s)
{
    for (auto& e : reporters_)
        e.r->start(s);
}

void FanoutReporter::finding(const Finding& f)
{
    for (auto& e : reporters_)
        e.r->finding(f);
}

void FanoutReporter::summary(const Summary& s, double elapsed_s)
{
    for (auto& e : reporters_)
        e.r->summary(s, elapsed_s);
}

void FanoutReporter::target_exit(std::uint32_t pid, MonoNs ts)
{
    for (auto& e : reporters_)
        e.r->target_exit(pid, ts);
}

void FanoutReporter::state(const LiveState& st)
{
    for (auto& e : reporters_) {
        if (e.state_period_ns && st.now < e.next_state)
            continue;
        e.r->state(st);
        e.next_state = st.now + e.state_period_ns;
    }
}

void FanoutReporter::flush()
{
    for (auto& e : reporters_)
        e.r->flush();
}

} // namespace cwt
