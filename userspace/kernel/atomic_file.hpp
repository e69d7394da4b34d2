// Replacing a file so that a reader (node_exporter's textfile collector) sees
// the old content or the new, never a part of either.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace cwt
{

// Writes a temporary file in the same directory (".NAME.tmp.PID", which a
// "*.prom" glob does not match), fsyncs it, renames it over `path`, and
// fsyncs the directory so the rename survives a crash. The temporary file is
// removed on failure. Throws UserError (cause and remedy) on any failure.
void write_file_atomically(const std::string& path, std::string_view content, mode_t mode = 0644);

// The temporary name write_file_atomically() uses for `path`.
std::string atomic_temp_path(const std::string& path);

} // namespace cwt
