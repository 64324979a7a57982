#include "responder/nss/nss_memory.hpp"

#include <numeric>

namespace vigil::responder {

std::size_t HotAnswers::cost(std::string_view key, const Formatted &f)
{
    // What the entry holds, roughly (the map node included): enough for a bound.
    return key.size() + f.name.size() + (f.body ? f.body->size() : 0) + 128;
}

std::size_t HotAnswers::bytes() const { return std::accumulate(bytes_.begin(), bytes_.end(), std::size_t{0}); }

void HotAnswers::keep(dp_iface::Lookup lookup, std::string_view key, const Formatted &answer)
{
    const std::size_t c = cost(key, answer);
    if (c > limits_.bytes) return; // never worth more than the whole table
    if (const Formatted *old = table_.find(lookup, key)) bytes_of(lookup) -= cost(key, *old);
    if (table_.size() >= limits_.entries || bytes() + c > limits_.bytes) clear();
    table_.put(lookup, key, answer);
    bytes_of(lookup) += c;
}

void HotAnswers::clear()
{
    table_.clear();
    bytes_.fill(0);
}

void HotAnswers::clear(dp_iface::Lookup lookup)
{
    table_.clear(lookup);
    bytes_of(lookup) = 0;
}

} // namespace vigil::responder
