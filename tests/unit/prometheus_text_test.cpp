// The Prometheus text writer and metrics model: escaping of hostile label
// values, the series cap and its fold, counters that never go down.
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "report/prometheus_text.hpp"

namespace cwt::prom
{
namespace
{

// Every line of an exposition: no raw control byte, every label value
// quoted and closed, so one hostile value cannot create or break a line.
void expect_well_formed(const std::string& text)
{
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        for (unsigned char c : line)
            EXPECT_FALSE(c < 0x20 || c == 0x7f) << "raw control byte in: " << line;
        if (line.rfind("#", 0) == 0)
            continue;
        // Walk the label block as a parser would.
        auto brace = line.find('{');
        if (brace == std::string::npos)
            continue;
        std::size_t i = brace + 1;
        while (i < line.size() && line[i] != '}') {
            auto eq = line.find("=\"", i);
            ASSERT_NE(eq, std::string::npos) << line;
            i = eq + 2;
            while (i < line.size() && line[i] != '"') {
                if (line[i] == '\\') {
                    ASSERT_LT(i + 1, line.size()) << line;
                    char e = line[i + 1];
                    EXPECT_TRUE(e == '\\' || e == '"' || e == 'n') << "bad escape \\" << e << " in " << line;
                    ++i;
                }
                ++i;
            }
            ASSERT_LT(i, line.size()) << "unterminated label value: " << line;
            ++i; // closing quote
            if (i < line.size() && line[i] == ',')
                ++i;
        }
        ASSERT_LT(i, line.size()) << line;
        EXPECT_EQ(line[i + 1], ' ') << line;
    }
}

TEST(PrometheusText, EscapesTheThreeCharactersTheFormatNames)
{
    EXPECT_EQ(escape_label_value(R"(a\b)"), R"(a\\b)");
    EXPECT_EQ(escape_label_value(R"(say "hi")"), R"(say \"hi\")");
    EXPECT_EQ(escape_label_value("two\nlines"), R"(two\nlines)");
    EXPECT_EQ(escape_label_value("plain-name_1.2"), "plain-name_1.2");
    // HELP escapes backslash and newline, not quotes.
    EXPECT_EQ(escape_help("a \"b\" \\ c\nd"), R"(a "b" \\ c\nd)");
}

TEST(PrometheusText, ControlBytesAndInvalidUtf8BecomeVisibleText)
{
    // ESC [ 2 J (clear screen), CR, TAB, NUL, DEL: none reaches the file raw.
    std::string hostile("\x1b[2J\r\t", 6);
    hostile += std::string("\0x", 2);
    hostile += "\x7f";
    EXPECT_EQ(escape_label_value(hostile), R"(\\x1b[2J\\x0d\\x09\\x00x\\x7f)");
    // Valid UTF-8 passes as is; broken sequences and C1 controls do not.
    EXPECT_EQ(escape_label_value("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d"),
              "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d");
    EXPECT_EQ(escape_label_value("\xc3"), R"(\\xc3)");                   // truncated
    EXPECT_EQ(escape_label_value("\xc0\xaf"), R"(\\xc0\\xaf)");          // overlong '/'
    EXPECT_EQ(escape_label_value("\xed\xa0\x80"), R"(\\xed\\xa0\\x80)"); // surrogate
    EXPECT_EQ(escape_label_value("\xc2\x9b"), R"(\\xc2\\x9b)");          // C1 CSI
    EXPECT_EQ(escape_label_value("\xff\xfe"), R"(\\xff\\xfe)");
    // Bidirectional overrides (U+202E) and isolates (U+2066) reorder what a reader sees.
    EXPECT_EQ(escape_label_value("a\xe2\x80\xae"
                                 "b\xe2\x81\xa6"),
              R"(a\\xe2\\x80\\xaeb\\xe2\\x81\\xa6)");
}

TEST(PrometheusText, ValuesInGoSyntax)
{
    EXPECT_EQ(format_value(0), "0");
    EXPECT_EQ(format_value(42), "42");
    EXPECT_EQ(format_value(-3), "-3");
    EXPECT_EQ(format_value(1.5), "1.5");
    EXPECT_EQ(format_value(0.1), "0.1");
    EXPECT_EQ(format_value(1764753600.25), "1764753600.25");
    EXPECT_EQ(format_value(1e300), "1e+300");
    EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(PrometheusText, NameRules)
{
    EXPECT_TRUE(valid_metric_name("closewait_trace_leaks_total"));
    EXPECT_TRUE(valid_metric_name("a:b_c"));
    EXPECT_FALSE(valid_metric_name("1abc"));
    EXPECT_FALSE(valid_metric_name("a-b"));
    EXPECT_FALSE(valid_metric_name(""));
    EXPECT_TRUE(valid_label_name("pid"));
    EXPECT_FALSE(valid_label_name("a:b"));
    EXPECT_FALSE(valid_label_name("__name__"));
}

TEST(PrometheusText, RendersHelpTypeAndSamplesInOrder)
{
    std::vector<Family> fams = {
        {"x_total",
         "Things counted.\nSecond line",
         MetricType::Counter,
         {{{{"pid", "1"}, {"comm", "a\"b"}}, 3}}},
        {"y", "A gauge", MetricType::Gauge, {{{}, 1.5}, {{{"listener", ""}}, 2}}},
    };
    EXPECT_EQ(render(fams), "# HELP x_total Things counted.\\nSecond line\n"
                            "# TYPE x_total counter\n"
                            "x_total{pid=\"1\",comm=\"a\\\"b\"} 3\n"
                            "# HELP y A gauge\n"
                            "# TYPE y gauge\n"
                            "y 1.5\n"
                            "y 2\n"); // an empty label is an absent label
}

TEST(PrometheusText, HostileNamesCannotBreakTheExposition)
{
    Model m(100);
    m.declare({"t_close_wait_sockets", "open", MetricType::Gauge, "pid", {"owner"}, Fold::Sum});
    m.declare({"t_leaks_total", "leaks", MetricType::Counter, "pid", {}, Fold::Sum});
    std::vector<std::string> names = {"a\"}\nevil_metric 1\n#",
                                      "back\\slash\\",
                                      "\x1b]0;pwned\x07",
                                      "\xff\xfe\xfd",
                                      "n\\x0aline",
                                      "caf\xc3\xa9\xe2\x80\xae",
                                      std::string("nul\0byte", 8),
                                      "\"",
                                      "\\",
                                      "\n"};
    m.begin_interval();
    int pid = 100;
    for (const auto& n : names) {
        m.set_gauge("t_close_wait_sockets", {{"pid", std::to_string(pid)}, {"comm", n}, {"owner", "process"}},
                    1);
        m.add_counter("t_leaks_total", {{"pid", std::to_string(pid)}, {"comm", n}}, 1);
        ++pid;
    }
    std::string text = m.render();
    expect_well_formed(text);
    // The injected line did not become a metric of its own.
    EXPECT_EQ(text.find("\nevil_metric"), std::string::npos);
    EXPECT_NE(text.find(R"(comm="a\"}\nevil_metric 1\n#")"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(comm="back\\slash\\")"), std::string::npos);
    EXPECT_NE(text.find(R"(comm="\\x1b]0;pwned\\x07")"), std::string::npos);
    EXPECT_NE(text.find(R"(comm="nul\\x00byte")"), std::string::npos);
    EXPECT_EQ(m.series_count("t_close_wait_sockets"), names.size());
}

