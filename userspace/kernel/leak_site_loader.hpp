// The leak-site programs as their own skeleton, sharing the main object's
// close_waits map. Temporary: once the BPF split lands, the programs are part
// of the one closewait skeleton and this becomes a program set there.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

struct leak_site_bpf;
struct bpf_link;

namespace cwt
{

struct LeakSiteOptions {
    int close_waits_fd = -1; // the main object's map
    std::uint32_t max_sockets = 65536;
    std::uint32_t filter_pid = 0;
    bool accepts = true; // keep accept() stacks as the second clue
};

struct LeakSiteCounters {
    std::uint64_t captured = 0, stack_failed = 0, copy_failed = 0, map_full = 0;
};

class LeakSiteSession
{
  public:
    explicit LeakSiteSession(const LeakSiteOptions& o); // throws UserError
    ~LeakSiteSession();
    LeakSiteSession(const LeakSiteSession&) = delete;
    LeakSiteSession& operator=(const LeakSiteSession&) = delete;

    int sites_fd() const;
    int stacks_fd() const;
    LeakSiteCounters counters() const;

  private:
    struct SkelDeleter {
        void operator()(leak_site_bpf* s) const;
    };
    struct LinkDeleter {
        void operator()(bpf_link* l) const;
    };
    std::unique_ptr<leak_site_bpf, SkelDeleter> skel_;
    std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
};

} // namespace cwt
