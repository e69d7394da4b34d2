#include "kernel/symbolizer.hpp"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <unordered_set>

namespace cwt
{

namespace
{

char* g_debuginfo_path = nullptr; // libdwfl's default search path

const Dwfl_Callbacks kProcCallbacks = {
    dwfl_linux_proc_find_elf,
    dwfl_standard_find_debuginfo,
    nullptr,
    &g_debuginfo_path,
};

struct DwflDeleter {
    void operator()(Dwfl* d) const { dwfl_end(d); }
};

// What one unwind reads: the registers and the stack copy.
struct UnwindCtx {
    const RawUserStack* raw = nullptr;
};

pid_t cb_next_thread(Dwfl*, void* arg, void** thread_argp)
{
    if (*thread_argp)
        return 0;
    *thread_argp = arg;
    return static_cast<pid_t>(static_cast<UnwindCtx*>(arg)->raw->tid);
}

bool cb_get_thread(Dwfl*, pid_t tid, void* arg, void** thread_argp)
{
    *thread_argp = arg;
    return static_cast<std::uint32_t>(tid) == static_cast<UnwindCtx*>(arg)->raw->tid;
}

bool cb_memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg)
{
    const RawUserStack& r = *static_cast<UnwindCtx*>(arg)->raw;
    if (addr < r.sp || addr + sizeof(Dwarf_Word) > r.sp + r.stack.size())
        return false; // outside the copy: the unwind stops here
    std::memcpy(result, r.stack.data() + (addr - r.sp), sizeof(Dwarf_Word));
    return true;
}

bool cb_set_initial_registers(Dwfl_Thread* thread, void* arg)
{
    const RawUserStack& r = *static_cast<UnwindCtx*>(arg)->raw;
#if defined(__x86_64__)
    // DWARF numbering: 6 = rbp, 7 = rsp, 16 = return address (rip).
    Dwarf_Word regs[17] = {};
    regs[6] = r.bp;
    regs[7] = r.sp;
    regs[16] = r.ip;
    if (!dwfl_thread_state_registers(thread, 0, 17, regs))
        return false;
#elif defined(__aarch64__)
    Dwarf_Word fp = r.bp, sp = r.sp;
    if (!dwfl_thread_state_registers(thread, 29, 1, &fp) || !dwfl_thread_state_registers(thread, 31, 1, &sp))
        return false;
#endif
    dwfl_thread_state_register_pc(thread, r.ip);
    return true;
}

const Dwfl_Thread_Callbacks kThreadCallbacks = {
    cb_next_thread, cb_get_thread, cb_memory_read, cb_set_initial_registers, nullptr, nullptr,
};

std::string hex(const unsigned char* b, int n)
{
    static const char* d = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < n; ++i) {
        s += d[b[i] >> 4];
        s += d[b[i] & 15];
    }
    return s;
}

std::string demangle(const char* name)
{
    int status = 0;
    char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status != 0 || !out)
        return name;
    std::string s = out;
    std::free(out);
    return s;
}

} // namespace

struct Symbolizer::Process {
    std::uint32_t pid = 0;
    std::unique_ptr<Dwfl, DwflDeleter> dwfl;
    bool attached = false;
    bool reported_again = false; // re-read the mappings once per miss
    UnwindCtx ctx;
    std::string exe;

    bool report()
    {
        dwfl_report_begin(dwfl.get());
        int rc = dwfl_linux_proc_report(dwfl.get(), static_cast<pid_t>(pid));
        dwfl_report_end(dwfl.get(), nullptr, nullptr);
        return rc == 0;
    }

    Dwfl_Module* module_of(Dwarf_Addr a)
    {
        Dwfl_Module* m = dwfl_addrmodule(dwfl.get(), a);
        if (!m && !reported_again) {
            // A library loaded since (dlopen): read the mappings again, once.
            reported_again = true;
            report();
            m = dwfl_addrmodule(dwfl.get(), a);
        }
        return m;
    }
};

Symbolizer::Symbolizer() = default;
Symbolizer::~Symbolizer() = default;

Symbolizer::Process* Symbolizer::process(std::uint32_t pid)
{
    auto it = procs_.find(pid);
    if (it != procs_.end())
        return it->second.get();
    auto p = std::make_unique<Process>();
    p->pid = pid;
    p->dwfl.reset(dwfl_begin(&kProcCallbacks));
    if (!p->dwfl || !p->report())
        return nullptr; // gone, or not ours to read
    char buf[4096];
    std::string link = "/proc/" + std::to_string(pid) + "/exe";
    ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
    if (n > 0)
        p->exe.assign(buf, static_cast<std::size_t>(n));
    Process* raw = p.get();
    procs_.emplace(pid, std::move(p));
    return raw;
}

void Symbolizer::forget(std::uint32_t pid)
{
    procs_.erase(pid);
}

std::string Symbolizer::exe(std::uint32_t pid)
{
    Process* p = process(pid);
    return p ? p->exe : std::string();
}