Model capped(std::size_t cap)
{
    Model m(cap);
    m.declare({"cw", "open CLOSE_WAITs", MetricType::Gauge, "pid", {"owner"}, Fold::Sum});
    m.declare({"age", "oldest", MetricType::Gauge, "pid", {"owner"}, Fold::Max});
    m.declare({"leaks_total", "leaks", MetricType::Counter, "pid", {}, Fold::Sum});
    m.declare({"errs_total", "errors", MetricType::Counter, "pid", {"errno"}, Fold::Sum});
    return m;
}

Labels proc(int pid, const char* owner = "process")
{
    return {{"pid", std::to_string(pid)}, {"comm", "srv" + std::to_string(pid)}, {"owner", owner}};
}

double value_of(const Model& m, const std::string& name, const Labels& ls)
{
    for (const auto& f : m.families())
        if (f.name == name)
            for (const auto& s : f.samples)
                if (s.labels == ls)
                    return s.value;
    return -1;
}

TEST(PrometheusModel, GaugesOverTheCapFoldTheSmallestIntoOther)
{
    Model m = capped(5);
    m.begin_interval();
    for (int pid = 1; pid <= 20; ++pid) {
        m.set_gauge("cw", proc(pid), pid); // pid N holds N sockets
        m.set_gauge("age", proc(pid), 100.0 - pid);
    }
    EXPECT_EQ(m.series_count("cw"), 5U);
    EXPECT_EQ(m.folded_count("cw"), 16U);
    // The four largest on their own; the sixteen others summed (1+..+16).
    EXPECT_EQ(value_of(m, "cw", proc(20)), 20);
    EXPECT_EQ(value_of(m, "cw", proc(17)), 17);
    EXPECT_EQ(value_of(m, "cw", proc(16)), -1);
    EXPECT_EQ(value_of(m, "cw", {{"pid", "other"}, {"owner", "process"}}), 136);
    // Ages fold by max: the oldest of the folded ones.
    EXPECT_EQ(value_of(m, "age", {{"pid", "other"}, {"owner", "process"}}), 95);
    // The fold is counted.
    EXPECT_EQ(value_of(m, "closewait_trace_metrics_folded_series", {{"metric", "cw"}}), 16);
    std::size_t total = 0;
    for (const auto& f : m.families())
        if (f.name == "cw")
            for (const auto& s : f.samples)
                total += static_cast<std::size_t>(s.value);
    EXPECT_EQ(total, 210U); // nothing lost in the fold
}

