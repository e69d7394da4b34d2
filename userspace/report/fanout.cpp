#include "report/fanout.hpp"

namespace cwt
{

void FanoutReporter::add(std::unique_ptr<Reporter> r)
{
    if (r)
        reporters_.push_back(std::move(r));
}

void FanoutReporter::start(const StartInfo& s)
{
    for (auto& r : reporters_)
        r->start(s);
}

void FanoutReporter::finding(const Finding& f)
{
    for (auto& r : reporters_)
        r->finding(f);
}

void FanoutReporter::summary(const Summary& s, double elapsed_s)
{
    for (auto& r : reporters_)
        r->summary(s, elapsed_s);
}

void FanoutReporter::target_exit(std::uint32_t pid, MonoNs ts)
{
    for (auto& r : reporters_)
        r->target_exit(pid, ts);
}

void FanoutReporter::state(const LiveState& st)
{
    for (auto& r : reporters_)
        r->state(st);
}

void FanoutReporter::flush()
{
    for (auto& r : reporters_)
        r->flush();
}

} // namespace cwt
