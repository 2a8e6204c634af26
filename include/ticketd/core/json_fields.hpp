#pragma once
// Strict reading of JSON request bodies for handlers: unknown fields are
// rejected (no mass assignment), types are checked, and every problem is
// collected so the client gets one 400 VALIDATION_FAILED listing all fields.
//
//   JsonFields f(request.JsonBody(), {"email", "password"});
//   auto email = f.String("email");            // required
//   auto note  = f.OptionalString("note", 200);
//   f.Finish();                                 // throws ApiError if anything was wrong

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ticketd/core/error.hpp"

namespace ticketd {

class JsonFields {
 public:
  JsonFields(boost::json::object body, std::initializer_list<std::string_view> allowed);

  /// Required string (≤ max_bytes); "" when missing or invalid (the error is recorded).
  std::string String(std::string_view name, std::size_t max_bytes = 1024);
  std::optional<std::string> OptionalString(std::string_view name, std::size_t max_bytes = 1024);
  std::optional<bool> OptionalBool(std::string_view name);
  std::optional<std::int64_t> OptionalInt(std::string_view name);
  std::int64_t Int(std::string_view name);
  /// Required array; empty when missing or invalid.
  boost::json::array Array(std::string_view name, std::size_t max_items = 100);
  std::optional<boost::json::array> OptionalArray(std::string_view name, std::size_t max_items = 100);

  /// Records a domain-level problem with a field.
  void Fail(std::string field, std::string message);
  [[nodiscard]] bool ok() const noexcept { return errors_.empty(); }
  /// Throws ApiError VALIDATION_FAILED (status 400) listing every field error.
  void Finish(int status = 400) const;

 private:
  const boost::json::value* Find(std::string_view name) const;
  boost::json::object body_;
  std::vector<FieldError> errors_;
};

}  // namespace ticketd
