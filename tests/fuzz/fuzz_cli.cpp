// libFuzzer target: the command line. The input is split at NUL bytes into
// argv[1..]; the option parser must accept or refuse it (exit code), never
// crash. Only options that parse must be in range: NaN or a negative
// threshold getting through would silently switch leak detection off.
// --help and the refusals print: run it with -close_fd_mask=3 (run.sh does).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "app/cli.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size > 4096)
        return 0;
    std::vector<std::string> args{"closewait-trace"};
    std::string cur;
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == 0) {
            args.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(static_cast<char>(data[i]));
        }
    }
    if (!cur.empty())
        args.push_back(cur);
    if (args.size() > 64)
        return 0;
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    cwt::Options o;
    int rc = cwt::parse_options(static_cast<int>(args.size()), argv.data(), o);
    if (rc == -1) {
        // Accepted: every value must be usable.
        // NaN and infinities are refused (#14 item 6); CWT_FUZZ_STRICT_VALUES
        // is on by default (tests/fuzz/CMakeLists.txt).
#ifdef CWT_FUZZ_STRICT_VALUES
        if (!std::isfinite(o.threshold_s) || !std::isfinite(o.stall_s) || !std::isfinite(o.duration_s) ||
            !std::isfinite(o.metrics_interval_s))
            __builtin_trap();
#endif
        if (o.threshold_s < 0 || o.stall_s < 0 || o.duration_s < 0)
            __builtin_trap();
    }
    return 0;
}
