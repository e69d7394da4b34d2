#include "kernel/container.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "common/fd.hpp"

namespace cwt
{

namespace
{

// A small /proc file, whole; nullopt if it cannot be read.
std::optional<std::string> slurp(const std::string& path)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        return std::nullopt;
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return std::nullopt;
        if (n == 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

} // namespace

std::string container_id_from_cgroup(std::string_view cgroup_file)
{
    auto c = container_from_proc(cgroup_file);
    return c ? short_container_id(c->id) : "";
}

std::string container_of(std::uint32_t pid)
{
    auto text = slurp("/proc/" + std::to_string(pid) + "/cgroup");
    return text ? container_id_from_cgroup(*text) : "";
}

std::shared_ptr<const ProcessMeta> read_process_meta(std::uint32_t pid, const std::string& proc)
{
    std::string dir = proc + "/" + std::to_string(pid);
    auto cg = slurp(dir + "/cgroup");
    auto st = slurp(dir + "/status");
    if (!cg && !st)
        return nullptr;
    auto m = std::make_shared<ProcessMeta>();
    if (st)
        m->nspid = nspid_from_status(*st).value_or(0);
    if (cg) {
        if (auto path = cgroup_path_from_proc(*cg))
            m->cgroup = *path;
        m->container = container_from_proc(*cg);
    }
    return m;
}

std::shared_ptr<const ProcessMeta> ProcessMetaCache::get(std::uint32_t pid)
{
    std::uint64_t now = mono_now_ns();
    auto it = cache_.find(pid);
    if (it != cache_.end() && now - it->second.read_ns < kMaxAgeNs)
        return it->second.meta;
    auto m = read_process_meta(pid);
    if (!m)
        return it != cache_.end() ? it->second.meta : nullptr; // exited: its last known record
    cache_[pid] = Entry{m, now};
    return m;
}

std::unordered_set<std::uint32_t> pids_in_scope(const std::string& container_prefix, const std::string& cgroup,
                                                const std::string& proc)
{
    std::unordered_set<std::uint32_t> out;
    DIR* d = opendir(proc.c_str());
    if (!d)
        return out;
    while (dirent* e = readdir(d)) {
        char* end = nullptr;
        unsigned long pid = std::strtoul(e->d_name, &end, 10);
        if (!pid || *end)
            continue;
        auto text = slurp(proc + "/" + e->d_name + "/cgroup");
        if (!text)
            continue;
        ProcessMeta m;
        m.cgroup = cgroup_path_from_proc(*text).value_or("");
        m.container = container_from_proc(*text);
        if (container_matches(m, container_prefix) && cgroup_matches(m, cgroup))
            out.insert(static_cast<std::uint32_t>(pid));
    }
    closedir(d);
    return out;
}

} // namespace cwt
