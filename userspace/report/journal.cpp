#include "report/journal.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cwt
{

namespace
{
int priority_of(const CloseWaitFinding& f)
{
    return f.sock.owner == OwnerKind::AcceptQueue ? kPrioWarning : kPrioInfo;
}
int priority_of(const LeakFinding&)
{
    return kPrioWarning;
}
int priority_of(const ClosedFinding&)
{
    return kPrioInfo;
}
int priority_of(const AcceptErrorFinding&)
{
    return kPrioErr;
}
int priority_of(const ListenOverflowFinding&)
{
    return kPrioWarning;
}
int priority_of(const AcceptStallFinding&)
{
    return kPrioWarning;
}
int priority_of(const LostFinding&)
{
    return kPrioErr;
}
} // namespace

int journal_priority(const Finding& f)
{
    return std::visit([](const auto& x) { return priority_of(x); }, f);
}

std::string journal_line(int priority, std::string_view text)
{
    std::string out = "<" + std::to_string(priority) + ">";
    out.reserve(out.size() + text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '\n') {
            while (i + 1 < text.size() && text[i + 1] == ' ')
                ++i;
            if (i + 1 < text.size())
                out += ' ';
        } else if (c < 0x20 || c == 0x7f) {
            out += ' ';
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

namespace
{

// Runs the human reporter into memory, then writes what it printed line by
// line with a prefix.
class JournalReporter : public Reporter
{
  public:
    JournalReporter(std::FILE* out, std::FILE* err, WallClock clock, HumanStyle style)
        : out_(out), err_(err), clock_(clock), style_(style)
    {
    }
    void start(const StartInfo& s) override
    {
        relay(kPrioInfo, [&](Reporter& r) { r.start(s); });
    }
    void finding(const Finding& f) override
    {
        std::fprintf(out_, "%s\n", journal_line(journal_priority(f), human_line(f, clock_, style_)).c_str());
    }
    void summary(const Summary& s, double elapsed_s) override
    {
        relay(kPrioInfo, [&](Reporter& r) { r.summary(s, elapsed_s); });
    }
    void flush() override { std::fflush(out_); }

  private:
    template <typename Fn> void relay(int priority, Fn&& fn)
    {
        char* buf = nullptr;
        std::size_t len = 0;
        std::FILE* mem = open_memstream(&buf, &len);
        if (!mem)
            return;
        {
            auto human = make_human_reporter(mem, err_, clock_, style_);
            fn(*human);
            human->flush();
        }
        std::fclose(mem);
        std::string_view text(buf, len);
        std::size_t pos = 0;
        while (pos < text.size()) {
            std::size_t nl = text.find('\n', pos);
            std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
            std::fprintf(out_, "%s\n", journal_line(priority, line).c_str());
            pos = nl == std::string_view::npos ? text.size() : nl + 1;
        }
        std::free(buf);
    }
    std::FILE* out_;
    std::FILE* err_;
    WallClock clock_;
    HumanStyle style_;
};

} // namespace

std::unique_ptr<Reporter> make_journal_reporter(std::FILE* out, std::FILE* err, WallClock clock,
                                                HumanStyle style)
{
    // The journal has no terminal width: a cut field would be lost for good.
    style.wide = true;
    return std::make_unique<JournalReporter>(out, err, clock, style);
}

} // namespace cwt
