#include "report/html.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace cwt
{

namespace
{

using nlohmann::json;

std::string esc(const std::string& s)
{
    std::string o;
    o.reserve(s.size());
    for (unsigned char c : s) {
        switch (c) {
        case '&':
            o += "&amp;";
            break;
        case '<':
            o += "&lt;";
            break;
        case '>':
            o += "&gt;";
            break;
        case '"':
            o += "&quot;";
            break;
        case '\'':
            o += "&#39;";
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                o += ' ';
            else
                o += static_cast<char>(c);
        }
    }
    return o;
}

std::string num(double v)
{
    char b[32];
    if (std::fabs(v - std::round(v)) < 1e-9)
        std::snprintf(b, sizeof(b), "%.0f", v);
    else
        std::snprintf(b, sizeof(b), "%.2f", v);
    return b;
}

struct Series {
    std::string name;
    std::vector<double> values; // one per sample
    double peak() const { return values.empty() ? 0 : *std::max_element(values.begin(), values.end()); }
};

// Keeps the `keep` series with the highest peaks; the rest become "other".
std::vector<Series> top_series(const std::map<std::string, Series>& all, std::size_t n, std::size_t keep = 8)
{
    std::vector<Series> v;
    v.reserve(all.size() + 1);
    for (const auto& entry : all) {
        v.push_back(entry.second);
        v.back().values.resize(n, 0);
    }
    std::stable_sort(v.begin(), v.end(),
                     [](const Series& a, const Series& b) { return a.peak() > b.peak(); });
    if (v.size() > keep) {
        Series other{"other (" + std::to_string(v.size() - keep) + ")", std::vector<double>(n, 0)};
        for (std::size_t i = keep; i < v.size(); ++i)
            for (std::size_t j = 0; j < n; ++j)
                other.values[j] += v[i].values[j];
        v.resize(keep);
        v.push_back(std::move(other));
    }
    return v;
}

const char* kColors[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
                         "#8c564b", "#e377c2", "#17becf", "#7f7f7f"};

std::string chart(const std::string& id, const std::string& title, const std::string& unit,
                  const std::vector<double>& t, const std::vector<Series>& series)
{
    const double W = 880, H = 190, L = 60, R = 10, T = 10, B = 30;
    std::ostringstream o;
    o << "<section class=\"chart\" id=\"" << id << "\"><h2>" << esc(title) << "</h2>\n";
    if (series.empty() || t.empty()) {
        o << "<p class=\"empty\">nothing recorded</p></section>\n";
        return o.str();
    }
    double t0 = t.front(), t1 = std::max(t.back(), t0 + 1);
    double vmax = 1;
    for (const auto& s : series)
        vmax = std::max(vmax, s.peak());
    auto x = [&](double tv) { return L + (tv - t0) / (t1 - t0) * (W - L - R); };
    auto y = [&](double v) { return T + (1 - v / vmax) * (H - T - B); };
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" viewBox=\"0 0 " << W << ' ' << H << "\" role=\"img\" aria-label=\"" << esc(title) << "\">\n";
    o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W - L - R << "\" height=\"" << H - T - B
      << "\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n";
    for (int k = 0; k <= 4; ++k) {
        double v = vmax * k / 4;
        o << "<text class=\"ytick\" x=\"" << L - 4 << "\" y=\"" << y(v) + 4 << "\" text-anchor=\"end\">"
          << num(v) << "</text><line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << y(v) << "\" y2=\""
          << y(v) << "\" stroke=\"#eee\"/>\n";
    }
    o << "<text x=\"" << L << "\" y=\"" << H - 8 << "\">0 s</text><text x=\"" << W - R << "\" y=\"" << H - 8
      << "\" text-anchor=\"end\">" << num(t1 - t0) << " s</text>\n";
    o << "<text x=\"" << (L + W) / 2 << "\" y=\"" << H - 8 << "\" text-anchor=\"middle\">" << esc(unit)
      << "</text>\n";
    for (std::size_t i = 0; i < series.size(); ++i) {
        const Series& s = series[i];
        o << "<polyline class=\"series\" data-chart=\"" << id << "\" data-name=\"" << esc(s.name)
          << "\" data-values=\"";
        for (std::size_t j = 0; j < s.values.size(); ++j)
            o << (j ? " " : "") << num(s.values[j]);
        o << "\" data-t=\"";
        for (std::size_t j = 0; j < t.size(); ++j)
            o << (j ? " " : "") << num(t[j] - t0);
        o << "\" fill=\"none\" stroke-width=\"2\" stroke=\"" << kColors[i % 9] << "\" points=\"";
        for (std::size_t j = 0; j < s.values.size() && j < t.size(); ++j)
            o << (j ? " " : "") << num(x(t[j])) << ',' << num(y(s.values[j]));
        o << "\"><title>" << esc(s.name) << " (peak " << num(s.peak()) << ")</title></polyline>\n";
    }
    o << "</svg>\n<ul class=\"legend\">";
    for (std::size_t i = 0; i < series.size(); ++i)
        o << "<li><span style=\"background:" << kColors[i % 9] << "\"></span>" << esc(series[i].name)
          << " &mdash; peak " << num(series[i].peak()) << ", last "
          << num(series[i].values.empty() ? 0 : series[i].values.back()) << "</li>";
    o << "</ul></section>\n";
    return o.str();
}

struct Offender {
    std::uint32_t pid = 0;
    std::string comm, container;
    double first = -1, peak = 0, last = 0, first_t = 0, last_t = 0;
    std::map<std::string, std::size_t> sites; // from the leak findings
};

std::string str(const json& j, const char* k)
{
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

double dbl(const json& j, const char* k)
{
    auto it = j.find(k);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

} // namespace

std::string render_html_report(std::istream& in, const std::string& source_name)
{
    std::vector<json> samples;
    std::vector<json> leaks;
    json start, summary;
    std::size_t findings = 0, lineno = 0, accept_errors = 0;
    std::string line;
    while (std::getline(in, line)) {
        ++lineno;
        if (line.empty())
            continue;
        json j = json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("type"))
            throw UserError("line " + std::to_string(lineno) + " of " + source_name + " is not a record line",
                            "pass a file written by closewait-trace --record");
        std::string type = str(j, "type");
        if (type == "sample")
            samples.push_back(std::move(j));
        else if (type == "start")
            start = std::move(j);
        else if (type == "summary")
            summary = std::move(j);
        else {
            ++findings;
            if (type == "close_wait_leak")
                leaks.push_back(std::move(j));
            else if (type == "accept_error")
                ++accept_errors;
        }
    }
    if (samples.empty() && start.is_null())
        throw UserError(source_name + " holds no record", "pass a file written by closewait-trace --record");

    const std::size_t n = samples.size();
    std::vector<double> t;
    std::map<std::string, Series> by_proc, by_container, by_listener, backlog, by_site;
    std::map<std::uint32_t, Offender> offenders;
    Series emfile{"EMFILE+ENFILE on accept per second", {}};
    double prev_emfile = 0, prev_t = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const json& s = samples[i];
        double ti = dbl(s, "t");
        t.push_back(ti);
        std::map<std::string, double> containers;
        for (const auto& p : s.value("processes", json::array())) {
            std::uint32_t pid = p.value("pid", 0u);
            std::string comm = str(p, "comm"), cont = str(p, "container");
            double cw = dbl(p, "close_waits");
            std::string key = "pid " + std::to_string(pid) + " (" + comm + ")";
            auto& ser = by_proc[key];
            ser.name = key;
            ser.values.resize(n, 0);
            ser.values[i] = cw;
            containers[cont.empty() ? "host" : cont] += cw;
            Offender& o = offenders[pid];
            o.pid = pid;
            o.comm = comm;
            o.container = cont;
            if (o.first < 0) {
                o.first = cw;
                o.first_t = ti;
            }
            o.peak = std::max(o.peak, cw);
            o.last = cw;
            o.last_t = ti;
        }
        for (const auto& [c, v] : containers) {
            auto& ser = by_container[c];
            ser.name = c;
            ser.values.resize(n, 0);
            ser.values[i] = v;
        }
        for (const auto& l : s.value("listeners", json::array())) {
            std::uint32_t lpid = l.value("pid", 0u);
            std::string key =
                str(l, "local") + " (" +
                (lpid ? str(l, "comm") + " " + std::to_string(lpid) : std::string("owner unknown")) + ")";
            auto& ser = by_listener[key];
            ser.name = key;
            ser.values.resize(n, 0);
            ser.values[i] = dbl(l, "queue");
            auto& b = backlog[key];
            b.values.resize(1, 0);
            b.values[0] = std::max(b.values[0], dbl(l, "backlog"));
        }
        double e = dbl(s, "emfile_total");
        double rate = i == 0 || ti <= prev_t ? 0 : std::max(0.0, (e - prev_emfile) / (ti - prev_t));
        emfile.values.push_back(rate);
        prev_emfile = e;
        prev_t = ti;
        for (const auto& x : s.value("sites", json::array())) {
            std::string key = str(x, "site");
            auto& ser = by_site[key];
            ser.name = key;
            ser.values.resize(n, 0);
            ser.values[i] = dbl(x, "leaks");
        }
    }
    for (const auto& l : leaks) {
        auto it = l.find("leak_site");
        std::string site = it != l.end() && it->is_object() ? str(*it, "label") : "";
        if (!site.empty() && l.contains("pid") && l["pid"].is_number())
            offenders[l["pid"].get<std::uint32_t>()].sites[site]++;
    }

    std::ostringstream o;
    o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
         "'unsafe-inline'\">"
      << "<title>closewait-trace report: " << esc(source_name) << "</title>\n<style>"
      << "body{font:14px/1.4 "
         "sans-serif;margin:20px;color:#222}h1{font-size:20px}h2{font-size:16px;margin:18px 0 4px}"
      << "svg text{font-size:11px;fill:#555}.legend{list-style:none;padding:0;margin:4px 0;columns:2}"
      << ".legend span{display:inline-block;width:10px;height:10px;margin-right:6px}"
      << "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
      << "td.n{text-align:right}.empty{color:#888}</style></head><body>\n";
    o << "<h1>closewait-trace: " << esc(source_name) << "</h1>\n<p id=\"meta\">";
    if (!start.is_null())
        o << "kernel " << esc(str(start, "kernel")) << ", probes " << esc(str(start, "tier")) << ", ";
    o << n << " samples";
    if (n)
        o << " over " << num(t.back() - t.front()) << " s, from " << esc(str(samples.front(), "ts")) << " to "
          << esc(str(samples.back(), "ts"));
    o << "; " << findings << " findings (" << leaks.size() << " leaks, " << accept_errors
      << " accept errors)</p>\n";

    o << chart("close_wait_process", "CLOSE_WAIT sockets per process", "time", t, top_series(by_proc, n));
    o << chart("close_wait_container", "CLOSE_WAIT sockets per container", "time", t,
               top_series(by_container, n));
    o << chart("accept_queue", "Accept-queue depth per listener", "time", t, top_series(by_listener, n));
    o << chart("emfile", "EMFILE/ENFILE on accept per second", "time", t,
               n ? std::vector<Series>{emfile} : std::vector<Series>{});
    o << chart("leak_sites", "Leaks reported per site", "time", t, top_series(by_site, n));

    // Top offenders: by peak CLOSE_WAITs.
    std::vector<Offender> top;
    top.reserve(offenders.size());
    for (auto& [pid, off] : offenders)
        top.push_back(off);
    std::sort(top.begin(), top.end(), [](const Offender& a, const Offender& b) { return a.peak > b.peak; });
    if (top.size() > 20)
        top.resize(20);
    o << "<section id=\"offenders\"><h2>Top offenders</h2>\n<table><thead><tr><th>pid</th><th>process</th>"
      << "<th>container</th><th>peak CLOSE_WAIT</th><th>last</th><th>growth/min</th><th>leak "
         "site</th></tr></thead>"
         "<tbody>\n";
    for (const auto& off : top) {
        double span = off.last_t - off.first_t;
        double growth = span > 0 ? (off.last - off.first) / span * 60 : 0;
        std::string site;
        std::size_t best = 0, total = 0;
        for (const auto& [s, c] : off.sites) {
            total += c;
            if (c > best) {
                best = c;
                site = s;
            }
        }
        o << "<tr class=\"offender\" data-pid=\"" << off.pid << "\"><td class=\"n\">" << off.pid
          << "</td><td>" << esc(off.comm) << "</td><td>"
          << esc(off.container.empty() ? "host" : off.container) << "</td><td class=\"n\">" << num(off.peak)
          << "</td><td class=\"n\">" << num(off.last) << "</td><td class=\"n\">" << num(growth)
          << "</td><td>";
        if (!site.empty())
            o << best << " of " << total << " " << esc(site);
        o << "</td></tr>\n";
    }
    o << "</tbody></table></section>\n";
    if (summary.is_object() && summary.contains("sites") && summary["sites"].is_array() &&
        !summary["sites"].empty()) {
        o << "<section id=\"sites\"><h2>Leaks by site "
             "(summary)</h2><table><thead><tr><th>leaks</th><th>site</th>"
             "</tr></thead><tbody>\n";
        for (const auto& s : summary["sites"])
            o << "<tr><td class=\"n\">" << num(dbl(s, "leaks")) << "</td><td>" << esc(str(s, "label"))
              << "</td></tr>\n";
        o << "</tbody></table></section>\n";
    }
    o << "</body></html>\n";
    return o.str();
}

int run_report(const std::string& in, const std::string& out)
{
    std::ifstream f(in);
    if (!f)
        throw UserError("cannot read " + in, "pass the file written by closewait-trace --record FILE");
    std::string base = in.substr(in.rfind('/') == std::string::npos ? 0 : in.rfind('/') + 1);
    std::string page = render_html_report(f, base);
    std::ofstream o(out, std::ios::trunc);
    if (!o || !(o << page) || !o.flush())
        throw UserError("cannot write " + out, "choose a writable path for -o");
    std::fprintf(stderr, "closewait-trace: wrote %s (%zu bytes)\n", out.c_str(), page.size());
    return 0;
}

} // namespace cwt
