#include "kernel/cgroup_scope.hpp"

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <vector>

#include "closewait.skel.h"
#include "closewait_trace/events.h"
#include "common/fd.hpp"
#include "core/container.hpp"
#include "kernel/loader.hpp"

namespace cwt
{

namespace
{

bool is_cgroup2(const char* path)
{
    struct statfs fs {
    };
    return statfs(path, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

std::optional<std::uint64_t> dir_inode(const std::string& path)
{
    struct stat st {
    };
    if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return std::nullopt;
    return static_cast<std::uint64_t>(st.st_ino);
}

// The `0::PATH` line of /proc/PID/cgroup (the v2 hierarchy only: a v1 path
// names another tree).
std::optional<std::string> v2_path_of(const std::string& proc, std::uint32_t pid)
{
    UniqueFd fd(::open((proc + "/" + std::to_string(pid) + "/cgroup").c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        return std::nullopt;
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd.get(), buf, sizeof(buf))) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return std::nullopt;
        text.append(buf, static_cast<std::size_t>(n));
    }
    for (std::size_t i = 0; i < text.size();) {
        std::size_t eol = text.find('\n', i);
        if (eol == std::string::npos)
            eol = text.size();
        if (text.compare(i, 3, "0::") == 0) {
            std::string path = text.substr(i + 3, eol - i - 3);
            const std::string deleted = " (deleted)";
            if (path.size() > deleted.size() &&
                path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0)
                path.resize(path.size() - deleted.size());
            return path;
        }
        i = eol + 1;
    }
    return std::nullopt;
}

// Every directory below `dir` (whose cgroup path is `path`), depth first.
void walk(const std::string& dir, const std::string& path, const std::string& container_prefix,
          const std::string& cgroup, std::unordered_set<std::uint64_t>& out, int depth)
{
    if (depth > 64)
        return;
    ProcessMeta m;
    m.cgroup = path;
    m.container = parse_container(path);
    if (container_matches(m, container_prefix) && cgroup_matches(m, cgroup))
        if (auto ino = dir_inode(dir))
            out.insert(*ino);
    DIR* d = opendir(dir.c_str());
    if (!d)
        return; // removed meanwhile: a cgroup torn down is simply not there
    std::vector<std::string> subdirs;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
            continue;
        subdirs.emplace_back(e->d_name);
    }
    closedir(d);
    for (const auto& s : subdirs) {
        std::string sub_dir = dir;
        sub_dir.append("/").append(s);
        std::string sub_path = path == "/" ? "" : path;
        sub_path.append("/").append(s);
        walk(sub_dir, sub_path, container_prefix, cgroup, out, depth + 1);
    }
}

} // namespace

std::string cgroup_v2_mount()
{
    if (is_cgroup2("/sys/fs/cgroup/unified"))
        return "/sys/fs/cgroup/unified";
    if (is_cgroup2("/sys/fs/cgroup"))
        return "/sys/fs/cgroup";
    return "";
}

std::unordered_set<std::uint64_t>
cgroup_ids_in_scope(const std::string& root, const std::string& container_prefix, const std::string& cgroup,
                    const std::unordered_set<std::uint32_t>& pids, const std::string& proc)
{
    std::unordered_set<std::uint64_t> out;
    if (root.empty())
        return out;
    walk(root, "/", container_prefix, cgroup, out, 0);
    for (std::uint32_t pid : pids)
        if (auto path = v2_path_of(proc, pid))
            if (auto ino = dir_inode(root + (*path == "/" ? "" : *path)))
                out.insert(*ino);
    return out;
}

KernelCgroupFilter::KernelCgroupFilter(BpfSession& s) : s_(&s)
{
    if (s.skel().rodata->filter_cgroup)
        map_fd_ = bpf_map__fd(s.skel().maps.cgroup_scope);
}

void KernelCgroupFilter::set(const std::unordered_set<std::uint64_t>& ids)
{
    if (!active() || opened_)
        return;
    if (ids.size() > CWT_MAX_SCOPE_CGROUPS) {
        s_->skel().bss->cgroup_scope_open = true;
        opened_ = true;
        return;
    }
    std::uint8_t one = 1;
    for (std::uint64_t id : ids)
        if (!ids_.count(id) && bpf_map_update_elem(map_fd_, &id, &one, BPF_ANY) != 0) {
            s_->skel().bss->cgroup_scope_open = true; // cannot be sure of the scope: let all through
            opened_ = true;
            return;
        }
    for (std::uint64_t id : ids_)
        if (!ids.count(id))
            bpf_map_delete_elem(map_fd_, &id); // a cgroup that was removed: its id is never reused
    ids_ = ids;
}

} // namespace cwt
