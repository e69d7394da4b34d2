// Values that many tracked sockets share (a process's name, a listener),
// stored once and referred to by a 32-bit index with a reference count, so a
// per-socket record holds 4 bytes instead of a copy.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace cwt
{

template <typename T, typename Hash = std::hash<T>> class RefTable
{
  public:
    static constexpr std::uint32_t kNone = 0xffffffffu;

    // The index of v, counted once more.
    std::uint32_t acquire(const T& v)
    {
        auto it = index_.find(v);
        if (it != index_.end()) {
            ++slots_[it->second].refs;
            return it->second;
        }
        std::uint32_t id;
        if (!free_.empty()) {
            id = free_.back();
            free_.pop_back();
            slots_[id] = Slot{v, 1};
        } else {
            id = static_cast<std::uint32_t>(slots_.size());
            slots_.push_back(Slot{v, 1});
        }
        index_.emplace(v, id);
        return id;
    }
    // One reference fewer; the value is dropped with its last one.
    void release(std::uint32_t id)
    {
        if (id == kNone || --slots_[id].refs)
            return;
        index_.erase(slots_[id].value);
        slots_[id].value = T{};
        free_.push_back(id);
    }
    const T& operator[](std::uint32_t id) const { return slots_[id].value; }
    std::size_t size() const { return index_.size(); }

  private:
    struct Slot {
        T value;
        std::uint32_t refs = 0;
    };
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    std::unordered_map<T, std::uint32_t, Hash> index_;
};

} // namespace cwt
