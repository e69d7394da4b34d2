// cwt_mapstat: the BPF maps one process holds, with their memory and entry counts.
//
//   cwt_mapstat PID [--tgid N] [NAME...]
//
// Finds the maps through /proc/PID/fdinfo (map_id, memlock), opens each by id
// and counts its entries with BPF_MAP_GET_NEXT_KEY. Unlike `bpftool map dump
// name X`, it cannot pick up a same-named map of another closewait-trace that
// happens to run at the same time. One line per map, then a total:
//   map name=close_waits id=125 type=1 key=8 value=104 max_entries=131072 memlock=23068880 entries=100000
//   total maps=10 memlock=51234567 sock_record_bytes=144
// Extra fields:
//   ring_bytes=B      (ring buffer) the producer position: bytes ever submitted,
//                     8-byte record headers included
//   counters=a,b,...  (per-CPU u64 array) each index summed over CPUs
//   tgid_entries=N    (close_waits, owners; with --tgid) entries whose owner is
//                     process N, decoded with closewait_trace/events.h
// With NAME arguments, only those maps are printed (the total covers them only).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "closewait_trace/events.h"

namespace
{

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

// Producer position of a BPF ring buffer: the second page of its mapping.
long long ring_bytes(int fd)
{
    long page = sysconf(_SC_PAGESIZE);
    void* p = mmap(nullptr, static_cast<size_t>(page), PROT_READ, MAP_SHARED, fd, page);
    if (p == MAP_FAILED)
        return -1;
    long long pos = static_cast<long long>(*static_cast<volatile unsigned long*>(p));
    munmap(p, static_cast<size_t>(page));
    return pos;
}

std::string percpu_sums(int fd, const bpf_map_info& info)
{
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0 || info.value_size != 8)
        return "";
    std::string out;
    std::vector<unsigned long long> vals(static_cast<size_t>(ncpu));
    for (__u32 k = 0; k < info.max_entries; ++k) {
        unsigned long long sum = 0;
        if (bpf_map_lookup_elem(fd, &k, vals.data()) == 0)
            for (auto v : vals)
                sum += v;
        out += (k ? "," : "") + std::to_string(sum);
    }
    return out;
}

// Entries of close_waits/owners whose recorded owner is `tgid`.
long long tgid_entries(int fd, const bpf_map_info& info, unsigned tgid)
{
    bool cw = std::strcmp(info.name, "close_waits") == 0 && info.value_size == sizeof(cwt_cw_entry);
    bool ow = std::strcmp(info.name, "owners") == 0 && info.value_size == sizeof(cwt_owner);
    if ((!cw && !ow) || info.key_size != 8)
        return -1;
    long long n = 0;
    __u64 key = 0, next = 0;
    const void* prev = nullptr;
    std::vector<char> val(info.value_size);
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, val.data()) == 0) {
            __u32 t = cw ? reinterpret_cast<const cwt_cw_entry*>(val.data())->owner.tgid
                         : reinterpret_cast<const cwt_owner*>(val.data())->tgid;
            n += t == tgid;
        }
        key = next;
        prev = &key;
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
    unsigned tgid = 0;
    std::set<std::string> names;
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--tgid") == 0 && i + 1 < argc)
            tgid = static_cast<unsigned>(std::atoi(argv[++i]));
        else
            names.insert(argv[i]);
    }
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
        std::string extra;
        if (info.type == BPF_MAP_TYPE_RINGBUF)
            extra = " ring_bytes=" + std::to_string(ring_bytes(fd));
        else if (info.type == BPF_MAP_TYPE_PERCPU_ARRAY)
            extra = " counters=" + percpu_sums(fd, info);
        else if (tgid) {
            long long t = tgid_entries(fd, info, tgid);
            if (t >= 0)
                extra = " tgid_entries=" + std::to_string(t);
        }
        std::printf("map name=%s id=%u type=%u key=%u value=%u max_entries=%u memlock=%llu entries=%lld%s\n",
                    info.name, m.id, info.type, info.key_size, info.value_size, info.max_entries, m.memlock,
                    entries, extra.c_str());
        total += m.memlock;
        ++count;
        close(fd);
    }
    // Bytes one CLOSE_WAIT/close record takes in the ring buffer (8-byte header, 8-aligned).
    std::printf("total maps=%d memlock=%llu sock_record_bytes=%zu\n", count, total,
                (sizeof(cwt_sock_event) + 8 + 7) / 8 * 8);
    return 0;
}
