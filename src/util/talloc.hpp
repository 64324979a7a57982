// RAII over talloc: a TallocPtr owns a talloc tree (the object and all its
// children) and frees it at scope exit, so C++ code never calls talloc_free
// by hand. tevent requests are talloc objects too: freeing one cancels it.
#pragma once

#include <memory>
#include <talloc.h>

struct tevent_req;

namespace vigil {

struct TallocFree {
    // const: a TallocPtr<const T> must be freeable. talloc_free can only fail
    // for a pointer with talloc references, which this code never creates.
    void operator()(const void *ptr) const noexcept
    {
        if (ptr != nullptr) talloc_free(const_cast<void *>(ptr));
    }
};

template <class T>
using TallocPtr = std::unique_ptr<T, TallocFree>;

using TeventReqPtr = TallocPtr<struct tevent_req>;

// A named top-level context: the name shows up in talloc reports
// (talloc_report_full), which is how a leak gets traced to its owner.
// Null (an empty pointer) only when out of memory.
inline TallocPtr<void> make_talloc_ctx(const char *name)
{
    return TallocPtr<void>(talloc_named(nullptr, 0, "%s", name != nullptr ? name : "vigil"));
}

} // namespace vigil
