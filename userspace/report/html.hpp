// `closewait-trace report FILE -o report.html`: one self-contained HTML page
// (inline SVG and CSS, no script, no network) from a --record file: CLOSE_WAIT
// over time per process and container, accept-queue depth per listener,
// EMFILE per second, leaks per site, and a table of the top offenders.
#pragma once

#include <istream>
#include <string>

namespace cwt
{

// Renders the page from the record's JSON lines; throws UserError on a file
// that is not a record.
std::string render_html_report(std::istream& record, const std::string& source_name);

// The subcommand: reads IN, writes OUT. Returns the exit code.
int run_report(const std::string& in, const std::string& out);

} // namespace cwt