StackFrame Symbolizer::symbolize(std::uint32_t pid, std::uint64_t pc, bool is_return_address)
{
    StackFrame f;
    f.pc = pc;
    Process* p = process(pid);
    if (!p || !pc)
        return f;
    // A return address points after the call: look up the call itself.
    Dwarf_Addr at = is_return_address ? pc - 1 : pc;
    Dwfl_Module* m = p->module_of(at);
    if (!m)
        return f;
    Dwarf_Addr start = 0;
    const char* name = dwfl_module_info(m, nullptr, &start, nullptr, nullptr, nullptr, nullptr, nullptr);
    const unsigned char* bits = nullptr;
    GElf_Addr vaddr = 0;
    int n = dwfl_module_build_id(m, &bits, &vaddr);
    std::string build_id = n > 0 ? hex(bits, n) : std::string();
    Dwarf_Addr bias = 0;
    if (!dwfl_module_getelf(m, &bias))
        bias = start;
    std::uint64_t rel = at - bias;
    auto key = std::make_pair(build_id.empty() ? std::string(name ? name : "") : build_id, rel);
    auto hit = sym_cache_.find(key);
    if (hit != sym_cache_.end()) {
        f = hit->second;
        f.pc = pc;
        return f;
    }
    f.module = name ? name : "";
    f.build_id = build_id;
    f.module_offset = rel + (is_return_address ? 1 : 0);
    GElf_Off off = 0;
    GElf_Sym sym;
    if (const char* fn = dwfl_module_addrinfo(m, at, &off, &sym, nullptr, nullptr, nullptr)) {
        f.function = demangle(fn);
        f.offset = off + (is_return_address ? 1 : 0);
    }
    if (Dwfl_Line* line = dwfl_module_getsrc(m, at)) {
        int lineno = 0;
        if (const char* src = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
            f.file = src;
            f.line = lineno;
        }
    }
    StackFrame cached = f;
    cached.pc = 0;
    sym_cache_.emplace(key, cached);
    return f;
}

std::vector<std::uint64_t> Symbolizer::cfi_unwind(Process& p, const RawUserStack& raw, std::size_t max_frames)
{
    std::vector<std::uint64_t> pcs;
    if (!raw.ip || !raw.sp || raw.stack.empty())
        return pcs;
    p.ctx.raw = &raw;
    if (!p.attached) {
        Dwfl_Module* m = p.module_of(raw.ip);
        Dwarf_Addr bias = 0;
        Elf* elf = m ? dwfl_module_getelf(m, &bias) : nullptr;
        if (!elf || !dwfl_attach_state(p.dwfl.get(), elf, static_cast<pid_t>(p.pid), &kThreadCallbacks, &p.ctx))
            return pcs;
        p.attached = true;
    }
    struct Acc {
        std::vector<std::uint64_t>* pcs;
        std::size_t max;
    } acc{&pcs, max_frames};
    dwfl_getthread_frames(
        p.dwfl.get(), static_cast<pid_t>(raw.tid),
        [](Dwfl_Frame* fr, void* arg) -> int {
            auto* a = static_cast<Acc*>(arg);
            Dwarf_Addr pc = 0;
            bool activation = false;
            if (!dwfl_frame_pc(fr, &pc, &activation) || !pc)
                return DWARF_CB_ABORT;
            a->pcs->push_back(pc);
            return a->pcs->size() >= a->max ? DWARF_CB_ABORT : DWARF_CB_OK;
        },
        &acc); // ends with an error where the copy ends: expected
    p.ctx.raw = nullptr;
    return pcs;
}

std::vector<StackFrame> Symbolizer::frames(const RawUserStack& raw, std::size_t max_frames)
{
    std::vector<StackFrame> out;
    Process* p = process(raw.pid);
    if (!p)
        return out;
    std::vector<std::uint64_t> pcs = cfi_unwind(*p, raw, max_frames);
    // Continue with the frame-pointer walk past the last frame both agree on.
    // Without a shared frame the walk is not trusted past the copy (code
    // without frame pointers leaves junk in rbp).
    std::size_t from = raw.fp_ips.size();
    if (pcs.empty()) {
        from = 0;
    } else {
        std::unordered_set<std::uint64_t> seen(pcs.begin(), pcs.end());
        for (std::size_t j = raw.fp_ips.size(); j-- > 0;)
            if (seen.count(raw.fp_ips[j])) {
                from = j + 1;
                break;
            }
    }
    std::size_t cfi_count = pcs.size();
    for (std::size_t j = from; j < raw.fp_ips.size() && pcs.size() < max_frames; ++j)
        if (raw.fp_ips[j])
            pcs.push_back(raw.fp_ips[j]);
    for (std::size_t i = 0; i < pcs.size(); ++i) {
        StackFrame f = symbolize(raw.pid, pcs[i], i > 0);
        // Past the CFI part, a frame-pointer walk through code without frame
        // pointers yields junk: keep only addresses inside a mapped binary.
        if (i >= cfi_count && f.module.empty())
            continue;
        out.push_back(std::move(f));
    }
    return out;
}

} // namespace cwt
