#include "ticketd/core/error.hpp"

#include <cctype>

namespace ticketd {

std::string Problem::TypeUri() const {
  std::string slug;
  slug.reserve(code.size());
  for (char c : code) slug.push_back(c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return "https://ticketd.dev/problems/" + slug;
}

namespace problems {

Problem Make(int status, std::string code, std::string title, std::string detail) {
  Problem p;
  p.status = status;
  p.code = std::move(code);
  p.title = std::move(title);
  p.detail = std::move(detail);
  return p;
}

Problem ValidationFailed(std::string detail, std::vector<FieldError> errors, int status) {
  Problem p = Make(status, "VALIDATION_FAILED", "Validation failed", std::move(detail));
  p.errors = std::move(errors);
  return p;
}

Problem MalformedJson(std::string detail) { return Make(400, "MALFORMED_JSON", "Malformed JSON", std::move(detail)); }

Problem Unauthenticated(std::string detail) {
  return Make(401, "UNAUTHENTICATED", "Authentication required", std::move(detail));
}

Problem Forbidden(std::string detail) { return Make(403, "FORBIDDEN", "Forbidden", std::move(detail)); }

Problem NotFound(std::string detail) { return Make(404, "NOT_FOUND", "Not found", std::move(detail)); }

Problem MethodNotAllowed(std::string detail) {
  return Make(405, "METHOD_NOT_ALLOWED", "Method not allowed", std::move(detail));
}

Problem Conflict(std::string code, std::string detail) {
  return Make(409, std::move(code), "Conflict", std::move(detail));
}

Problem PayloadTooLarge(std::string detail) {
  return Make(413, "PAYLOAD_TOO_LARGE", "Payload too large", std::move(detail));
}

Problem HeaderTooLarge() {
  return Make(431, "HEADER_TOO_LARGE", "Request header fields too large",
              "The request's header section exceeds the server's limit");
}

Problem BadRequest(std::string detail) { return Make(400, "BAD_REQUEST", "Bad request", std::move(detail)); }

Problem ServiceUnavailable(std::string detail, int retry_after_seconds) {
  Problem p = Make(503, "SERVICE_UNAVAILABLE", "Service unavailable", std::move(detail));
  p.retry_after = retry_after_seconds;
  return p;
}

Problem Internal() { return Make(500, "INTERNAL", "Internal error", "An unexpected error occurred"); }

}  // namespace problems
}  // namespace ticketd
