// The Prometheus text exposition format (version 0.0.4), and a small metrics
// model on top of it: gauges rebuilt every interval, counters that only grow,
// and a cap on the series of every metric. Pure: no clock, no files, no /proc.
//
// Label values are attacker-controlled (process names): they are escaped as
// the format requires (\\, \", \n), and whatever is not valid UTF-8 or is a
// control byte becomes the visible text \xNN, so no byte of a name can break a
// line, a quote, or a terminal that shows the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cwt::prom
{

enum class MetricType { Counter, Gauge };
const char* type_name(MetricType t);

// Ordered: series are written with their labels in this order.
using Labels = std::vector<std::pair<std::string, std::string>>;

// label_value: "\" -> "\\", '"' -> "\"", LF -> "\n"; other control bytes, DEL
// and invalid UTF-8 become the text "\xNN" (whose backslash is then escaped).
std::string escape_label_value(std::string_view raw);
// HELP text: "\" -> "\\", LF -> "\n" (control bytes as for labels).
std::string escape_help(std::string_view raw);
// Go ParseFloat syntax: shortest round-trip form, NaN, +Inf, -Inf.
std::string format_value(double v);
// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]* (names starting "__" are reserved).
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

struct Sample {
    Labels labels;
    double value = 0;
};

struct Family {
    std::string name;
    std::string help;
    MetricType type = MetricType::Gauge;
    std::vector<Sample> samples;
};

// HELP and TYPE, then every sample, family after family, in the order given.
// Labels with an empty value are left out (Prometheus treats them as absent).
std::string render(const std::vector<Family>& families);

// How the series folded into "other" combine.
enum class Fold { Sum, Max };

struct MetricDef {
    std::string name;
    std::string help;
    MetricType type = MetricType::Gauge;
    // The label that becomes "other" when series are folded (usually "pid"),
    // and the labels a folded series keeps (one "other" series per value of
    // them; keep them low-cardinality); every other label is dropped from it.
    std::string fold_label = "pid";
    std::vector<std::string> keep_on_fold;
    Fold fold = Fold::Sum; // counters always sum
};

// Metrics with state across expositions.
//  - Gauges describe now: set them all after begin_interval(); a series not
//    set again is gone (a process that holds nothing has no series).
//  - Counters accumulate for the life of the model and never go down.
//  - At most max_series series per metric, "other" series included. Gauges
//    keep the largest values and fold the rest. A counter series that arrives
//    at the cap, or the smallest one when room is needed for a new "other",
//    is folded for good, so "other" never goes down either. How many series
//    are inside "other" now is itself a gauge (folded_metric{metric}).
class Model
{
  public:
    explicit Model(std::size_t max_series,
                   std::string folded_metric = "closewait_trace_metrics_folded_series");

    // Declaration order is exposition order. Throws std::invalid_argument on
    // an invalid or duplicate name, or a fold label that is also kept.
    void declare(MetricDef def);

    void begin_interval(); // drops every gauge series
    void set_gauge(const std::string& name, const Labels& labels, double value);
    // delta <= 0 or NaN is ignored: counters only grow.
    void add_counter(const std::string& name, const Labels& labels, double delta);
    // Raises a counter series to `total` if it is lower (for cumulative
    // sources such as the kernel's aggregates); never lowers it.
    void raise_counter(const std::string& name, const Labels& labels, double total);
    // Removes every counter series whose `label` is `value` (a process that
    // exited), which frees its slot under the cap. What a series had added
    // to "other" stays there.
    void retire_counters(const std::string& label, const std::string& value);

    std::vector<Family> families() const;
    std::string render() const { return prom::render(families()); }

    std::size_t series_count(const std::string& name) const; // as exposed, "other" included
    std::size_t folded_count(const std::string& name) const; // live series inside "other" now
    std::size_t max_series() const { return max_series_; }

  private:
    struct Metric {
        MetricDef def;
        std::map<Labels, double> series; // gauges: this interval; counters: shown on their own
        std::map<Labels, double> hidden; // counters: folded for good, still counted
        std::map<Labels, double> other;  // counters: "other" totals, by their labels
    };
    Metric& get(const std::string& name, MetricType expect);
    const Metric* find(const std::string& name) const;
    Labels other_labels(const Metric& m, const Labels& labels) const;
    // Grows a counter series by delta (or to total), wherever it lives.
    void bump_counter(Metric& m, const Labels& labels, double delta, bool absolute);
    void make_room(Metric& m);
    std::vector<Sample> exposed(const Metric& m, std::size_t* folded) const;

    std::size_t max_series_;
    std::string folded_metric_;
    std::vector<Metric> metrics_;
};

} // namespace cwt::prom
