#include "report/prometheus_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>

namespace cwt::prom
{

const char* type_name(MetricType t)
{
    return t == MetricType::Counter ? "counter" : "gauge";
}

namespace
{

void hex_byte(std::string& out, unsigned char c)
{
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\\\x%02x", c); // the text \xNN, its backslash escaped
    out += buf;
}

// Length of the valid UTF-8 sequence at s[i] (2..4), or 0. Overlong forms,
// surrogates and code points past U+10FFFF are invalid; so are C1 controls
// (U+0080..U+009F), which some terminals obey, and the bidirectional controls.
std::size_t utf8_len(std::string_view s, std::size_t i)
{
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
    unsigned char c = b(0);
    if (c >= 0xC2 && c <= 0xDF && cont(1))
        return (c == 0xC2 && b(1) < 0xA0) ? 0 : 2;
    if (c >= 0xE0 && c <= 0xEF && cont(1) && cont(2)) {
        if (c == 0xE0 && b(1) < 0xA0)
            return 0; // overlong
        if (c == 0xED && b(1) >= 0xA0)
            return 0; // surrogate
        // U+200E/F, U+202A..E, U+2066..9: bidirectional controls, which
        // reorder what a reader sees; U+2028/9: line and paragraph separators.
        unsigned cp = ((c & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
        if (cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4 && cont(1) && cont(2) && cont(3)) {
        if (c == 0xF0 && b(1) < 0x90)
            return 0; // overlong
        if (c == 0xF4 && b(1) >= 0x90)
            return 0; // > U+10FFFF
        return 4;
    }
    return 0;
}

std::string escape(std::string_view raw, bool quote)
{
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size();) {
        unsigned char c = static_cast<unsigned char>(raw[i]);
        if (c < 0x80) {
            if (c == '\\')
                out += "\\\\";
            else if (c == '"' && quote)
                out += "\\\"";
            else if (c == '\n')
                out += "\\n";
            else if (c < 0x20 || c == 0x7f)
                hex_byte(out, c);
            else
                out += static_cast<char>(c);
            ++i;
            continue;
        }
        std::size_t n = utf8_len(raw, i);
        if (n == 0) {
            hex_byte(out, c);
            ++i;
            continue;
        }
        out.append(raw.substr(i, n));
        i += n;
    }
    return out;
}

bool name_chars(std::string_view name, bool colon)
{
    if (name.empty())
        return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

void write_labels(std::string& out, const Labels& labels)
{
    bool any = false;
    for (const auto& [k, v] : labels) {
        if (v.empty())
            continue;
        out += any ? "," : "{";
        any = true;
        out += k;
        out += "=\"";
        out += escape_label_value(v);
        out += '"';
    }
    if (any)
        out += '}';
}

} // namespace

std::string escape_label_value(std::string_view raw)
{
    return escape(raw, true);
}

std::string escape_help(std::string_view raw)
{
    return escape(raw, false);
}

std::string format_value(double v)
{
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.0f", v);
        return buf;
    }
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    return std::string(buf, r.ptr);
}

bool valid_metric_name(std::string_view name)
{
    return name_chars(name, true);
}

bool valid_label_name(std::string_view name)
{
    return name_chars(name, false) && name.substr(0, 2) != "__";
}

std::string render(const std::vector<Family>& families)
{
    std::string out;
    for (const auto& f : families) {
        out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
        out += "# TYPE " + f.name + " " + type_name(f.type) + "\n";
        for (const auto& s : f.samples) {
            out += f.name;
            write_labels(out, s.labels);
            out += ' ';
            out += format_value(s.value);
            out += '\n';
        }
    }
    return out;
}

// ---- Model -------------------------------------------------------------------

Model::Model(std::size_t max_series, std::string folded_metric)
    : max_series_(std::max<std::size_t>(1, max_series)), folded_metric_(std::move(folded_metric))
{
}

void Model::declare(MetricDef def)
{
    if (!valid_metric_name(def.name) || def.name == folded_metric_ || find(def.name))
        throw std::invalid_argument("invalid or duplicate metric name: " + def.name);
    if (!valid_label_name(def.fold_label) ||
        std::find(def.keep_on_fold.begin(), def.keep_on_fold.end(), def.fold_label) != def.keep_on_fold.end())
        throw std::invalid_argument("bad fold label for " + def.name);
    Metric m;
    m.def = std::move(def);
    metrics_.push_back(std::move(m));
}

const Model::Metric* Model::find(const std::string& name) const
{
    for (const auto& m : metrics_)
        if (m.def.name == name)
            return &m;
    return nullptr;
}

Model::Metric& Model::get(const std::string& name, MetricType expect)
{
    for (auto& m : metrics_)
        if (m.def.name == name) {
            if (m.def.type != expect)
                throw std::invalid_argument("metric " + name + " is not a " + type_name(expect));
            return m;
        }
    throw std::invalid_argument("undeclared metric: " + name);
}

Labels Model::other_labels(const Metric& m, const Labels& labels) const
{
    Labels out;
    bool has_fold = false;
    for (const auto& [k, v] : labels) {
        if (k == m.def.fold_label) {
            out.emplace_back(k, "other");
            has_fold = true;
        } else if (std::find(m.def.keep_on_fold.begin(), m.def.keep_on_fold.end(), k) !=
                   m.def.keep_on_fold.end()) {
            out.emplace_back(k, v);
        }
    }
    if (!has_fold)
        out.insert(out.begin(), {m.def.fold_label, "other"});
    return out;
}

void Model::begin_interval()
{
    for (auto& m : metrics_)
        if (m.def.type == MetricType::Gauge)
            m.series.clear();
}

void Model::set_gauge(const std::string& name, const Labels& labels, double value)
{
    get(name, MetricType::Gauge).series[labels] = value;
}

void Model::add_counter(const std::string& name, const Labels& labels, double delta)
{
    if (!(delta >= 0))
        return; // negative or NaN
    bump_counter(get(name, MetricType::Counter), labels, delta, false);
}

void Model::raise_counter(const std::string& name, const Labels& labels, double total)
{
    if (!(total >= 0))
        return;
    bump_counter(get(name, MetricType::Counter), labels, total, true);
}

void Model::bump_counter(Metric& m, const Labels& labels, double amount, bool absolute)
{
    auto grow = [&](double& v) {
        double inc = absolute ? std::max(0.0, amount - v) : amount;
        v += inc;
        return inc;
    };
    if (auto it = m.series.find(labels); it != m.series.end()) {
        grow(it->second);
        return;
    }
    if (auto it = m.hidden.find(labels); it != m.hidden.end()) {
        m.other[other_labels(m, labels)] += grow(it->second);
        return;
    }
    double v = 0;
    grow(v);
    if (m.series.size() + m.other.size() < max_series_) {
        m.series.emplace(labels, v);
        return;
    }
    // At the cap: this one is folded for good.
    m.hidden.emplace(labels, v);
    m.other[other_labels(m, labels)] += v;
    make_room(m);
}

void Model::make_room(Metric& m)
{
    // A new "other" series may have pushed the metric past the cap: fold the
    // smallest series shown on their own until it fits.
    while (m.series.size() + m.other.size() > max_series_ && !m.series.empty()) {
        auto smallest = std::min_element(m.series.begin(), m.series.end(),
                                         [](const auto& a, const auto& b) { return a.second < b.second; });
        m.other[other_labels(m, smallest->first)] += smallest->second;
        m.hidden.emplace(smallest->first, smallest->second);
        m.series.erase(smallest);
    }
}

void Model::retire_counters(const std::string& label, const std::string& value)
{
    auto matches = [&](const Labels& ls) {
        return std::any_of(ls.begin(), ls.end(),
                           [&](const auto& kv) { return kv.first == label && kv.second == value; });
    };
    for (auto& m : metrics_) {
        if (m.def.type != MetricType::Counter)
            continue;
        for (auto* map : {&m.series, &m.hidden})
            for (auto it = map->begin(); it != map->end();)
                it = matches(it->first) ? map->erase(it) : std::next(it);
    }
}

std::vector<Sample> Model::exposed(const Metric& m, std::size_t* folded) const
{
    std::vector<Sample> out;
    if (m.def.type == MetricType::Counter) {
        for (const auto& [ls, v] : m.series)
            out.push_back({ls, v});
        for (const auto& [ls, v] : m.other)
            out.push_back({ls, v});
        if (folded)
            *folded = m.hidden.size();
        return out;
    }
    if (m.series.size() <= max_series_) {
        for (const auto& [ls, v] : m.series)
            out.push_back({ls, v});
        if (folded)
            *folded = 0;
        return out;
    }
    // Gauges over the cap: the largest values on their own, the rest folded,
    // with room left for the "other" series they need.
    std::vector<std::pair<const Labels*, double>> by_value;
    for (const auto& [ls, v] : m.series)
        by_value.emplace_back(&ls, v);
    std::stable_sort(by_value.begin(), by_value.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::size_t keep = max_series_ - 1;
    for (;;) {
        std::set<Labels> groups;
        for (std::size_t i = keep; i < by_value.size(); ++i)
            groups.insert(other_labels(m, *by_value[i].first));
        if (keep + groups.size() <= max_series_ || keep == 0)
            break;
        --keep;
    }
    std::map<Labels, double> kept, other;
    for (std::size_t i = 0; i < by_value.size(); ++i) {
        if (i < keep) {
            kept.emplace(*by_value[i].first, by_value[i].second);
            continue;
        }
        Labels g = other_labels(m, *by_value[i].first);
        auto [it, added] = other.emplace(g, by_value[i].second);
        if (!added)
            it->second = m.def.fold == Fold::Max ? std::max(it->second, by_value[i].second)
                                                 : it->second + by_value[i].second;
    }
    for (const auto& [ls, v] : kept)
        out.push_back({ls, v});
    for (const auto& [ls, v] : other)
        out.push_back({ls, v});
    if (folded)
        *folded = by_value.size() - keep;
    return out;
}

std::vector<Family> Model::families() const
{
    std::vector<Family> out;
    Family folded_family{
        folded_metric_,
        "Series of a metric folded into its pid=\"other\" series (over --metrics-max-series)",
        MetricType::Gauge,
        {}};
    for (const auto& m : metrics_) {
        std::size_t folded = 0;
        out.push_back({m.def.name, m.def.help, m.def.type, exposed(m, &folded)});
        if (folded)
            folded_family.samples.push_back({{{"metric", m.def.name}}, static_cast<double>(folded)});
    }
    out.push_back(std::move(folded_family));
    return out;
}

std::size_t Model::series_count(const std::string& name) const
{
    const Metric* m = find(name);
    return m ? exposed(*m, nullptr).size() : 0;
}

std::size_t Model::folded_count(const std::string& name) const
{
    const Metric* m = find(name);
    std::size_t folded = 0;
    if (m)
        exposed(*m, &folded);
    return folded;
}

} // namespace cwt::prom
