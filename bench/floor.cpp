// cwt_floor: loads bench/floor.bpf.c (count-only programs on closewait-trace's
// hooks), prints READY, and on SIGINT/SIGTERM prints the counts and exits.
#include <bpf/libbpf.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "floor.skel.h"

namespace
{
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int)
{
    g_stop = 1;
}
} // namespace

int main()
{
    floor_bpf* skel = floor_bpf__open_and_load();
    if (!skel) {
        std::fprintf(stderr, "cwt_floor: cannot load floor.bpf.o (run as root)\n");
        return 2;
    }
    if (floor_bpf__attach(skel)) {
        std::fprintf(stderr, "cwt_floor: cannot attach (is tracefs mounted?)\n");
        floor_bpf__destroy(skel);
        return 2;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::printf("READY\n");
    std::fflush(stdout);
    while (!g_stop)
        pause();
    int ncpu = libbpf_num_possible_cpus();
    const char* names[] = {"set_state", "accept_enter", "accept_exit"};
    for (std::uint32_t k = 0; k < 3 && ncpu > 0; ++k) {
        std::vector<std::uint64_t> v(static_cast<std::size_t>(ncpu));
        std::uint64_t sum = 0;
        if (bpf_map__lookup_elem(skel->maps.floor_counts, &k, sizeof(k), v.data(), v.size() * sizeof(v[0]),
                                 0) == 0)
            for (auto x : v)
                sum += x;
        std::printf("@%s: %llu\n", names[k], static_cast<unsigned long long>(sum));
    }
    floor_bpf__destroy(skel);
    return 0;
}
