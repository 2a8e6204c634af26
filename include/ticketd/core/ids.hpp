#pragma once
// Identifiers: random UUIDv4 strings from OpenSSL's CSPRNG, and validation.

#include <string>
#include <string_view>

namespace ticketd {

/// A new random (version 4) UUID in canonical lower-case form.
std::string NewUuid();
/// True for a canonical 8-4-4-4-12 hex UUID (either case).
bool IsUuid(std::string_view text);

}  // namespace ticketd
