// File descriptors: the tool raises its own soft RLIMIT_NOFILE to the hard
// limit at start, knows about how many fds a probe tier needs (maps,
// programs, links, iterators), and names a shortage as such: never as a
// verifier problem, a missing kernel feature or a reason to fall back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.hpp"

namespace cwt
{

// Raises the soft RLIMIT_NOFILE to the hard one (no privilege needed).
void raise_fd_limit();

// The hard RLIMIT_NOFILE of this process (RLIM_INFINITY as UINT64_MAX).
std::uint64_t fd_hard_limit();

// Open fds of this process now (inherited ones count against the limit).
std::size_t fds_open_now();

// About how many fds a load needs: those open now, one per map, program and
// link, the two iterator links and their reads, BTF, the ring buffer's
// epoll, libbpf's feature probes and /proc reads.
std::size_t fds_needed(std::size_t maps, std::size_t programs, std::size_t links);

// The estimate of the load (for a shortage found later), and the throw of
// FdShortage for an EMFILE/ENFILE met anywhere.
void note_fds_needed(std::size_t n);
[[noreturn]] void throw_fd_shortage(int err);

// Whether an errno means "out of file descriptors".
inline bool is_fd_shortage(int err)
{
    return err == 24 /* EMFILE */ || err == 23 /* ENFILE */;
}
// Whether a libbpf or strerror message names EMFILE or ENFILE.
bool names_fd_shortage(const std::string& message);

// The one line for an fd shortage; printed as it is by main().
class FdShortage : public UserError
{
  public:
    FdShortage(std::size_t needed, std::uint64_t hard, bool system_wide = false);
    // The whole line, without the "closewait-trace: error:" prefix.
    const std::string& line() const { return line_; }

  private:
    std::string line_;
};

} // namespace cwt
