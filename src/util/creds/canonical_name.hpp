// The one name a user's cached credentials are kept under. alice, Alice and
// alice@DOMAIN must be one account: otherwise a guesser gets a fresh lockout
// counter for every spelling of the name.
#pragma once

#include "util/result.hpp"

#include <string>
#include <string_view>

namespace vigil::creds {

struct DomainNaming {
    std::string domain;           // the [domain/NAME] section's NAME
    bool case_sensitive = false;  // false: names compare (and are stored) in lowercase
};

// "Alice@EXAMPLE" -> "alice" for domain example. A suffix naming another
// domain, an empty name, or one with control characters is refused
// (invalid_argument): it cannot be this domain's user.
Result<std::string> canonical_user_name(std::string_view name, const DomainNaming &naming);

} // namespace vigil::creds
