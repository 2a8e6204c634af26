#pragma once
// Request input checked once, at the edge, for every route (server dispatch,
// before the handler): handlers may rely on every path parameter, query key
// and value and JSON string being valid UTF-8 without NUL or other control
// characters, and on the text headers they store or log (User-Agent) being
// valid UTF-8 of bounded size.

#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ticketd/core/error.hpp"

namespace ticketd::http {

struct Request;

/// Largest User-Agent kept (bytes, cut on a character boundary).
inline constexpr std::size_t kMaxUserAgentBytes = 512;

/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

/// Why `text` is not acceptable text, or nullopt when it is: invalid UTF-8,
/// NUL, or another control character (C0, DEL, C1). `allow_line_breaks`
/// admits TAB, LF and CR (JSON strings); query and path values admit none.
std::optional<std::string> TextProblem(std::string_view text, bool allow_line_breaks);

/// `text` made storable: invalid sequences become U+FFFD, control characters
/// a space, and the result is at most `max_bytes` long, cut on a character
/// boundary (never inside a multi-byte character).
std::string SanitizeText(std::string_view text, std::size_t max_bytes);

/// The longest prefix of valid UTF-8 `text` of at most `max_bytes` that ends on
/// a character boundary.
std::string_view TruncateUtf8(std::string_view text, std::size_t max_bytes);

/// Splits a query string (after `?`) into decoded key/value pairs, in order.
/// `+` is a space. A malformed percent escape is reported in `errors`
/// (field = the raw key) and the pair is skipped.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query, std::vector<FieldError>& errors);

/// Every string (object keys and values, at any depth) of a JSON value is
/// acceptable text; problems are appended with a JSON path (`seats[2].label`).
void CheckJsonText(const boost::json::value& value, std::vector<FieldError>& errors, std::string path = {});

/// The edge check, run for every routed request before its handler:
/// path parameters, every query key and value (a key given twice is refused
/// too: proxies and the handler could read different ones) and every JSON
/// string (keys too) of the body. Throws ApiError 422 VALIDATION_FAILED
/// naming each field. A non-empty body must be an application/json object:
/// otherwise 415 UNSUPPORTED_MEDIA_TYPE or 400 MALFORMED_JSON, for every
/// route. Also replaces User-Agent by SanitizeText(…, 512).
void CheckInput(Request& request);

}  // namespace ticketd::http
