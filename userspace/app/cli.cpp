#include "app/cli.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>

#include "app/option_rules.hpp"

#ifndef CWT_VERSION
#define CWT_VERSION "dev"
#endif

namespace cwt
{

int parse_options(int argc, char** argv, Options& o)
{
    CLI::App app{"closewait-trace: find leaked and unaccepted CLOSE_WAIT sockets, and accept() failures, "
                 "as they happen"};
    o.version = CWT_VERSION;
    app.footer("A live run ends with its summary and exit 0 on SIGINT, SIGTERM or SIGHUP, at the end of "
               "--duration, or when the -p process exits; a closed output pipe ends it quietly (141), any "
               "other write error with exit 2.");
    app.set_version_flag("--version", std::string("closewait-trace ") + CWT_VERSION);
    app.add_option("-p,--pid", o.pid, "Only sockets owned by this process, or queued on its listeners")
        ->check(CLI::Range(1U, 4194304U));
    app.add_option("--port", o.port, "Only sockets with this local or remote port")
        ->check(CLI::Range(1, 65535));
    app.add_option("-t,--threshold", o.threshold_s,
                   "Seconds in CLOSE_WAIT before a socket is reported as a leak")
        ->check(finite_number())
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    app.add_option("--stall", o.stall_s,
                   "Seconds a listener may hold queued connections without accept() before it is reported")
        ->check(finite_number())
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    app.add_option("-d,--duration", o.duration_s, "Stop after this many seconds (default: until Ctrl-C)")
        ->check(finite_number())
        ->check(CLI::Range(0.1, 31536000.0));
    app.add_flag("-j,--json", o.json, "JSON lines instead of columns");
    app.add_flag("-v,--verbose", o.verbose, "Print every CLOSE_WAIT and every close, not only findings");
    app.add_flag("-s,--snapshot", o.snapshot, "One-shot audit of the sockets that exist now, then exit");
    app.add_option("--probes", o.probes, "Probe tier: auto|fentry|kprobe|tracepoint")
        ->check(CLI::IsMember({"auto", "fentry", "kprobe", "tracepoint"}))
        ->capture_default_str();
    app.add_option("--inventory", o.inventory,
                   "How --snapshot reads sockets: BPF iterators, or sock_diag and /proc "
                   "(auto: iterators where the kernel has them)")
        ->check(CLI::IsMember({"auto", "iterators", "sock_diag"}))
        ->capture_default_str();
    app.add_flag("--features", o.features, "Print the probe tier chosen and why, then exit");
    app.add_option("--max-sockets", o.max_sockets,
                   "Capacity of the kernel's per-socket maps (CLOSE_WAITs, accepted sockets)")
        ->check(CLI::Range(1024U, 4194304U))
        ->capture_default_str();
    app.add_option("--prometheus-textfile", o.prometheus_textfile,
                   "Write Prometheus metrics to this file every --metrics-interval and at exit (atomically; "
                   "for node_exporter's textfile collector)");
    app.add_option("--metrics-interval", o.metrics_interval_s, "Seconds between writes of the metrics file")
        ->check(finite_number())
        ->check(CLI::Range(0.5, 3600.0))
        ->capture_default_str();
    app.add_option("--metrics-max-series", o.metrics_max_series,
                   "At most this many series per metric; the rest fold into pid=\"other\"")
        ->check(CLI::Range(10U, 1000000U))
        ->capture_default_str();
    app.add_flag("-q,--quiet", o.quiet,
                 "No live output; with --prometheus-textfile the metrics file is the only output");
    app.add_flag("--debug", o.debug, "Print libbpf's log (verifier output) to stderr");
    app.add_flag("--leak-site", o.leak_site,
                 "Report where each leak read EOF (or was accepted): function, file:line");
    app.add_option("--fold", o.fold,
                   "More new leaks than this per (process, listener) per interval print as one line")
        ->check(CLI::Range(1U, 1000000U))
        ->capture_default_str();
    app.add_option("--record", o.record, "Write the findings and a per-second time series to FILE (JSON lines)");
    app.add_flag("--top", o.top, "Full-screen live view ranking processes, listeners, containers (q quits)");
    CLI::App* report = app.add_subcommand("report", "Render a --record FILE as one self-contained HTML page");
    report->add_option("FILE", o.report_in, "The --record file")->required();
    report->add_option("-o,--output", o.report_out, "The HTML page to write")->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "closewait-trace: error: %s; see --help\n", e.what());
        return 2;
    }
    if (o.top && !isatty(STDOUT_FILENO)) {
        std::fprintf(stderr, "closewait-trace: error: --top needs a terminal on stdout; run it in a terminal, "
                             "or use --json or --record FILE\n");
        return 2;
    }
    if (o.top && o.json) {
        std::fprintf(stderr, "closewait-trace: error: --top and --json both want stdout; drop one\n");
        return 2;
    }
    if (int rc = check_option_modes(app, o.snapshot, o.features); rc >= 0)
        return rc;
    if (o.quiet && o.prometheus_textfile.empty()) {
        std::fprintf(stderr,
                     "closewait-trace: error: -q leaves no output at all; add --prometheus-textfile FILE\n");
        return 2;
    }
    return resolve_target_pid(o.pid);
}

} // namespace cwt
