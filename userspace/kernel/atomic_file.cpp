#include "kernel/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace cwt
{

namespace
{

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd()
    {
        if (fd >= 0)
            ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int release()
    {
        int f = fd;
        fd = -1;
        return f;
    }
};

std::string dir_of(const std::string& path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

[[noreturn]] void fail(const std::string& what, const std::string& path, int err)
{
    std::string remedy = err == ENOENT ? "create the directory " + dir_of(path) + " or choose another FILE"
                         : err == ENOSPC
                             ? "free space on the file system of " + dir_of(path)
                             : "check that " + dir_of(path) + " exists and is writable by this user";
    throw UserError("cannot " + what + " " + path + ": " + std::strerror(err), remedy);
}

} // namespace

std::string atomic_temp_path(const std::string& path)
{
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    return dir + "." + base + ".tmp." + std::to_string(::getpid());
}

void write_file_atomically(const std::string& path, std::string_view content, mode_t mode)
{
    if (path.empty() || path.back() == '/')
        throw UserError("not a file name: '" + path + "'", "give a file path such as /var/lib/x/y.prom");
    const std::string tmp = atomic_temp_path(path);
    ::unlink(tmp.c_str()); // a leftover of a crash; O_EXCL below refuses anything planted there
    Fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
    if (f.fd < 0)
        fail("create", tmp, errno);
    auto abandon = [&](const char* what) {
        int err = errno;
        ::unlink(tmp.c_str());
        fail(what, tmp, err);
    };
    if (::fchmod(f.fd, mode) != 0) // the umask must not narrow what the reader needs
        abandon("chmod");
    const char* p = content.data();
    std::size_t left = content.size();
    while (left > 0) {
        ssize_t n = ::write(f.fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abandon("write");
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    if (::fsync(f.fd) != 0)
        abandon("fsync");
    if (::close(f.release()) != 0)
        abandon("close");
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        abandon("rename onto");
    Fd d(::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.fd < 0 || ::fsync(d.fd) != 0)
        fail("fsync the directory of", path, errno);
}

} // namespace cwt
