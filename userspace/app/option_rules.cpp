#include "app/option_rules.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/log.hpp"
#include "common/text.hpp"
#include "kernel/procfs.hpp"

namespace cwt
{

namespace
{

// kReport: the `report FILE -o HTML` subcommand; no option below applies to it.
constexpr unsigned kLive = 1, kSnapshot = 2, kFeatures = 4, kReport = 8;

struct ModeRule {
    const char* name; // long name, as CLI11 knows it
    unsigned modes;
};

// Options not listed apply everywhere (--debug, --help, --version).
constexpr ModeRule kRules[] = {
    {"--pid", kLive | kSnapshot},
    {"--port", kLive | kSnapshot},
    {"--localport", kLive | kSnapshot},
    {"--remoteport", kLive | kSnapshot},
    {"--ipv4", kLive | kSnapshot},
    {"--ipv6", kLive | kSnapshot},
    {"--time", kLive | kSnapshot},
    {"--timestamp", kLive | kSnapshot},
    {"--wide", kLive | kSnapshot},
    {"--threshold", kLive},
    {"--stall", kLive},
    {"--duration", kLive},
    {"--json", kLive | kSnapshot},
    {"--verbose", kLive},
    {"--probes", kLive | kFeatures},
    {"--inventory", kSnapshot},
    {"--max-sockets", kLive},
    {"--prometheus-textfile", kLive},
    {"--metrics-interval", kLive},
    {"--metrics-max-series", kLive},
    {"--quiet", kLive},
    {"--fold", kLive},
    {"--leak-site", kLive},
    {"--top", kLive},
    {"--record", kLive},
};

const char* mode_flag(unsigned mode)
{
    return mode == kSnapshot   ? "--snapshot"
           : mode == kFeatures ? "--features"
           : mode == kReport   ? "report"
                               : "";
}

std::string modes_text(unsigned modes)
{
    std::string s;
    for (unsigned m : {kLive, kSnapshot, kFeatures}) {
        if (!(modes & m))
            continue;
        if (!s.empty())
            s += " and ";
        s += m == kLive ? "live mode" : mode_flag(m);
    }
    return s;
}

} // namespace

CLI::Validator finite_number()
{
    return CLI::Validator(
        [](std::string& in) -> std::string {
            errno = 0;
            char* end = nullptr;
            double v = std::strtod(in.c_str(), &end);
            if (end == in.c_str())
                return ""; // not a number at all: the conversion says so
            if (std::isnan(v))
                return "NaN is not a number of seconds or a count";
            if (std::isinf(v))
                return "value " + in + " is infinite or too large";
            return "";
        },
        "FINITE", "finite");
}

int check_option_modes(const CLI::App& app, bool snapshot, bool features, bool report)
{
    if (int(snapshot) + int(features) + int(report) > 1) {
        log_error("--snapshot, --features and report are separate commands; use one");
        return 2;
    }
    unsigned mode = report ? kReport : snapshot ? kSnapshot : features ? kFeatures : kLive;
    for (const ModeRule& r : kRules) {
        const CLI::Option* opt = app.get_option_no_throw(r.name);
        if (!opt || opt->count() == 0 || (r.modes & mode))
            continue;
        std::string fix;
        if (mode == kReport)
            fix = "run it without report (report renders a --record FILE: report FILE -o HTML)";
        else if (mode == kLive)
            fix = std::string("add ") + mode_flag(r.modes & kSnapshot ? kSnapshot : kFeatures);
        else if (r.modes & kLive)
            fix = std::string("drop ") + mode_flag(mode);
        else
            fix = std::string("use ") + mode_flag(r.modes & kSnapshot ? kSnapshot : kFeatures) +
                  " instead of " + mode_flag(mode);
        log_error(fmt::format("{} applies to {} only; drop it, or {}", r.name, modes_text(r.modes), fix));
        return 2;
    }
    return -1;
}

int resolve_target_pid(std::uint32_t& pid)
{
    if (!pid)
        return -1;
    auto st = proc_status(pid);
    if (!pid_exists(pid) || (st && st->exited())) {
        log_error(fmt::format("no process with pid {}; check the pid (pgrep -a NAME)", pid));
        return 2;
    }
    if (st && st->tgid && *st->tgid != pid) {
        log_info(fmt::format("-p {} is a thread of process {} ({}); watching process {}", pid, *st->tgid,
                             escape_comm(st->name), *st->tgid));
        pid = *st->tgid;
    }
    return -1;
}

} // namespace cwt
