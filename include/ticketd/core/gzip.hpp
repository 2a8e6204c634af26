#pragma once
// gzip (RFC 1952) compression, shared by the edge's response compression and
// the catalog's pre-compressed seat maps.

#include <string>
#include <string_view>

namespace ticketd {

/// gzip of `data` at the given zlib level (6 is zlib's default); throws
/// std::runtime_error if zlib fails.
std::string Gzip(std::string_view data, int level = 6);

}  // namespace ticketd
