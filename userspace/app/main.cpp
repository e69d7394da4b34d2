#include <exception>
#include <string>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/run_control.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "report/html.hpp"
#include "kernel/fd_budget.hpp"

int main(int argc, char** argv)
{
    cwt::Options o;
    int rc = cwt::parse_options(argc, argv, o);
    if (rc >= 0)
        return rc;
    try {
        if (!o.report_in.empty())
            return cwt::run_report(o.report_in, o.report_out);
        cwt::raise_fd_limit();
        if (o.features)
            return cwt::run_features(o);
        if (o.snapshot)
            return cwt::finish_run(cwt::run_snapshot(o));
        return cwt::finish_run(cwt::run_live(o));
    } catch (const cwt::FdShortage& e) {
        // The line #14 specifies ("closewait-trace needs about N file
        // descriptors; ..."), without the "error:" level word; journal prefix kept.
        cwt::log_line_raw(cwt::LogLevel::Error, e.line());
        return 2;
    } catch (const cwt::UserError& e) {
        cwt::log_error(std::string(e.what()) + "; " + e.remedy());
        return 2;
    } catch (const std::exception& e) {
        cwt::log_error(std::string("internal: ") + e.what() + "; please report it with `uname -r`");
        return 2;
    }
}
