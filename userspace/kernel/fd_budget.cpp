#include "kernel/fd_budget.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace cwt
{

namespace
{

// The iterator links (iter/tcp, iter/task_file), one iterator read at a
// time, the vmlinux and object BTF, the ring buffer's epoll, and room for
// libbpf's feature probes (a map and a program each), /proc and netlink.
constexpr std::size_t kFixedFds = 2 + 1 + 2 + 1 + 6;

std::size_t g_noted_need = 0;

std::string shortage_line(std::size_t needed, std::uint64_t hard, bool system_wide)
{
    if (system_wide)
        return "the system is out of file descriptors (ENFILE) while loading the BPF programs";
    return "closewait-trace needs about " + std::to_string(needed) + " file descriptors; the hard limit is " +
           std::to_string(hard);
}

} // namespace

void raise_fd_limit()
{
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max)
        return;
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r); // best effort: the budget check below names a shortage
}

std::uint64_t fd_hard_limit()
{
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_max == RLIM_INFINITY)
        return UINT64_MAX;
    return static_cast<std::uint64_t>(r.rlim_max);
}

std::size_t fds_open_now()
{
    DIR* d = opendir("/proc/self/fd");
    if (!d)
        return 3;
    std::size_t n = 0;
    while (dirent* e = readdir(d))
        n += e->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0; // not the directory's own fd
}

std::size_t fds_needed(std::size_t maps, std::size_t programs, std::size_t links)
{
    return fds_open_now() + maps + programs + links + kFixedFds;
}

void note_fds_needed(std::size_t n)
{
    g_noted_need = std::max(g_noted_need, n);
}

void throw_fd_shortage(int err)
{
    std::uint64_t hard = fd_hard_limit();
    // Out of fds although the estimate fit (or none was made): name at
    // least a little more than what was reached.
    throw FdShortage(std::max<std::uint64_t>(g_noted_need, hard + 8), hard, err == ENFILE);
}

bool names_fd_shortage(const std::string& message)
{
    return message.find(std::strerror(EMFILE)) != std::string::npos ||
           message.find(std::strerror(ENFILE)) != std::string::npos;
}

FdShortage::FdShortage(std::size_t needed, std::uint64_t hard, bool system_wide)
    : UserError(shortage_line(needed, hard, system_wide),
                system_wide ? "close files or raise fs.file-max (sysctl fs.file-max)"
                            : "raise it: ulimit -Hn / LimitNOFILE="),
      line_(system_wide ? "closewait-trace: error: " + shortage_line(needed, hard, true) + "; " + remedy()
                        : shortage_line(needed, hard, false) + " (" + remedy() + ")")
{
}

} // namespace cwt
