// User stacks to source locations, with elfutils' libdwfl: which binary, which
// function (+offset), and file:line where debug info exists. Reads the
// process's mappings (/proc/PID/maps) and binaries, so the process must still
// be alive; results are cached per binary and build id.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/leak_site.hpp"

namespace cwt
{

// What the kernel captured at the syscall (bpf/leak_site.bpf.c).
struct RawUserStack {
    std::uint32_t pid = 0;
    std::uint32_t tid = 0;
    std::uint64_t ip = 0, sp = 0, bp = 0; // user registers; 0 = not captured
    std::vector<std::uint8_t> stack;      // user stack from sp
    std::vector<std::uint64_t> fp_ips;    // frame-pointer walk (stack map), innermost first
};

class Symbolizer
{
  public:
    Symbolizer();
    ~Symbolizer();
    Symbolizer(const Symbolizer&) = delete;
    Symbolizer& operator=(const Symbolizer&) = delete;

    // Unwinds the copied stack with the binaries' CFI, continues with the
    // frame-pointer walk where the copy ends, and symbolizes every frame.
    std::vector<StackFrame> frames(const RawUserStack& raw, std::size_t max_frames = 32);
    // One address in a live process.
    StackFrame symbolize(std::uint32_t pid, std::uint64_t pc, bool is_return_address);
    // The process's executable ("" when it is gone).
    std::string exe(std::uint32_t pid);
    // Drop what is known about a process (it exited, or its pid was reused).
    void forget(std::uint32_t pid);

    std::size_t cache_entries() const { return sym_cache_.size(); }

  private:
    struct Process;
    Process* process(std::uint32_t pid);
    std::vector<std::uint64_t> cfi_unwind(Process& p, const RawUserStack& raw, std::size_t max_frames);

    std::unordered_map<std::uint32_t, std::unique_ptr<Process>> procs_;
    // (build id or path) + module offset -> frame (without pc).
    std::map<std::pair<std::string, std::uint64_t>, StackFrame> sym_cache_;
};

} // namespace cwt
