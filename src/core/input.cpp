#include "ticketd/core/input.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <cctype>
#include <set>

#include "ticketd/core/http.hpp"
#include "ticketd/core/router.hpp"

namespace ticketd::http {

namespace json = boost::json;

namespace {

// Length of the valid UTF-8 sequence at text[i] and its code point, or 0.
std::size_t Decode(std::string_view text, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool IsControl(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

std::string FieldName(std::string_view raw) {
  // A field name echoed in a problem document must itself be valid JSON text.
  return SanitizeText(raw, 100);
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  char32_t cp = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto n = Decode(text, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::optional<std::string> TextProblem(std::string_view text, bool allow_line_breaks) {
  char32_t cp = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto n = Decode(text, i, cp);
    if (n == 0) return "must be valid UTF-8";
    if (cp == 0) return "must not contain NUL characters";
    if (IsControl(cp) && !(allow_line_breaks && (cp == '\t' || cp == '\n' || cp == '\r'))) {
      return "must not contain control characters";
    }
    i += n;
  }
  return std::nullopt;
}

std::string_view TruncateUtf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  // Step back over continuation bytes to the start of the cut character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::string SanitizeText(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  char32_t cp = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto n = Decode(text, i, cp);
    std::string_view piece;
    if (n == 0) {
      piece = "\xEF\xBF\xBD";  // U+FFFD for one bad byte
      i += 1;
    } else if (IsControl(cp)) {
      piece = " ";
      i += n;
    } else {
      piece = text.substr(i, n);
      i += n;
    }
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece);
  }
  return out;
}

// Split on '&' and '=' here, decoded by Boost.URL (PercentDecode): its
// parse_query refuses a whole query over one byte outside RFC 3986 (a raw
// space, '|', UTF-8), where we decode what we can and name the one bad field.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query, std::vector<FieldError>& errors) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string key;
    std::string value;
    const bool key_ok = PercentDecode(pair.substr(0, eq), key, true);
    const bool value_ok = eq == std::string_view::npos || PercentDecode(pair.substr(eq + 1), value, true);
    if (!key_ok || !value_ok) {
      errors.push_back({FieldName(key_ok ? key : pair.substr(0, eq)), "malformed percent-encoding"});
      continue;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

void CheckJsonText(const json::value& value, std::vector<FieldError>& errors, std::string path) {
  constexpr std::size_t kMaxErrors = 20;
  if (errors.size() >= kMaxErrors) return;
  switch (value.kind()) {
    case json::kind::string:
      if (auto problem = TextProblem(value.get_string(), true)) errors.push_back({path.empty() ? "body" : path, *problem});
      break;
    case json::kind::array: {
      const auto& a = value.get_array();
      for (std::size_t i = 0; i < a.size(); ++i) CheckJsonText(a[i], errors, path + "[" + std::to_string(i) + "]");
      break;
    }
    case json::kind::object:
      for (const auto& kv : value.get_object()) {
        const std::string_view key = kv.key();
        std::string child = path.empty() ? FieldName(key) : path + "." + FieldName(key);
        if (auto problem = TextProblem(key, false)) {
          errors.push_back({child, "field name " + *problem});
          continue;
        }
        CheckJsonText(kv.value(), errors, std::move(child));
      }
      break;
    default:
      break;
  }
}

namespace {

bool IsJson(std::string_view content_type) {
  const auto semi = content_type.find(';');
  std::string media(content_type.substr(0, semi));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  for (auto& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return media == "application/json";
}

}  // namespace

void CheckInput(Request& request) {
  if (auto ua = request.raw.find(beast_http::field::user_agent); ua != request.raw.end()) {
    const std::string_view value = ua->value();
    if (value.size() > kMaxUserAgentBytes || !IsValidUtf8(value) || TextProblem(value, false)) {
      request.raw.set(beast_http::field::user_agent, SanitizeText(value, kMaxUserAgentBytes));
    }
  }

  std::vector<FieldError> errors;
  for (const auto& [name, value] : request.path_params) {
    if (auto problem = TextProblem(value, false)) errors.push_back({name, *problem});
  }

  const std::string_view target = request.raw.target();
  if (const auto q = target.find('?'); q != std::string_view::npos) {
    std::set<std::string, std::less<>> seen;
    for (const auto& [key, value] : ParseQuery(target.substr(q + 1), errors)) {
      const auto field = FieldName(key);
      if (auto problem = TextProblem(key, false)) {
        errors.push_back({field, "parameter name " + *problem});
      } else if (auto vproblem = TextProblem(value, false)) {
        errors.push_back({field, *vproblem});
      } else if (!seen.insert(key).second) {
        errors.push_back({field, "is given more than once"});
      }
    }
  }

  if (!request.raw.body().empty()) {
    // Every ticketd request body is a JSON object: refused here for every
    // route, even those that ignore their body.
    const bool any_type = request.meta != nullptr && request.meta->json_any_content_type;
    if (!any_type && !IsJson(request.raw[beast_http::field::content_type])) {
      throw ApiError(problems::Make(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type",
                                    "Request bodies must be application/json"));
    }
    boost::system::error_code ec;
    const json::value body = json::parse(request.raw.body(), ec);
    if (ec) throw ApiError(problems::MalformedJson("The request body is not valid JSON: " + ec.message()));
    if (!body.is_object()) throw ApiError(problems::MalformedJson("The request body must be a JSON object"));
    CheckJsonText(body, errors);
  }

  if (!errors.empty()) {
    std::string detail = "Invalid text in the request: ";
    for (std::size_t i = 0; i < errors.size(); ++i) {
      if (i > 0) detail += "; ";
      detail += errors[i].field + " " + errors[i].message;
    }
    throw ApiError(problems::ValidationFailed(std::move(detail), std::move(errors), 422));
  }
}

}  // namespace ticketd::http
