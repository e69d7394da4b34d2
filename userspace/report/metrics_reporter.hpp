// Findings and the tracker's state as Prometheus metrics (closewait-trace(8),
// "Metrics"): counters from findings, gauges from the state every interval,
// the whole exposition handed to a sink (the atomic textfile writer).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "report/format.hpp"
#include "report/reporter.hpp"
#include "report/prometheus_text.hpp"

namespace cwt
{

struct MetricsOptions {
    std::size_t max_series = 500;
    std::string version;
};

using ExpositionSink = std::function<void(const std::string& text)>;
using ContainerFn = std::function<std::string(std::uint32_t pid)>;
using AliveFn = std::function<bool(std::uint32_t pid)>;

class MetricsReporter : public Reporter
{
  public:
    // sink: called with the whole exposition at start, on every state() and
    // at summary(). It may throw UserError: at start that ends the tool (a
    // bad --prometheus-textfile), later it is reported once on `err`.
    MetricsReporter(MetricsOptions o, ExpositionSink sink, WallClock clock, ContainerFn container,
                    AliveFn alive, std::FILE* err = stderr);

    void start(const StartInfo& s) override;
    void finding(const Finding& f) override;
    void summary(const Summary& s, double elapsed_s) override;
    void flush() override {}
    // Gauges from the state now, then the exposition to the sink.
    void state(const LiveState& st) override;

    std::string exposition() const { return model_.render(); }
    const prom::Model& model() const { return model_; }

  private:
    void set_gauges(const LiveState& st);
    void write();
    prom::Labels process_labels(std::uint32_t pid, const std::string& comm, const char* owner,
                                const std::string& listener);
    std::string container(std::uint32_t pid);

    MetricsOptions o_;
    ExpositionSink sink_;
    WallClock clock_;
    ContainerFn container_fn_;
    AliveFn alive_;
    std::FILE* err_;
    prom::Model model_;
    std::vector<ListenerInfo> last_listeners_;
    std::map<std::uint32_t, std::string> containers_; // pid -> container id, while it has series
    std::set<std::uint32_t> counter_pids_;            // pids with counter series
    std::string last_error_;
    std::string start_info_tier_;
    double start_unix_s_ = 0;
};

// Declares every metric the reporter writes, for the reporter and the docs test.
void declare_metrics(prom::Model& m);

} // namespace cwt
