#include "harness.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef CWT_BINARY
#error "CWT_BINARY (path of closewait-trace) must be defined"
#endif
#ifndef CWT_SCENARIO_DIR
#error "CWT_SCENARIO_DIR must be defined"
#endif
#ifndef CWT_SOURCE_DIR
#error "CWT_SOURCE_DIR must be defined"
#endif

namespace itest
{

namespace
{

void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

std::string base_name(const std::string& p)
{
    auto s = p.rfind('/');
    return s == std::string::npos ? p : p.substr(s + 1);
}

std::string run_capture(const std::string& cmd)
{
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (!f)
        return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        out.append(buf, n);
    pclose(f);
    return out;
}

} // namespace

double seconds_since(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

bool poll_until(const std::function<bool()>& cond, double timeout_s)
{
    auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    for (;;) {
        if (cond())
            return true;
        if (Clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

// ---- Proc -------------------------------------------------------------------

Proc::Proc(std::vector<std::string> argv) : name_(base_name(argv.at(0)))
{
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        std::vector<char*> av;
        for (auto& a : argv)
            av.push_back(a.data());
        av.push_back(nullptr);
        execv(av[0], av.data());
        std::fprintf(stderr, "exec %s: %s\n", av[0], std::strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_fd_ = err[0];
    set_nonblock(out_);
    set_nonblock(err_fd_);
}

Proc::~Proc()
{
    if (!exited_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        reap(true);
    }
    for (int fd : {in_, out_, err_fd_})
        if (fd >= 0)
            close(fd);
}

void Proc::reap(bool block)
{
    if (exited_ || pid_ <= 0)
        return;
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid_, &st, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) {
        exited_ = true;
        status_ = st;
    }
}

void Proc::pump(int timeout_ms)
{
    pollfd p[2];
    int n = 0;
    if (out_ >= 0)
        p[n++] = {out_, POLLIN, 0};
    if (err_fd_ >= 0)
        p[n++] = {err_fd_, POLLIN, 0};
    if (n == 0) {
        if (!exited_)
            std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
        reap(false);
        return;
    }
    int r = poll(p, static_cast<nfds_t>(n), timeout_ms);
    if (r > 0) {
        char buf[65536];
        for (int i = 0; i < n; ++i) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            bool is_out = p[i].fd == out_;
            for (;;) {
                ssize_t got = read(p[i].fd, buf, sizeof(buf));
                if (got > 0) {
                    if (is_out) {
                        out_partial_.append(buf, static_cast<size_t>(got));
                        size_t pos;
                        while ((pos = out_partial_.find('\n')) != std::string::npos) {
                            lines_.push_back({out_partial_.substr(0, pos), Clock::now()});
                            out_partial_.erase(0, pos + 1);
                        }
                    } else {
                        err_.append(buf, static_cast<size_t>(got));
                    }
                    continue;
                }
                if (got < 0 && errno == EINTR)
                    continue;
                if (got == 0) { // EOF
                    close(p[i].fd);
                    if (is_out) {
                        if (!out_partial_.empty())
                            lines_.push_back({out_partial_, Clock::now()});
                        out_partial_.clear();
                        out_ = -1;
                    } else {
                        err_fd_ = -1;
                    }
                }
                break;
            }
        }
    }
    reap(false);
}

bool Proc::wait_until(const std::function<bool()>& cond, double timeout_s)
{
    auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    for (;;) {
        if (cond())
            return true;
        auto now = Clock::now();
        if (now >= deadline)
            return false;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
        pump(static_cast<int>(std::min<long long>(left + 1, 50)));
    }
}

std::optional<std::string> Proc::wait_line(const std::string& prefix, double timeout_s)
{
    std::optional<std::string> found;
    wait_until(
        [&] {
            for (const auto& l : lines_)
                if (l.text.rfind(prefix, 0) == 0) {
                    found = l.text;
                    return true;
                }
            return false;
        },
        timeout_s);
    return found;
}

std::size_t Proc::count_lines(const std::string& prefix) const
{
    std::size_t n = 0;
    for (const auto& l : lines_)
        if (l.text.rfind(prefix, 0) == 0)
            ++n;
    return n;
}

std::vector<std::string> Proc::lines_with(const std::string& prefix) const
{
    std::vector<std::string> out;
    for (const auto& l : lines_)
        if (l.text.rfind(prefix, 0) == 0)
            out.push_back(l.text);
    return out;
}

std::string Proc::all_output() const
{
    std::string s = name_ + "[" + std::to_string(pid_) + "] stdout:\n";
    for (const auto& l : lines_)
        s += "  " + l.text + "\n";
    if (!out_partial_.empty())
        s += "  " + out_partial_ + " (no newline)\n";
    s += "stderr:\n" + err_;
    return s;
}

void Proc::send(const std::string& s)
{
    if (in_ < 0)
        return;
    const char* p = s.data();
    size_t n = s.size();
    while (n) {
        ssize_t w = write(in_, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= static_cast<size_t>(w);
    }
}

void Proc::close_stdin()
{
    if (in_ >= 0)
        close(in_);
    in_ = -1;
}

void Proc::signal(int sig)
{
    if (!exited_ && pid_ > 0)
        ::kill(pid_, sig);
}

bool Proc::wait_exit(double timeout_s)
{
    return wait_until([&] { return exited_ && out_ < 0 && err_fd_ < 0; }, timeout_s);
}

int Proc::exit_code() const
{
    if (!exited_ || !WIFEXITED(status_))
        return -1;
    return WEXITSTATUS(status_);
}

int Proc::term_signal() const
{
    if (!exited_ || !WIFSIGNALED(status_))
        return 0;
    return WTERMSIG(status_);
}

// ---- helpers ------------------------------------------------------------------

std::map<std::string, std::string> kv(const std::string& line)
{
    std::map<std::string, std::string> m;
    std::istringstream in(line);
    std::string tok;
    bool first = true;
    while (in >> tok) {
        if (first) {
            m["_tag"] = tok;
            first = false;
            continue;
        }
        auto eq = tok.find('=');
        if (eq != std::string::npos)
            m[tok.substr(0, eq)] = tok.substr(eq + 1);
    }
    return m;
}

namespace
{
// A compiled-in path, unless the environment names another: the kernel matrix
// runs these binaries from /payload inside a guest, not from the build tree.
std::string path_from_env(const char* var, const char* built_in)
{
    const char* v = std::getenv(var);
    return v && *v ? v : built_in;
}
} // namespace

std::string tool_path()
{
    return path_from_env("CWT_TEST_TOOL", CWT_BINARY);
}

std::string source_dir()
{
    return path_from_env("CWT_TEST_SOURCE_DIR", CWT_SOURCE_DIR);
}

std::string scenario(const std::string& name)
{
    return path_from_env("CWT_TEST_SCENARIO_DIR", CWT_SCENARIO_DIR) + "/" + name;
}

// ---- Tool -----------------------------------------------------------------------

Tool::Tool(std::vector<std::string> args)
{
    // The kernel matrix (tests/vm/matrix.sh) runs the same tests once per
    // probe tier; a test that picks its own tier keeps it.
    const char* tier = std::getenv("CWT_TEST_PROBES");
    // --snapshot loads no probes (and refuses --probes): the tier applies to live runs.
    const bool snapshot = std::find(args.begin(), args.end(), "--snapshot") != args.end() ||
                          std::find(args.begin(), args.end(), "-s") != args.end();
    if (tier && *tier && !snapshot && std::find(args.begin(), args.end(), "--probes") == args.end()) {
        args.insert(args.begin(), tier);
        args.insert(args.begin(), "--probes");
    }
    args.insert(args.begin(), tool_path());
    proc_ = std::make_unique<Proc>(std::move(args));
}

Tool::~Tool()
{
    if (!proc_)
        return;
    std::vector<std::string> lines;
    for (const auto& l : proc_->lines())
        if (!l.text.empty() && l.text[0] == '{')
            lines.push_back(l.text);
    if (lines.empty())
        return;
    std::string errors = schema_errors(lines);
    if (!errors.empty())
        ADD_FAILURE()
            << "closewait-trace printed JSON that does not match docs/schema/closewait-trace.schema.json:\n"
            << errors;
}

std::string schema_errors(const std::vector<std::string>& json_lines)
{
    static bool skipped = false;
    if (skipped)
        return "";
    char path[] = "/tmp/cwt-schema-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return std::string("schema_errors: mkstemp: ") + std::strerror(errno);
    std::string all;
    for (const auto& l : json_lines)
        all += l + "\n";
    bool written = write(fd, all.data(), all.size()) == static_cast<ssize_t>(all.size());
    close(fd);
    std::string out, err;
    int rc = -1;
    if (written) {
        std::string cmd = "python3 '" + source_dir() + "/tests/integration/validate_json.py' '" +
                          source_dir() + "/docs/schema/closewait-trace.schema.json' '" + path + "' 2>&1";
        FILE* f = popen(cmd.c_str(), "r");
        if (f) {
            char buf[4096];
            size_t n;
            while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                out.append(buf, n);
            int st = pclose(f);
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
    }
    unlink(path);
    if (rc == 0)
        return "";
    if (rc == 3 || rc == 127) { // no python3-jsonschema, or no python3 (the kernel matrix's guest)
        skipped = true;
        std::fprintf(stderr, "%s\n", rc == 3 ? out.c_str() : "SKIPPED: schema validation needs python3");
        return "";
    }
    return out.empty() ? "validator failed (exit " + std::to_string(rc) + ")" : out;
}

std::vector<std::pair<json, Clock::time_point>> Tool::timed_events()
{
    std::vector<std::pair<json, Clock::time_point>> out;
    for (const auto& l : proc_->lines()) {
        json j = json::parse(l.text, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            j = json{{"type", "<unparsable>"}, {"raw", l.text}};
        out.emplace_back(std::move(j), l.at);
    }
    return out;
}

std::vector<json> Tool::events()
{
    std::vector<json> out;
    for (auto& [j, at] : timed_events())
        out.push_back(std::move(j));
    return out;
}

std::vector<json> Tool::events_of(const std::string& type)
{
    std::vector<json> out;
    for (auto& j : events())
        if (j.value("type", "") == type)
            out.push_back(std::move(j));
    return out;
}

std::size_t Tool::count(const std::string& type, const std::function<bool(const json&)>& pred)
{
    std::size_t n = 0;
    for (const auto& j : events())
        if (j.value("type", "") == type && (!pred || pred(j)))
            ++n;
    return n;
}

bool Tool::wait_count(const std::string& type, std::size_t n, double timeout_s,
                      const std::function<bool(const json&)>& pred)
{
    return proc_->wait_until([&] { return count(type, pred) >= n || proc_->exited(); }, timeout_s) &&
           count(type, pred) >= n;
}

json Tool::wait_start(double timeout_s)
{
    json start;
    proc_->wait_until(
        [&] {
            for (const auto& j : events())
                if (j.value("type", "") == "start") {
                    start = j;
                    return true;
                }
            return proc_->exited();
        },
        timeout_s);
    return start;
}

int Tool::interrupt(double timeout_s)
{
    proc_->signal(SIGINT);
    if (!proc_->wait_exit(timeout_s))
        return -1;
    return proc_->exit_code();
}

std::optional<json> Tool::summary()
{
    std::optional<json> s;
    for (auto& j : events())
        if (j.value("type", "") == "summary")
            s = std::move(j);
    return s;
}

// ---- ss ---------------------------------------------------------------------------

std::vector<SsSock> ss_port(int port, const std::string& runner)
{
    std::string p = std::to_string(port);
    std::string out =
        run_capture(runner + "ss -tanpeH '( sport = :" + p + " or dport = :" + p + " )' 2>/dev/null");
    static const std::regex user_re(R"re(\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=(\d+)\))re");
    static const std::regex ino_re(R"(\bino:(\d+))");
    std::vector<SsSock> socks;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        SsSock s;
        s.raw = line;
        if (!(ls >> s.state >> s.recv_q >> s.send_q >> s.local >> s.peer))
            continue;
        auto upos = line.find("users:((");
        if (upos != std::string::npos) {
            auto end = line.find("))", upos);
            std::string users =
                line.substr(upos, end == std::string::npos ? std::string::npos : end - upos + 2);
            for (std::sregex_iterator it(users.begin(), users.end(), user_re), e; it != e; ++it)
                s.users.push_back({(*it)[1].str(), std::stoi((*it)[2].str()), std::stoi((*it)[3].str())});
        }
        std::smatch m;
        if (std::regex_search(line, m, ino_re))
            s.ino = std::stoull(m[1].str());
        socks.push_back(std::move(s));
    }
    return socks;
}

std::vector<SsSock> ss_state(const std::vector<SsSock>& all, const std::string& state)
{
    std::vector<SsSock> out;
    for (const auto& s : all)
        if (s.state == state)
            out.push_back(s);
    return out;
}

namespace
{

// Binds a loopback socket to `port` (0: any); returns the bound port or -1.
int try_bind(bool v6, int port)
{
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(static_cast<uint16_t>(port));
        len = sizeof(*a);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons(static_cast<uint16_t>(port));
        len = sizeof(*a);
    }
    int got = -1;
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
        got = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                 : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    close(fd);
    return got;
}

} // namespace

int free_port(bool v6)
{
    int low = 32768;
    if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
        int hi;
        if (std::fscanf(f, "%d %d", &low, &hi) != 2)
            low = 32768;
        std::fclose(f);
    }
    // Below the ephemeral range, and not in any ss output on either family.
    static unsigned seed = static_cast<unsigned>(getpid()) * 2654435761u;
    for (int attempt = 0; low > 11000 && attempt < 200; ++attempt) {
        seed = seed * 1103515245u + 12345u;
        int port = 10000 + static_cast<int>((seed >> 8) % static_cast<unsigned>(low - 1 - 10000));
        if (try_bind(v6, port) == port && try_bind(!v6, port) == port && ss_port(port).empty())
            return port;
    }
    int port = try_bind(v6, 0);
    if (port <= 0)
        throw std::runtime_error("free_port: no free loopback port");
    return port;
}

pid_t dead_pid()
{
    for (int attempt = 0; attempt < 10; ++attempt) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        int st;
        waitpid(p, &st, 0);
        if (::kill(p, 0) != 0 && errno == ESRCH)
            return p;
    }
    throw std::runtime_error("dead_pid: could not find an unused pid");
}

BpfObjects closewait_bpf_objects()
{
    // Programs are recognised by name, or by using one of the tool's maps
    // (its own map names, or libbpf's "closewai.rodata"/".bss"), so renamed or
    // new programs are caught too.
    static const std::set<std::string> prog_names = {
        "set_state_btf",     "set_state_tp", "accept4_enter", "accept4_exit",     "accept_enter",
        "accept_exit",       "accept_fexit", "accept_kprobe", "accept_kretprobe", "fd_install_fentry",
        "fd_install_kprobe", "iter_tcp",     "iter_task_file"};
    auto is_tool_map = [](const std::string& n) {
        return n == "close_waits" || n == "accept_errors" || n == "accept_args" ||
               n.rfind("closewai.", 0) == 0;
    };
    BpfObjects o;
    json maps = json::parse(run_capture("bpftool -j map list 2>/dev/null"), nullptr, false);
    if (maps.is_array())
        for (const auto& m : maps)
            if (m.is_object() && is_tool_map(m.value("name", ""))) {
                o.maps.insert(m.value("id", 0ULL));
                o.describe += "map " + std::to_string(m.value("id", 0ULL)) + " " + m.value("name", "") + "\n";
            }
    json progs = json::parse(run_capture("bpftool -j prog list 2>/dev/null"), nullptr, false);
    if (progs.is_array())
        for (const auto& p : progs) {
            if (!p.is_object())
                continue;
            bool ours = prog_names.count(p.value("name", "")) > 0;
            if (p.contains("map_ids") && p.at("map_ids").is_array())
                for (const auto& id : p.at("map_ids"))
                    ours |= id.is_number() && o.maps.count(id.get<std::uint64_t>()) > 0;
            if (ours) {
                o.progs.insert(p.value("id", 0ULL));
                o.describe +=
                    "prog " + std::to_string(p.value("id", 0ULL)) + " " + p.value("name", "") + "\n";
            }
        }
    json links = json::parse(run_capture("bpftool -j link list 2>/dev/null"), nullptr, false);
    if (links.is_array())
        for (const auto& l : links)
            if (l.is_object() && o.progs.count(l.value("prog_id", 0ULL))) {
                o.links.insert(l.value("id", 0ULL));
                o.describe += "link " + std::to_string(l.value("id", 0ULL)) + " -> prog " +
                              std::to_string(l.value("prog_id", 0ULL)) + "\n";
            }
    return o;
}

HeldBpf bpf_objects_held_by_processes()
{
    HeldBpf h;
    DIR* proc = opendir("/proc");
    if (!proc)
        return h;
    while (dirent* pe = readdir(proc)) {
        if (pe->d_name[0] < '0' || pe->d_name[0] > '9')
            continue;
        std::string pid = pe->d_name;
        std::string fd_dir = "/proc/" + pid + "/fd";
        DIR* fds = opendir(fd_dir.c_str());
        if (!fds)
            continue;
        while (dirent* fe = readdir(fds)) {
            if (fe->d_name[0] == '.')
                continue;
            char target[64] = {};
            std::string fd_path = fd_dir + "/" + fe->d_name;
            if (readlink(fd_path.c_str(), target, sizeof(target) - 1) <= 0)
                continue;
            if (std::strncmp(target, "anon_inode:bpf", 14) != 0)
                continue;
            std::ifstream info("/proc/" + pid + "/fdinfo/" + fe->d_name);
            std::string key;
            std::uint64_t id;
            std::string line;
            while (std::getline(info, line)) {
                std::istringstream ls(line);
                if (!(ls >> key >> id))
                    continue;
                if (key == "prog_id:" || key == "map_id:" || key == "link_id:") {
                    h.ids.insert(id);
                    h.holder[id] = "pid " + pid;
                }
            }
        }
        closedir(fds);
    }
    closedir(proc);
    // Programs of held links, maps of held programs.
    json links = json::parse(run_capture("bpftool -j link list 2>/dev/null"), nullptr, false);
    if (links.is_array())
        for (const auto& l : links)
            if (l.is_object() && h.ids.count(l.value("id", 0ULL))) {
                h.ids.insert(l.value("prog_id", 0ULL));
                h.holder[l.value("prog_id", 0ULL)] = "a held link";
            }
    json progs = json::parse(run_capture("bpftool -j prog list 2>/dev/null"), nullptr, false);
    if (progs.is_array())
        for (const auto& p : progs)
            if (p.is_object() && h.ids.count(p.value("id", 0ULL)) && p.contains("map_ids"))
                for (const auto& m : p.at("map_ids"))
                    if (m.is_number()) {
                        h.ids.insert(m.get<std::uint64_t>());
                        h.holder[m.get<std::uint64_t>()] = "a held program";
                    }
    return h;
}

} // namespace itest
