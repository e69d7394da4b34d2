// One error type for everything the user can fix: a cause and a remedy,
// printed as one line by main().
#pragma once

#include <stdexcept>
#include <string>

namespace cwt
{

class UserError : public std::runtime_error
{
  public:
    UserError(const std::string& cause, std::string remedy)
        : std::runtime_error(cause), remedy_(std::move(remedy))
    {
    }
    const std::string& remedy() const { return remedy_; }

  private:
    std::string remedy_;
};

} // namespace cwt
