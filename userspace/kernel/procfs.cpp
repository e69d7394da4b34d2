#include "kernel/procfs.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace cwt
{

std::string kernel_release()
{
    utsname u{};
    if (uname(&u) != 0)
        return "unknown";
    return u.release;
}

bool pid_exists(std::uint32_t pid)
{
    if (pid == 0)
        return false;
    return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

std::optional<std::size_t> count_open_fds(std::uint32_t pid)
{
    std::string path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = opendir(path.c_str());
    if (!d)
        return std::nullopt;
    std::size_t n = 0;
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.')
            ++n;
    closedir(d);
    return n;
}

namespace
{

// A small /proc file whole (they are generated on read: no size to trust).
std::optional<std::string> read_proc_file(const std::string& path, std::size_t max = 64 * 1024)
{
    std::FILE* f = std::fopen(path.c_str(), "re");
    if (!f)
        return std::nullopt;
    std::string text;
    char buf[4096];
    std::size_t n;
    while (text.size() < max && (n = std::fread(buf, 1, sizeof(buf), f)) > 0)
        text.append(buf, n);
    bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed)
        return std::nullopt;
    return text;
}

std::string proc_path(std::uint32_t pid, const char* what)
{
    return "/proc/" + std::to_string(pid) + "/" + what;
}

} // namespace

std::optional<ProcStatus> proc_status(std::uint32_t pid)
{
    auto text = read_proc_file(proc_path(pid, "status"));
    if (!text)
        return std::nullopt;
    return parse_proc_status(*text);
}

bool process_exited(std::uint32_t pid)
{
    auto st = proc_status(pid);
    if (!st)
        return !pid_exists(pid);
    return st->exited();
}

std::optional<FdInfoText> fd_info(std::uint32_t pid, int fd)
{
    auto text = read_proc_file(proc_path(pid, "fdinfo/") + std::to_string(fd));
    if (!text)
        return std::nullopt;
    return parse_fdinfo(*text);
}

std::optional<std::string> cgroup_path(std::uint32_t pid)
{
    auto text = read_proc_file(proc_path(pid, "cgroup"));
    if (!text)
        return std::nullopt;
    return parse_cgroup_path(*text);
}

std::optional<NofileLimit> nofile_limit(std::uint32_t pid)
{
    // /proc/PID/limits needs no privilege; prlimit(2) on another user's
    // process needs CAP_SYS_RESOURCE, which the live loop no longer holds.
    if (auto text = read_proc_file(proc_path(pid, "limits")))
        if (auto row = parse_limit(*text, "Max open files"))
            return NofileLimit{row->soft, row->hard};
    rlimit r{};
    if (prlimit(static_cast<pid_t>(pid), RLIMIT_NOFILE, nullptr, &r) != 0)
        return std::nullopt;
    return NofileLimit{static_cast<std::uint64_t>(r.rlim_cur), static_cast<std::uint64_t>(r.rlim_max)};
}

std::optional<std::uint64_t> listen_overflows()
{
    std::FILE* f = std::fopen("/proc/net/netstat", "r");
    if (!f)
        return std::nullopt;
    char names[8192], values[8192];
    std::optional<std::uint64_t> result;
    while (std::fgets(names, sizeof(names), f) && std::fgets(values, sizeof(values), f)) {
        if (std::strncmp(names, "TcpExt:", 7) != 0)
            continue;
        std::istringstream n(names), v(values);
        std::string name, value;
        while (n >> name && v >> value)
            if (name == "ListenOverflows")
                result = std::strtoull(value.c_str(), nullptr, 10);
    }
    std::fclose(f);
    return result;
}

std::uint32_t own_netns()
{
    struct stat st {
    };
    if (stat("/proc/self/ns/net", &st) != 0)
        return 0;
    return static_cast<std::uint32_t>(st.st_ino);
}

std::optional<std::uint64_t> tcp_sockets_in_use()
{
    std::ifstream in("/proc/net/sockstat");
    std::string word;
    while (in >> word) {
        if (word != "TCP:")
            continue;
        std::string key;
        std::uint64_t value = 0;
        if (in >> key >> value && key == "inuse")
            return value;
        return std::nullopt;
    }
    return std::nullopt;
}

namespace
{

std::optional<unsigned> hz_from_line(const std::string& line)
{
    static const std::string kKey = "CONFIG_HZ=";
    if (line.compare(0, kKey.size(), kKey) != 0)
        return std::nullopt;
    unsigned long hz = std::strtoul(line.c_str() + kKey.size(), nullptr, 10);
    if (hz < 24 || hz > 10000) // what Kconfig allows, with room
        return std::nullopt;
    return static_cast<unsigned>(hz);
}

} // namespace

std::optional<unsigned> kernel_hz()
{
    // The running kernel's own config first; /boot may hold another build's.
    if (gzFile gz = gzopen("/proc/config.gz", "rb")) {
        std::optional<unsigned> found;
        char buf[512];
        while (!found && gzgets(gz, buf, sizeof(buf)))
            found = hz_from_line(buf);
        gzclose(gz);
        if (found)
            return found;
    }
    std::ifstream plain("/boot/config-" + kernel_release());
    for (std::string line; std::getline(plain, line);)
        if (auto hz = hz_from_line(line))
            return hz;
    return std::nullopt;
}

} // namespace cwt
