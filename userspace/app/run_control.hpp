// How a live run ends: SIGHUP, SIGINT and SIGTERM (summary, exit 0), the -p
// target exiting (a target_exit line, summary, exit 0), stdout failing
// (EPIPE from a closed pipe ends quietly; any other write error is an error,
// exit 2), or --duration. The live loop asks should_stop() every round.
#pragma once

#include <cstdint>

#include "common/units.hpp"
#include "core/model.hpp"

namespace cwt
{

enum class StopReason { None, Deadline, Signal, TargetExit, OutputClosed, OutputError };

// SIGHUP, SIGINT, SIGTERM request a stop; SIGPIPE is ignored (a closed pipe
// shows as EPIPE on the next write, or as POLLERR on stdout).
void install_stop_signals();

// Exit status of a run that ended on a closed pipe: the shell's 128+SIGPIPE.
constexpr int kExitClosedPipe = 141;

// A last step for main(): on kExitClosedPipe, after every probe was
// detached, die of SIGPIPE as the shell expects; otherwise return rc.
int finish_run(int rc);

// Flushes stdout and checks it is still writable. Returns StopReason::None,
// OutputClosed (EPIPE, or the reader of the pipe went away) or OutputError
// (errno in *err).
// With watch_reader, a pipe whose reader left counts as closed even when
// nothing is pending.
StopReason check_stdout(int* err, bool watch_reader = true);

// After the last write: 0, kExitClosedPipe on EPIPE, or a UserError (exit 2)
// when stdout could not be written.
int stdout_status();

class RunControl
{
  public:
    RunControl(std::uint32_t target_pid, MonoNs deadline) : target_pid_(target_pid), deadline_(deadline) {}
    // True when the run should end now; reason() says why.
    bool should_stop(MonoNs now);
    StopReason reason() const { return reason_; }
    int output_errno() const { return errno_; }
    std::uint32_t target_pid() const { return target_pid_; }

  private:
    std::uint32_t target_pid_;
    MonoNs deadline_;
    MonoNs next_target_check_ = 0;
    StopReason reason_ = StopReason::None;
    int errno_ = 0;
};

// The output failed (closed or in error): no summary to write.
inline bool output_failed(const RunControl& ctl)
{
    return ctl.reason() == StopReason::OutputClosed || ctl.reason() == StopReason::OutputError;
}

// The run's exit status once the summary was written: 0, kExitClosedPipe,
// or a UserError when stdout could not be written.
int end_status(const RunControl& ctl);

} // namespace cwt
