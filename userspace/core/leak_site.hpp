// Where a leaked socket was last seen by its application: the code path that
// read EOF (or, if it never did, accepted it). Pure data and the rules that
// pick a site frame and group leaks by it; symbolization lives in
// kernel/symbolizer (it reads the process's binaries).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cwt
{

// One symbolized frame of a user stack.
struct StackFrame {
    std::uint64_t pc = 0;
    std::string module;        // path of the mapped file ("" unknown)
    std::string build_id;      // hex, of that file
    std::uint64_t module_offset = 0; // pc relative to the module's load bias
    std::string function;      // "" when there is no symbol
    std::uint64_t offset = 0;  // pc - function start
    std::string file;          // source file, where debug info exists
    int line = 0;
    bool operator==(const StackFrame& o) const { return pc == o.pc && module == o.module; }
};

enum class SiteKind { ReadEof, Accept };
const char* site_kind_name(SiteKind k); // "read_eof" | "accept"

struct LeakSite {
    SiteKind kind = SiteKind::ReadEof;
    std::string call; // "read", "recvfrom", "recvmsg", "readv", "accept", "accept4"
    std::uint32_t tid = 0;
    // The frame that names the site: the first one outside the C library and
    // the dynamic loader (the caller of read()); its fields, flattened.
    std::string function;
    std::uint64_t offset = 0;
    std::string file;
    int line = 0;
    std::string module;
    std::string build_id;
    // Non-empty for interpreted runtimes: the native stack is the
    // interpreter's ("python3"), not the script's.
    std::string interpreter;
    std::vector<StackFrame> frames; // innermost first

    // Groups leaks: equal for the same code location.
    std::string key() const;
    // "read()=0 in handle_client (server.c:212)" / "accept4() in main+0x41 (srv)"
    std::string label() const;
};

// True for frames of the C library, the dynamic loader and the vDSO.
bool is_system_frame(const StackFrame& f);
// Index of the frame that names the site, or none when no frame is outside
// the system libraries.
std::optional<std::size_t> site_frame_index(const std::vector<StackFrame>& frames);
// "python3" when the executable is an interpreter whose native stack says
// nothing about the script; "" otherwise.
std::string interpreter_of(const std::string& exe_path);
// Fills function/offset/file/line/module/build_id from the frames.
void fill_site_from_frames(LeakSite& s);

// Strips anything a terminal or a JSON/metrics consumer could trip on.
std::string sanitize_symbol(const std::string& s);

} // namespace cwt
