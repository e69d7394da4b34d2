// Runs several reporters at once: every call goes to each, in order. A
// reporter added with a state period gets state() at most once per period
// (the metrics file every --metrics-interval while --record and --top take
// the state every second).
#pragma once

#include <memory>
#include <vector>

#include "report/reporter.hpp"

namespace cwt
{

class FanoutReporter : public Reporter
{
  public:
    void add(std::unique_ptr<Reporter> r, MonoNs state_period_ns = 0);
    bool empty() const { return reporters_.empty(); }

    void start(const StartInfo& s) override;
    void finding(const Finding& f) override;
    void summary(const Summary& s, double elapsed_s) override;
    void target_exit(std::uint32_t pid, MonoNs ts) override;
    void flush() override;
    void state(const LiveState& st) override;

  private:
    struct Entry {
        std::unique_ptr<Reporter> r;
        MonoNs state_period_ns = 0; // 0: every state()
        MonoNs next_state = 0;
    };
    std::vector<Entry> reporters_;
};

} // namespace cwt
