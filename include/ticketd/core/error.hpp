#pragma once
// The one error shape of the API (RFC 9457 problem details, see API.md) and the
// exception used to carry it from deep inside a handler to the connection edge.

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ticketd {

/// One invalid input field: `field` is a JSON path such as `seatIds[1]`.
struct FieldError {
  std::string field;
  std::string message;
};

/// An API error. `code` is stable and machine-readable (UPPER_SNAKE); `status`
/// the HTTP status; `title` a short human summary that depends only on `code`;
/// `detail` a human explanation of this occurrence (never internals).
struct Problem {
  int status = 500;
  std::string code = "INTERNAL";
  std::string title = "Internal error";
  std::string detail;
  std::vector<FieldError> errors;
  /// Seconds; when set the response carries `Retry-After`.
  std::optional<int> retry_after;

  /// `https://ticketd.dev/problems/<code in kebab-case>`.
  [[nodiscard]] std::string TypeUri() const;
};

namespace problems {
Problem ValidationFailed(std::string detail, std::vector<FieldError> errors = {}, int status = 400);
Problem MalformedJson(std::string detail);
Problem Unauthenticated(std::string detail = "Authentication required");
Problem Forbidden(std::string detail = "Not allowed");
Problem NotFound(std::string detail = "Resource not found");
Problem MethodNotAllowed(std::string detail);
Problem Conflict(std::string code, std::string detail);
Problem PayloadTooLarge(std::string detail);
Problem HeaderTooLarge();
Problem BadRequest(std::string detail);
Problem ServiceUnavailable(std::string detail, int retry_after_seconds = 1);
Problem Internal();
/// Any other documented code, e.g. Make(409, "SEAT_UNAVAILABLE", "Seat unavailable", "...").
Problem Make(int status, std::string code, std::string title, std::string detail);
}  // namespace problems

/// Thrown by handlers and module edges; the connection turns it into a
/// problem+json response. Anything else that escapes a handler becomes a
/// logged 500 `INTERNAL` with no details in the body.
class ApiError : public std::exception {
 public:
  explicit ApiError(Problem problem) : problem_(std::move(problem)) {}
  [[nodiscard]] const Problem& problem() const noexcept { return problem_; }
  [[nodiscard]] const char* what() const noexcept override { return problem_.code.c_str(); }

 private:
  Problem problem_;
};

/// Classified dependency failure (Postgres, Kafka, gateway): maps to 503
/// `SERVICE_UNAVAILABLE` with Retry-After. `retryable` tells background
/// workers whether trying again later can help.
class DependencyUnavailable : public std::exception {
 public:
  DependencyUnavailable(std::string dependency, std::string reason, bool retryable = true)
      : dependency_(std::move(dependency)), reason_(std::move(reason)), retryable_(retryable) {}
  [[nodiscard]] const std::string& dependency() const noexcept { return dependency_; }
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
  [[nodiscard]] bool IsRetryable() const noexcept { return retryable_; }
  [[nodiscard]] const char* what() const noexcept override { return reason_.c_str(); }

 private:
  std::string dependency_;
  std::string reason_;
  bool retryable_;
};

}  // namespace ticketd
