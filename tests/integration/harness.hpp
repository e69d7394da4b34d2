// Test harness for the closewait-trace integration tests: child processes
// with captured output, the tool's JSON stream, `ss -tanpe` as ground truth,
// and BPF program listings from bpftool.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace itest
{

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// A child process with stdin, stdout and stderr on pipes. The destructor
// kills (SIGKILL) and reaps it if it is still running.
class Proc
{
  public:
    struct Line {
        std::string text;
        Clock::time_point at;
    };

    explicit Proc(std::vector<std::string> argv);
    ~Proc();
    Proc(const Proc&) = delete;
    Proc& operator=(const Proc&) = delete;

    pid_t pid() const { return pid_; }
    const std::string& name() const { return name_; }

    // Reads whatever output is available, waiting up to timeout_ms for some.
    void pump(int timeout_ms);
    // Pumps until cond() holds; false on timeout.
    bool wait_until(const std::function<bool()>& cond, double timeout_s);
    // Waits for a stdout line starting with `prefix`; returns it.
    std::optional<std::string> wait_line(const std::string& prefix, double timeout_s);
    std::size_t count_lines(const std::string& prefix) const;
    std::vector<std::string> lines_with(const std::string& prefix) const;

    const std::vector<Line>& lines() const { return lines_; }
    const std::string& err() const { return err_; }
    std::string all_output() const;

    void send(const std::string& s);
    void close_stdin();
    void signal(int sig);

    // Waits for the process to exit and its pipes to drain.
    bool wait_exit(double timeout_s);
    bool exited() const { return exited_; }
    int exit_code() const; // -1 when killed by a signal or still running
    int term_signal() const;

  private:
    void reap(bool block);
    std::string name_;
    pid_t pid_ = -1;
    int in_ = -1, out_ = -1, err_fd_ = -1;
    std::string out_partial_;
    std::vector<Line> lines_;
    std::string err_;
    bool exited_ = false;
    int status_ = 0;
};

// "TAG k=v k=v" lines printed by the scenario programs.
std::map<std::string, std::string> kv(const std::string& line);

// Path of a scenario program built next to the tests.
std::string scenario(const std::string& name);
// closewait-trace and the source tree: the built-in paths, or $CWT_TEST_TOOL
// and $CWT_TEST_SOURCE_DIR (scenarios: $CWT_TEST_SCENARIO_DIR).
std::string tool_path();
std::string source_dir();

// The tool, run with the given arguments, its stdout parsed as JSON lines.
class Tool
{
  public:
    explicit Tool(std::vector<std::string> args);
    // Validates every JSON line the tool printed against the published
    // schema (docs/schema/closewait-trace.schema.json); a mismatch fails the
    // running test.
    ~Tool();
    Tool(const Tool&) = delete;
    Tool& operator=(const Tool&) = delete;
    Proc& proc() { return *proc_; }

    // Waits for the "start" line; returns it (or null JSON on timeout/exit).
    json wait_start(double timeout_s);
    // Every JSON object printed so far (a line that does not parse is kept
    // as {"type":"<unparsable>","raw":line}).
    std::vector<json> events();
    // The same, each with the time its line was read.
    std::vector<std::pair<json, Clock::time_point>> timed_events();
    std::vector<json> events_of(const std::string& type);
    std::size_t count(const std::string& type, const std::function<bool(const json&)>& pred = nullptr);
    bool wait_count(const std::string& type, std::size_t n, double timeout_s,
                    const std::function<bool(const json&)>& pred = nullptr);
    // SIGINT, wait for exit; returns the exit code (-1 if it did not exit).
    int interrupt(double timeout_s);
    std::optional<json> summary();

  private:
    std::unique_ptr<Proc> proc_;
};

// Lines that do not match the published JSON schema, one message each ("" if
// all match, or if the validator, python3-jsonschema, is missing: then a
// SKIPPED note goes to stderr once).
std::string schema_errors(const std::vector<std::string>& json_lines);

// One line of `ss -tanpe`.
struct SsUser {
    std::string comm;
    int pid = 0;
    int fd = -1;
};
struct SsSock {
    std::string state; // as ss prints it: LISTEN, ESTAB, CLOSE-WAIT, ...
    std::uint32_t recv_q = 0;
    std::uint32_t send_q = 0;
    std::string local;
    std::string peer;
    std::vector<SsUser> users;
    std::uint64_t ino = 0;
    std::string raw;
};

// Every TCP socket with local or remote port `port`. `runner` runs ss in
// another network namespace: "ip netns exec NAME " or "nsenter --net=PATH ".
std::vector<SsSock> ss_port(int port, const std::string& runner = "");
std::vector<SsSock> ss_state(const std::vector<SsSock>& all, const std::string& state);

// A loopback TCP port that is free right now, preferably below the ephemeral
// range (so no outgoing connection takes it before the test binds it).
int free_port(bool v6 = false);

// A pid that does not exist (a reaped child's).
pid_t dead_pid();

// Ids of loaded BPF maps, programs and links that belong to closewait-trace.
struct BpfObjects {
    std::set<std::uint64_t> maps;
    std::set<std::uint64_t> progs;
    std::set<std::uint64_t> links;
    std::string describe;
};
BpfObjects closewait_bpf_objects();

// Ids of BPF objects that a live process holds an fd to ("prog_id:",
// "map_id:", "link_id:" in /proc/*/fdinfo), plus the programs of held links
// and the maps of held programs; and who holds them.
struct HeldBpf {
    std::set<std::uint64_t>
        ids; // progs, maps and links together (ids of different kinds may collide; fine here)
    std::map<std::uint64_t, std::string> holder;
};
HeldBpf bpf_objects_held_by_processes();

// Polls cond every 50 ms until it holds or timeout_s passes.
bool poll_until(const std::function<bool()>& cond, double timeout_s);

double seconds_since(Clock::time_point t);

} // namespace itest
