#include "kernel/netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <thread>

#include "common/error.hpp"

namespace cwt
{

NetnsHandle NetnsHandle::open(const std::string& path, int& err)
{
    NetnsHandle h;
    err = 0;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        return h;
    }
    // NS_GET_NSTYPE (4.11+) tells a namespace file from anything else, e.g.
    // a stale /run/netns/NAME left behind as an empty file.
    int type = ioctl(fd, NS_GET_NSTYPE);
    struct stat st {
    };
    if (type != CLONE_NEWNET || fstat(fd, &st) != 0) {
        err = EINVAL;
        ::close(fd);
        return h;
    }
    h.fd_ = fd;
    h.inode_ = static_cast<std::uint32_t>(st.st_ino);
    return h;
}

NetnsHandle::~NetnsHandle()
{
    if (fd_ >= 0)
        ::close(fd_);
}

NetnsHandle::NetnsHandle(NetnsHandle&& o) noexcept : fd_(o.fd_), inode_(o.inode_)
{
    o.fd_ = -1;
}

NetnsHandle& NetnsHandle::operator=(NetnsHandle&& o) noexcept
{
    if (this != &o) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = o.fd_;
        inode_ = o.inode_;
        o.fd_ = -1;
    }
    return *this;
}

namespace
{

bool all_digits(const char* s)
{
    if (!*s)
        return false;
    for (; *s; ++s)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

// "net:[4026531840]" -> 4026531840
std::optional<std::uint32_t> parse_ns_link(const char* s, std::size_t n)
{
    std::string_view v(s, n);
    if (v.size() < 7 || v.compare(0, 5, "net:[") != 0 || v.back() != ']')
        return std::nullopt;
    std::uint64_t ino = 0;
    for (std::size_t i = 5; i + 1 < v.size(); ++i) {
        if (v[i] < '0' || v[i] > '9')
            return std::nullopt;
        ino = ino * 10 + static_cast<std::uint64_t>(v[i] - '0');
        if (ino > 0xffffffffULL)
            return std::nullopt;
    }
    return static_cast<std::uint32_t>(ino);
}

std::optional<std::uint32_t> read_ns_link(const std::string& path, int* err = nullptr)
{
    char buf[64];
    ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
    if (n <= 0) {
        if (err)
            *err = n < 0 ? errno : EINVAL;
        return std::nullopt;
    }
    return parse_ns_link(buf, static_cast<std::size_t>(n));
}

bool is_octal(char c)
{
    return c >= '0' && c <= '7';
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mount(const std::string& s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && is_octal(s[i + 1]) && is_octal(s[i + 2]) &&
            is_octal(s[i + 3])) {
            out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

constexpr std::size_t kMaxPathsPerNetns = 4;

void add_path(NetnsEntry& e, const std::string& p)
{
    if (e.paths.size() < kMaxPathsPerNetns + e.mounts.size() &&
        std::find(e.paths.begin(), e.paths.end(), p) == e.paths.end())
        e.paths.push_back(p);
}

} // namespace

NetnsList enumerate_netns(const NetnsSources& src)
{
    NetnsList out;
    std::map<std::uint32_t, NetnsEntry> by_ino;
    auto entry = [&](std::uint32_t ino) -> NetnsEntry& {
        NetnsEntry& e = by_ino[ino];
        e.inode = ino;
        return e;
    };

    // Bind mounts first: they are the sturdiest way back in.
    auto add_mount = [&](const std::string& path) {
        int err = 0;
        NetnsHandle h = NetnsHandle::open(path, err);
        if (!h.valid()) {
            if (err == ENOENT)
                ++out.vanished;
            return; // EINVAL: a stale file, not a namespace
        }
        NetnsEntry& e = entry(h.inode());
        if (std::find(e.mounts.begin(), e.mounts.end(), path) == e.mounts.end()) {
            e.mounts.push_back(path);
            e.paths.insert(e.paths.begin() + static_cast<long>(e.mounts.size() - 1), path);
        }
    };
    for (const auto& dir : src.mount_dirs) {
        DIR* d = opendir(dir.c_str());
        if (!d)
            continue;
        while (dirent* de = readdir(d))
            if (de->d_name[0] != '.')
                add_mount(dir + "/" + de->d_name);
        closedir(d);
    }
    if (std::ifstream mi{src.mountinfo}) {
        for (std::string line; std::getline(mi, line);) {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
            std::size_t dash = line.find(" - nsfs ");
            if (dash == std::string::npos)
                continue;
            char root[256] = {0}, point[4096] = {0};
            if (std::sscanf(line.c_str(), "%*s %*s %*s %255s %4095s", root, point) != 2)
                continue;
            if (std::strncmp(root, "net:[", 5) != 0)
                continue;
            add_mount(unescape_mount(point));
        }
    }

    // Every task of every process: a thread may have entered another namespace.
    DIR* proc = opendir(src.proc.c_str());
    if (proc) {
        while (dirent* de = readdir(proc)) {
            if (!all_digits(de->d_name))
                continue;
            std::string pdir = src.proc + "/" + de->d_name;
            std::uint32_t pid = static_cast<std::uint32_t>(std::strtoul(de->d_name, nullptr, 10));
            DIR* tasks = opendir((pdir + "/task").c_str());
            if (!tasks) {
                ++out.vanished; // exited meanwhile
                continue;
            }
            std::uint32_t last_ino = 0;
            while (dirent* te = readdir(tasks)) {
                if (!all_digits(te->d_name))
                    continue;
                std::string link = pdir + "/task/" + te->d_name + "/ns/net";
                int err = 0;
                auto ino = read_ns_link(link, &err);
                if (!ino) {
                    // ENOENT/ESRCH: the task exited meanwhile. EACCES/EPERM:
                    // a task we may not inspect (not dumpable, or an LSM).
                    ++(err == ENOENT || err == ESRCH ? out.vanished : out.unreadable);
                    continue;
                }
                if (*ino == last_ino)
                    continue; // the common case: every thread where its process is
                last_ino = *ino;
                NetnsEntry& e = entry(*ino);
                if (!e.pid)
                    e.pid = pid;
                add_path(e, link);
            }
            closedir(tasks);
        }
        closedir(proc);
    }

    std::uint32_t own = read_ns_link("/proc/thread-self/ns/net").value_or(0);
    for (auto& [ino, e] : by_ino)
        out.all.push_back(std::move(e));
    std::stable_partition(out.all.begin(), out.all.end(),
                          [&](const NetnsEntry& e) { return e.inode == own; });
    return out;
}

std::optional<NetnsHandle> open_netns(const NetnsEntry& e)
{
    for (const auto& p : e.paths) {
        int err = 0;
        NetnsHandle h = NetnsHandle::open(p, err);
        if (h.valid() && h.inode() == e.inode)
            return h;
    }
    return std::nullopt;
}

std::uint32_t resolve_netns_arg(const std::string& arg)
{
    const std::string remedy = "give an inode (lsns -t net), /run/netns/NAME or /proc/PID/ns/net";
    if (all_digits(arg.c_str())) {
        unsigned long long v = std::strtoull(arg.c_str(), nullptr, 10);
        if (v == 0 || v > 0xffffffffULL)
            throw UserError("--netns " + arg + " is not a namespace inode", remedy);
        return static_cast<std::uint32_t>(v);
    }
    std::string path = arg.find('/') == std::string::npos ? "/run/netns/" + arg : arg;
    int err = 0;
    NetnsHandle h = NetnsHandle::open(path, err);
    if (!h.valid())
        throw UserError("cannot open network namespace " + path + ": " +
                            (err == EINVAL ? std::string("not a network namespace") : std::strerror(err)),
                        remedy);
    return h.inode();
}

int run_in_netns(const NetnsHandle& ns, const std::function<void()>& fn)
{
    int rc = 0;
    std::exception_ptr ex;
    std::thread t([&] {
        if (setns(ns.fd(), CLONE_NEWNET) != 0) {
            rc = errno;
            return;
        }
        try {
            fn();
        } catch (...) {
            ex = std::current_exception();
        }
    });
    t.join();
    if (ex)
        std::rethrow_exception(ex);
    return rc;
}

std::size_t for_each_netns(const std::vector<int>& ns_fds, const std::function<void(std::size_t)>& fn)
{
    std::size_t failed = 0;
    std::exception_ptr ex;
    std::thread t([&] {
        for (std::size_t i = 0; i < ns_fds.size(); ++i) {
            if (setns(ns_fds[i], CLONE_NEWNET) != 0) {
                ++failed;
                continue;
            }
            try {
                fn(i);
            } catch (...) {
                ex = std::current_exception();
                return;
            }
        }
    });
    t.join();
    if (ex)
        std::rethrow_exception(ex);
    return failed;
}

} // namespace cwt
