#include "app/cli.hpp"

#include <CLI/CLI.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <string>
#include <vector>

#include "app/option_rules.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "kernel/netns.hpp"
#include "kernel/procfs.hpp"

#ifndef CWT_VERSION
#define CWT_VERSION "dev"
#endif

namespace cwt
{

namespace
{

constexpr const char* kFooter = R"(Examples:
  closewait-trace                        leaks and accept-queue trouble, until Ctrl-C
  closewait-trace -p 1234 -T             only process 1234, with an HH:MM:SS column
  closewait-trace -P 80,443 -6 -w        ports 80 and 443 on IPv6 sockets, no field cut
  closewait-trace -L 8080 -t             local port 8080, seconds since start
  closewait-trace -D 5432 --threshold 5  connections to remote port 5432, leak after 5 s
  closewait-trace --json -d 60           JSON lines for one minute
  closewait-trace --snapshot -P 8080     one-shot audit of what exists now

Exit status:
  0    live mode ended with its summary (SIGINT, SIGTERM or SIGHUP, the end of --duration, or
       the -p process exited); --snapshot found no CLOSE_WAIT
  1    --snapshot found CLOSE_WAIT sockets
  2    error (bad flag, missing privilege, kernel without what is needed, a write error):
       one line on stderr
  141  the output pipe was closed (quietly))";

// "-P 80,81" and "-P 80 -P 81" both give a list of ports.
CLI::Option* add_ports(CLI::App& app, const char* names, std::vector<std::uint16_t>& to, const char* what)
{
    return app.add_option(names, to, what)
        ->delimiter(',')
        ->check(CLI::Range(1, 65535).description(""))
        ->type_name("PORT[,PORT...]");
}

int bad_usage(const std::string& what)
{
    log_error(what);
    return 2;
}

} // namespace

int parse_options(int argc, char** argv, Options& o)
{
    CLI::App app{"closewait-trace: find leaked and unaccepted CLOSE_WAIT sockets, and accept() failures, "
                 "as they happen"};
    o.version = CWT_VERSION;
    app.set_version_flag("-V,--version", std::string("closewait-trace ") + CWT_VERSION);
    app.footer(kFooter);
    app.add_option("-p,--pid", o.pid, "Only sockets owned by this process, or queued on its listeners")
        ->check(CLI::Range(1U, 4194304U));
    add_ports(app, "-P,--port", o.filter.ports, "Only sockets with one of these ports, local or remote");
    add_ports(app, "-L,--localport", o.filter.lports, "Only sockets with one of these local ports");
    add_ports(app, "-D,--remoteport", o.filter.rports,
              "Only sockets with one of these remote ports (listeners have none)");
    bool v4 = false, v6 = false;
    auto* opt4 = app.add_flag("-4,--ipv4", v4, "Only IPv4 sockets");
    app.add_flag("-6,--ipv6", v6, "Only IPv6 sockets (IPv4-mapped ones included)")->excludes(opt4);
    app.add_option("--threshold", o.threshold_s,
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
    app.add_option("--netns", o.netns_arg,
                   "Only this network namespace: an inode, /run/netns/NAME, NAME or /proc/PID/ns/net");
    app.add_option("--container", o.container,
                   "Only sockets of processes in this container (a prefix of its id, as docker ps shows)");
    app.add_option("--cgroup", o.cgroup,
                   "Only sockets of processes in this cgroup or below it (its v2 path, e.g. "
                   "/system.slice/nginx.service)");
    app.add_flag("-j,--json", o.json, "JSON lines instead of columns");
    app.add_flag("-T,--time", o.clock_time, "TIME column as HH:MM:SS (the default unless -t)");
    app.add_flag("-t,--timestamp", o.rel_time, "TIME(s) column: seconds since start (with -T: both)");
    app.add_flag("-w,--wide", o.wide, "Wide columns: no field is cut (lines may be longer than 119)");
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
    app.add_flag("--debug", o.debug, "Debug messages and libbpf's log (verifier output) on stderr");
    app.add_flag("--leak-site", o.leak_site,
                 "Report where each leak read EOF (or was accepted): function, file:line");
    app.add_option("--fold", o.fold,
                   "More new leaks than this per (process, listener) per interval print as one line")
        ->check(CLI::Range(1U, 1000000U))
        ->capture_default_str();
    app.add_option("--record", o.record,
                   "Write the findings and a per-second time series to FILE (JSON lines)");
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
        // "-t 5" meant the threshold before -t became bcc's timestamp flag.
        bool old_t = false;
        for (int i = 1; i + 1 < argc; ++i)
            old_t |= std::string(argv[i]) == "-t" && std::isdigit(static_cast<unsigned char>(argv[i + 1][0]));
        return bad_usage(std::string(e.what()) +
                         (old_t ? "; -t is the timestamp flag now (as in bcc): write --threshold SECONDS"
                                : "; see --help"));
    }
    if (o.debug)
        set_log_level(LogLevel::Debug);
    o.filter.family = v4 ? AF_INET : v6 ? AF_INET6 : 0;
    for (const auto* l : {&o.filter.ports, &o.filter.lports, &o.filter.rports})
        if (l->size() > SocketFilter::kMaxPorts)
            return bad_usage("at most " + std::to_string(SocketFilter::kMaxPorts) +
                             " ports per -P, -L or -D list; use fewer ports, or none and filter the output");
    if (int rc = check_option_modes(app, o.snapshot, o.features, report->parsed()); rc >= 0)
        return rc;
    if (o.top && o.json)
        return bad_usage("--top and --json both want stdout; drop one");
    if (o.top && !isatty(STDOUT_FILENO))
        return bad_usage(
            "--top needs a terminal on stdout; run it in a terminal, or use --json or --record FILE");
    if (!o.netns_arg.empty()) {
        try {
            o.netns = resolve_netns_arg(o.netns_arg);
        } catch (const UserError& e) {
            return bad_usage(std::string(e.what()) + "; " + e.remedy());
        }
    }
    if (!o.container.empty() && o.container.find_first_not_of("0123456789abcdef") != std::string::npos)
        return bad_usage("--container takes a container id prefix (hex digits); see docker ps or crictl ps");
    if (!o.cgroup.empty() && o.cgroup.front() != '/')
        return bad_usage("--cgroup takes an absolute cgroup path (as in /proc/PID/cgroup, e.g. "
                         "/system.slice/nginx.service)");
    if (o.quiet && o.prometheus_textfile.empty())
        return bad_usage("-q leaves no output at all; add --prometheus-textfile FILE");
    return resolve_target_pid(o.pid);
}

} // namespace cwt
