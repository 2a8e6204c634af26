#include "ticketd/core/query_params.hpp"

#include <charconv>
#include <string>

namespace ticketd::http {

int QueryInt(const Request& r, std::string_view name, int fallback, int lo, int hi, std::vector<FieldError>& errors) {
  const auto v = r.Query(name);
  if (!v) return fallback;
  int n = 0;
  const auto* end = v->data() + v->size();
  const auto [p, ec] = std::from_chars(v->data(), end, n);
  if (ec != std::errc() || p != end || n < lo || n > hi) {
    errors.push_back({std::string(name), "must be an integer " + std::to_string(lo) + "-" + std::to_string(hi)});
    return fallback;
  }
  return n;
}

int QueryInt(const Request& r, std::string_view name, int fallback, int lo, int hi) {
  std::vector<FieldError> errors;
  const int n = QueryInt(r, name, fallback, lo, hi, errors);
  if (!errors.empty()) throw ApiError(problems::ValidationFailed("Invalid query parameters", std::move(errors)));
  return n;
}

}  // namespace ticketd::http
