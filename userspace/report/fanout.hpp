// Runs several reporters at once: every call goes to each, in order.
#pragma once

#include <memory>
#include <vector>

#include "report/reporter.hpp"

namespace cwt
{

class FanoutReporter : public Reporter
{
  public:
    void add(std::unique_ptr<Reporter> r);
    bool empty() const { return reporters_.empty(); }

    void start(const StartInfo& s) override;
    void finding(const Finding& f) override;
    void summary(const Summary& s, double elapsed_s) override;
    void target_exit(std::uint32_t pid, MonoNs ts) override;
    void flush() override;
    void state(const LiveState& st) override;

  private:
    std::vector<std::unique_ptr<Reporter>> reporters_;
};

} // namespace cwt
