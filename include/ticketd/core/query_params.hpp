#pragma once
// Typed query parameters for handlers, reported in the one error shape.

#include <string_view>
#include <vector>

#include "ticketd/core/error.hpp"
#include "ticketd/core/http.hpp"

namespace ticketd::http {

/// Integer query parameter in [lo, hi]; `fallback` when absent. A malformed or
/// out-of-range value is recorded in `errors` ("must be an integer lo-hi") and
/// `fallback` is returned, so a handler can report every bad parameter at once.
int QueryInt(const Request& r, std::string_view name, int fallback, int lo, int hi, std::vector<FieldError>& errors);
/// The same, throwing 400 VALIDATION_FAILED ("Invalid query parameters") at once.
int QueryInt(const Request& r, std::string_view name, int fallback, int lo, int hi);

}  // namespace ticketd::http
