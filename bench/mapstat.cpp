// cwt_mapstat: the BPF maps one process holds, with their memory and entry counts.
//
//   cwt_mapstat PID [NAME...]
//
// Finds the maps through /proc/PID/fdinfo (map_id, memlock), opens each by id
// and counts its entries with BPF_MAP_GET_NEXT_KEY. Unlike `bpftool map dump
// name X`, it cannot pick up a same-named map of another closewait-trace that
// happens to run at the same time. One line per map, then a total:
//   map name=close_waits id=125 type=1 key=8 value=104 max_entries=131072 memlock=23068880 entries=100000
//   total maps=10 memlock=51234567
// With NAME arguments, only those maps are printed (the total covers them only).
#include <bpf/bpf.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace {

struct MapRef {
    unsigned id = 0;
    unsigned long long memlock = 0;
};

std::vector<MapRef> maps_of(int pid)
{
    std::vector<MapRef> out;
    std::set<unsigned> seen;
    std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
    DIR* d = opendir(dir.c_str());
    if (!d)
        return out;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        std::ifstream in(dir + "/" + e->d_name);
        std::string key;
        MapRef m;
        bool is_map = false;
        while (in >> key) {
            if (key == "map_id:") {
                in >> m.id;
                is_map = true;
            } else if (key == "memlock:") {
                in >> m.memlock;
            }
        }
        if (is_map && seen.insert(m.id).second)
            out.push_back(m);
    }
    closedir(d);
    return out;
}

long long count_entries(int fd, const bpf_map_info& info)
{
    switch (info.type) {
    case BPF_MAP_TYPE_RINGBUF:
        return -1;
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
        return info.max_entries;
    default:
        break;
    }
    std::vector<char> key(info.key_size ? info.key_size : 1), next(key.size());
    long long n = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
        ++n;
        key.swap(next);
        prev = key.data();
        if (n > 100000000)
            break;
    }
    return n;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: cwt_mapstat PID [MAP_NAME...]\n");
        return 2;
    }
    int pid = std::atoi(argv[1]);
    std::set<std::string> names(argv + 2, argv + argc);
    auto maps = maps_of(pid);
    if (maps.empty()) {
        std::fprintf(stderr, "cwt_mapstat: process %d holds no BPF maps (or is gone)\n", pid);
        return 1;
    }
    unsigned long long total = 0;
    int count = 0;
    for (const auto& m : maps) {
        int fd = bpf_map_get_fd_by_id(m.id);
        if (fd < 0) {
            std::fprintf(stderr, "cwt_mapstat: map id %u: %s\n", m.id, std::strerror(errno));
            continue;
        }
        bpf_map_info info{};
        __u32 len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
            close(fd);
            continue;
        }
        if (!names.empty() && !names.count(info.name)) {
            close(fd);
            continue;
        }
        long long entries = count_entries(fd, info);
        std::printf("map name=%s id=%u type=%u key=%u value=%u max_entries=%u memlock=%llu entries=%lld\n",
                    info.name, m.id, info.type, info.key_size, info.value_size, info.max_entries, m.memlock,
                    entries);
        total += m.memlock;
        ++count;
        close(fd);
    }
    std::printf("total maps=%d memlock=%llu\n", count, total);
    return 0;
}
