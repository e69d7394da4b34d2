#include "core/container.hpp"

#include <vector>

namespace cwt
{

namespace
{

bool starts_with(std::string_view s, std::string_view p)
{
    return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

bool ends_with(std::string_view s, std::string_view p)
{
    return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string_view strip_suffix(std::string_view s, std::string_view suffix)
{
    return ends_with(s, suffix) ? s.substr(0, s.size() - suffix.size()) : s;
}

std::vector<std::string_view> components(std::string_view path)
{
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string_view::npos)
            j = path.size();
        if (j > i)
            out.push_back(path.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

// Container ids: docker, containerd, CRI-O and podman all use 64 lowercase
// hex digits; shorter ones (>= 12) are accepted for hand-made cgroups.
bool is_container_id(std::string_view s)
{
    if (s.size() < 12 || s.size() > 64)
        return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

// A pod uid as the kubelet writes it: hex and dashes (systemd: underscores).
std::optional<std::string> pod_uid_of(std::string_view raw)
{
    if (raw.empty() || raw.size() > 64)
        return std::nullopt;
    std::string uid(raw);
    for (char& c : uid) {
        if (c == '_')
            c = '-';
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-'))
            return std::nullopt;
    }
    return uid;
}

// `kubepods-burstable-pod<uid>.slice` / `kubepods-pod<uid>.slice` (systemd
// driver) or `pod<uid>` below a kubepods directory (cgroupfs driver).
std::optional<std::string> pod_component(std::string_view c, bool under_kubepods)
{
    if (starts_with(c, "kubepods") && ends_with(c, ".slice")) {
        std::string_view name = strip_suffix(c, ".slice");
        std::size_t p = name.rfind("-pod");
        if (p == std::string_view::npos)
            return std::nullopt;
        return pod_uid_of(name.substr(p + 4));
    }
    if (under_kubepods && starts_with(c, "pod"))
        return pod_uid_of(c.substr(3));
    return std::nullopt;
}

struct Match {
    std::string_view id;
    const char* runtime = nullptr;
};

// One path component, with its parent (empty at the top).
std::optional<Match> container_component(std::string_view c, std::string_view parent, bool under_kubepods)
{
    struct Prefix {
        std::string_view prefix;
        const char* runtime; // nullptr: a runtime's monitor process, not a container
    };
    static const Prefix kPrefixes[] = {
        {"cri-containerd-", "containerd"}, {"docker-", "docker"},
        {"crio-conmon-", nullptr},         {"crio-", "cri-o"},
        {"libpod-conmon-", nullptr},       {"libpod-", "podman"},
    };
    std::string_view name = strip_suffix(c, ".scope");
    for (const auto& p : kPrefixes) {
        if (!starts_with(name, p.prefix))
            continue;
        if (!p.runtime)
            return std::nullopt;
        std::string_view id = name.substr(p.prefix.size());
        if (is_container_id(id))
            return Match{id, p.runtime};
        return std::nullopt;
    }
    if (is_container_id(c)) {
        if (parent == "docker")
            return Match{c, "docker"};
        if (under_kubepods && starts_with(parent, "pod") && pod_uid_of(parent.substr(3)))
            return Match{c, "cri"};
    }
    return std::nullopt;
}

} // namespace

std::string parse_pod_uid(std::string_view cgroup_path)
{
    auto parts = components(cgroup_path);
    bool kube = false;
    std::string uid;
    for (auto c : parts) {
        if (auto u = pod_component(c, kube))
            uid = *u;
        if (starts_with(c, "kubepods"))
            kube = true;
    }
    return uid;
}

std::optional<ContainerRef> parse_container(std::string_view cgroup_path)
{
    auto parts = components(cgroup_path);
    // under[i]: some component above i starts with "kubepods".
    std::vector<bool> under(parts.size(), false);
    for (std::size_t i = 1; i < parts.size(); ++i)
        under[i] = under[i - 1] || starts_with(parts[i - 1], "kubepods");
    for (std::size_t i = parts.size(); i-- > 0;) {
        std::string_view parent = i ? parts[i - 1] : std::string_view{};
        auto m = container_component(parts[i], parent, under[i]);
        if (!m)
            continue;
        ContainerRef r;
        r.id = std::string(m->id);
        r.runtime = m->runtime;
        for (std::size_t j = i; j-- > 0;) {
            if (auto u = pod_component(parts[j], under[j])) {
                r.pod_uid = *u;
                break;
            }
        }
        return r;
    }
    return std::nullopt;
}

std::string short_container_id(const std::string& id)
{
    return id.substr(0, 12);
}

std::optional<std::string> cgroup_path_from_proc(std::string_view text)
{
    std::optional<std::string> unified, systemd;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t eol = text.find('\n', i);
        if (eol == std::string_view::npos)
            eol = text.size();
        std::string_view line = text.substr(i, eol - i);
        i = eol + 1;
        // hierarchy-ID:controller-list:path (the path may itself hold ':')
        std::size_t c1 = line.find(':');
        if (c1 == std::string_view::npos)
            continue;
        std::size_t c2 = line.find(':', c1 + 1);
        if (c2 == std::string_view::npos)
            continue;
        std::string_view hier = line.substr(0, c1);
        std::string_view ctrl = line.substr(c1 + 1, c2 - c1 - 1);
        std::string_view path = strip_suffix(line.substr(c2 + 1), " (deleted)");
        if (path.empty() || path[0] != '/')
            continue;
        if (hier == "0" && ctrl.empty()) {
            if (!unified)
                unified = std::string(path);
            continue;
        }
        // The controller list is comma-separated.
        std::size_t k = 0;
        while (k <= ctrl.size()) {
            std::size_t comma = ctrl.find(',', k);
            if (comma == std::string_view::npos)
                comma = ctrl.size();
            if (ctrl.substr(k, comma - k) == "name=systemd" && !systemd)
                systemd = std::string(path);
            k = comma + 1;
        }
    }
    return unified ? unified : systemd;
}

std::optional<std::uint32_t> nspid_from_status(std::string_view text)
{
    std::size_t at = 0;
    for (;;) {
        std::size_t p = text.find("NSpid:", at);
        if (p == std::string_view::npos)
            return std::nullopt;
        if (p == 0 || text[p - 1] == '\n') {
            at = p + 6;
            break;
        }
        at = p + 6;
    }
    std::size_t eol = text.find('\n', at);
    std::string_view rest =
        text.substr(at, eol == std::string_view::npos ? std::string_view::npos : eol - at);
    std::optional<std::uint32_t> last;
    std::size_t i = 0;
    while (i < rest.size()) {
        while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t'))
            ++i;
        if (i >= rest.size())
            break;
        std::uint64_t v = 0;
        std::size_t digits = 0;
        while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
            v = v * 10 + static_cast<std::uint64_t>(rest[i] - '0');
            if (v > 0xffffffffULL)
                return std::nullopt;
            ++i;
            ++digits;
        }
        if (!digits || (i < rest.size() && rest[i] != ' ' && rest[i] != '\t'))
            return std::nullopt;
        last = static_cast<std::uint32_t>(v);
    }
    return last;
}

std::optional<ContainerRef> container_from_proc(std::string_view text)
{
    if (auto path = cgroup_path_from_proc(text))
        if (auto c = parse_container(*path))
            return c;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        std::size_t c1 = line.find(':');
        std::size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string_view::npos)
            continue;
        if (auto c = parse_container(line.substr(c2 + 1)))
            return c;
    }
    return std::nullopt;
}

bool container_matches(const ProcessMeta& m, const std::string& id_prefix)
{
    if (id_prefix.empty())
        return true;
    return m.container && m.container->id.compare(0, id_prefix.size(), id_prefix) == 0;
}

bool cgroup_matches(const ProcessMeta& m, const std::string& cgroup)
{
    if (cgroup.empty())
        return true;
    std::string want = cgroup;
    while (want.size() > 1 && want.back() == '/')
        want.pop_back();
    if (m.cgroup.compare(0, want.size(), want) != 0)
        return false;
    return want == "/" || m.cgroup.size() == want.size() || m.cgroup[want.size()] == '/';
}

} // namespace cwt
