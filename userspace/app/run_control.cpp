#include "app/run_control.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/error.hpp"

#include "kernel/procfs.hpp"

namespace cwt
{

namespace
{

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int)
{
    g_stop = 1;
}

// The -p target is looked up this often (a read of /proc/PID/status).
constexpr MonoNs kTargetCheckNs = 500 * kNsPerMs;

} // namespace

void install_stop_signals()
{
    struct sigaction sa {
    };
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGHUP, SIGINT, SIGTERM})
        sigaction(sig, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

int finish_run(int rc)
{
    if (rc != kExitClosedPipe)
        return rc;
    std::signal(SIGPIPE, SIG_DFL);
    std::raise(SIGPIPE);
    return rc; // SIGPIPE blocked by the caller: the same status by hand
}

StopReason check_stdout(int* err, bool watch_reader)
{
    errno = 0;
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        int e = errno ? errno : EIO;
        *err = e;
        return e == EPIPE ? StopReason::OutputClosed : StopReason::OutputError;
    }
    // Nothing to write, yet the reader may be gone (`| head -1` after its
    // line): a pipe reports POLLERR, a socket POLLHUP.
    if (!watch_reader)
        return StopReason::None;
    struct stat st {
    };
    if (fstat(STDOUT_FILENO, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        return StopReason::None;
    pollfd p{STDOUT_FILENO, 0, 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | (S_ISSOCK(st.st_mode) ? POLLHUP : 0)))) {
        *err = EPIPE;
        return StopReason::OutputClosed;
    }
    return StopReason::None;
}

[[noreturn]] void throw_output_error(int err)
{
    throw UserError(std::string("cannot write the output: ") + std::strerror(err),
                    "check where stdout goes (a full disk, a closed file or pipe)");
}

int end_status(const RunControl& ctl)
{
    if (ctl.reason() == StopReason::OutputClosed)
        return kExitClosedPipe;
    if (ctl.reason() == StopReason::OutputError)
        throw_output_error(ctl.output_errno());
    return stdout_status();
}

int stdout_status()
{
    int err = 0;
    switch (check_stdout(&err, false)) {
    case StopReason::OutputClosed:
        return kExitClosedPipe;
    case StopReason::OutputError:
        throw_output_error(err);
    default:
        return 0;
    }
}

bool RunControl::should_stop(MonoNs now)
{
    if (reason_ != StopReason::None)
        return true;
    if (g_stop) {
        reason_ = StopReason::Signal;
        return true;
    }
    StopReason out = check_stdout(&errno_);
    if (out != StopReason::None) {
        reason_ = out;
        return true;
    }
    if (deadline_ && now >= deadline_) {
        reason_ = StopReason::Deadline;
        return true;
    }
    if (target_pid_ && now >= next_target_check_) {
        next_target_check_ = now + kTargetCheckNs;
        if (process_exited(target_pid_)) {
            reason_ = StopReason::TargetExit;
            return true;
        }
    }
    return false;
}

} // namespace cwt