TEST(PrometheusModel, FoldKeepsOneOtherPerKeptLabelWithinTheCap)
{
    Model m = capped(6);
    m.begin_interval();
    for (int pid = 1; pid <= 10; ++pid)
        m.set_gauge("cw", proc(pid, pid % 2 ? "process" : "accept_queue"), 1);
    EXPECT_LE(m.series_count("cw"), 6U);
    EXPECT_EQ(value_of(m, "cw", {{"pid", "other"}, {"owner", "process"}}) +
                  value_of(m, "cw", {{"pid", "other"}, {"owner", "accept_queue"}}) + 4,
              10);
}

TEST(PrometheusModel, GaugeSeriesOfAProcessThatHoldsNothingDisappear)
{
    Model m = capped(500);
    m.begin_interval();
    m.set_gauge("cw", proc(1), 3);
    m.set_gauge("cw", proc(2), 1);
    EXPECT_EQ(m.series_count("cw"), 2U);
    m.begin_interval();
    m.set_gauge("cw", proc(1), 2);
    EXPECT_EQ(m.series_count("cw"), 1U);
    EXPECT_EQ(m.render().find("pid=\"2\""), std::string::npos);
    // HELP and TYPE stay when a metric has no series.
    m.begin_interval();
    EXPECT_NE(m.render().find("# TYPE cw gauge"), std::string::npos);
}

TEST(PrometheusModel, CountersNeverGoDown)
{
    Model m = capped(500);
    m.add_counter("leaks_total", {{"pid", "1"}}, 2);
    m.add_counter("leaks_total", {{"pid", "1"}}, -5); // ignored
    m.add_counter("leaks_total", {{"pid", "1"}}, std::numeric_limits<double>::quiet_NaN());
    EXPECT_EQ(value_of(m, "leaks_total", {{"pid", "1"}}), 2);
    m.raise_counter("leaks_total", {{"pid", "1"}}, 1); // lower total: no change
    EXPECT_EQ(value_of(m, "leaks_total", {{"pid", "1"}}), 2);
    m.raise_counter("leaks_total", {{"pid", "1"}}, 7);
    EXPECT_EQ(value_of(m, "leaks_total", {{"pid", "1"}}), 7);
    m.begin_interval(); // counters survive the interval
    EXPECT_EQ(value_of(m, "leaks_total", {{"pid", "1"}}), 7);
    EXPECT_THROW(m.add_counter("cw", {}, 1), std::invalid_argument);
    EXPECT_THROW(m.set_gauge("leaks_total", {}, 1), std::invalid_argument);
    EXPECT_THROW(m.set_gauge("undeclared", {}, 1), std::invalid_argument);
}

