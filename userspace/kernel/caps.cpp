#include "kernel/caps.hpp"

#include <sys/capability.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace cwt
{

namespace
{

struct CapFree {
    void operator()(void* p) const { cap_free(p); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

bool effective(const CapPtr& caps, cap_value_t c)
{
    cap_flag_value_t v = CAP_CLEAR;
    return caps && cap_get_flag(caps.get(), c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET;
}

} // namespace

bool has_bpf_privileges()
{
    CapPtr caps(cap_get_proc());
    if (!caps)
        return geteuid() == 0;
    // CAP_BPF and CAP_PERFMON exist since 5.8; libcap names them by number.
    return effective(caps, CAP_SYS_ADMIN) || (effective(caps, CAP_BPF) && effective(caps, CAP_PERFMON));
}

std::vector<std::string> missing_required_capabilities()
{
    std::vector<std::string> missing;
    CapPtr caps(cap_get_proc());
    if (!caps)
        return missing;
    if (!effective(caps, CAP_SYS_ADMIN)) {
        if (!effective(caps, CAP_BPF))
            missing.push_back("CAP_BPF");
        if (!effective(caps, CAP_PERFMON))
            missing.push_back("CAP_PERFMON");
    }
    if (!effective(caps, CAP_DAC_READ_SEARCH))
        missing.push_back("CAP_DAC_READ_SEARCH");
    if (!effective(caps, CAP_SYS_PTRACE))
        missing.push_back("CAP_SYS_PTRACE");
    return missing;
}

std::string required_capabilities_text()
{
    return "CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (CAP_SYS_ADMIN too where tracefs "
           "must be mounted, or for other network namespaces)";
}

std::vector<std::string> live_loop_capabilities(bool writes_files)
{
    std::vector<std::string> keep = {"cap_dac_read_search", "cap_sys_ptrace", "cap_sys_admin"};
    if (writes_files)
        keep.push_back("cap_dac_override");
    return keep;
}

std::string drop_capabilities_except(const std::vector<std::string>& keep)
{
    CapPtr now(cap_get_proc());
    if (!now)
        return std::string("cap_get_proc: ") + std::strerror(errno);
    CapPtr next(cap_init()); // all clear
    if (!next)
        return std::string("cap_init: ") + std::strerror(errno);
    for (const auto& name : keep) {
        cap_value_t c;
        if (cap_from_name(name.c_str(), &c) != 0)
            continue;
        cap_flag_value_t held = CAP_CLEAR;
        if (cap_get_flag(now.get(), c, CAP_PERMITTED, &held) != 0 || held != CAP_SET)
            continue;
        cap_flag_value_t eff = CAP_CLEAR;
        cap_get_flag(now.get(), c, CAP_EFFECTIVE, &eff);
        cap_set_flag(next.get(), CAP_PERMITTED, 1, &c, CAP_SET);
        if (eff == CAP_SET)
            cap_set_flag(next.get(), CAP_EFFECTIVE, 1, &c, CAP_SET);
    }
    if (cap_set_proc(next.get()) != 0)
        return std::string("cap_set_proc: ") + std::strerror(errno);
    return "";
}

} // namespace cwt