TEST(PrometheusModel, CounterFoldIsStickySoNoExposedSeriesEverGoesDown)
{
    Model m = capped(4);
    std::map<Labels, double> last;
    auto check_monotonic = [&] {
        for (const auto& f : m.families()) {
            if (f.name != "leaks_total" && f.name != "errs_total")
                continue;
            EXPECT_LE(f.samples.size(), 4U);
            for (const auto& s : f.samples) {
                Labels key = s.labels;
                key.insert(key.begin(), {"__name__", f.name});
                auto it = last.find(key);
                if (it != last.end()) {
                    EXPECT_GE(s.value, it->second) << f.name << " went down";
                }
                last[key] = s.value;
            }
        }
    };
    // 30 processes arrive over time, some grow; some exit and come back.
    for (int round = 0; round < 30; ++round) {
        int pid = round + 1;
        m.add_counter("leaks_total", {{"pid", std::to_string(pid)}}, 1);
        m.add_counter("errs_total",
                      {{"pid", std::to_string(pid)}, {"errno", round % 3 ? "EMFILE" : "ENFILE"}}, 2);
        m.add_counter("leaks_total", {{"pid", "1"}}, 3);
        if (round % 5 == 4)
            m.retire_counters("pid", std::to_string(pid - 2));
        check_monotonic();
    }
    EXPECT_EQ(m.series_count("leaks_total"), 4U);
    EXPECT_GT(m.folded_count("leaks_total"), 0U);
    // pid 1 grew first and most: still on its own.
    EXPECT_EQ(value_of(m, "leaks_total", {{"pid", "1"}}), 1 + 30 * 3);
    // One "other" per errno, inside the cap.
    EXPECT_GT(value_of(m, "errs_total", {{"pid", "other"}, {"errno", "EMFILE"}}), 0);
    EXPECT_GT(value_of(m, "errs_total", {{"pid", "other"}, {"errno", "ENFILE"}}), 0);
}

TEST(PrometheusModel, RetiringFreesTheSlot)
{
    Model m = capped(3);
    m.add_counter("leaks_total", {{"pid", "1"}}, 1);
    m.add_counter("leaks_total", {{"pid", "2"}}, 1);
    m.retire_counters("pid", "1");
    EXPECT_EQ(value_of(m, "leaks_total", {{"pid", "1"}}), -1);
    m.add_counter("leaks_total", {{"pid", "3"}}, 1);
    m.add_counter("leaks_total", {{"pid", "4"}}, 1);
    EXPECT_EQ(value_of(m, "leaks_total", {{"pid", "3"}}), 1);
    EXPECT_EQ(value_of(m, "leaks_total", {{"pid", "4"}}), 1);
    EXPECT_EQ(m.folded_count("leaks_total"), 0U);
}

TEST(PrometheusModel, DeclareRejectsBadNames)
{
    Model m(10);
    EXPECT_THROW(m.declare({"bad-name", "", MetricType::Gauge, "pid", {}, Fold::Sum}), std::invalid_argument);
    m.declare({"ok", "", MetricType::Gauge, "pid", {}, Fold::Sum});
    EXPECT_THROW(m.declare({"ok", "", MetricType::Gauge, "pid", {}, Fold::Sum}), std::invalid_argument);
    EXPECT_THROW(
        m.declare({"closewait_trace_metrics_folded_series", "", MetricType::Gauge, "pid", {}, Fold::Sum}),
        std::invalid_argument);
    EXPECT_THROW(m.declare({"x", "", MetricType::Gauge, "pid", {"pid"}, Fold::Sum}), std::invalid_argument);
}

} // namespace
} // namespace cwt::prom
