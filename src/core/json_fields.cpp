#include "ticketd/core/json_fields.hpp"

#include <algorithm>

namespace ticketd {

namespace json = boost::json;

JsonFields::JsonFields(json::object body, std::initializer_list<std::string_view> allowed) : body_(std::move(body)) {
  for (const auto& kv : body_) {
    if (std::find(allowed.begin(), allowed.end(), std::string_view(kv.key())) == allowed.end()) {
      errors_.push_back({std::string(kv.key()), "unknown field"});
    }
  }
}

const json::value* JsonFields::Find(std::string_view name) const {
  const auto* v = body_.if_contains(name);
  return (v == nullptr || v->is_null()) ? nullptr : v;
}

void JsonFields::Fail(std::string field, std::string message) { errors_.push_back({std::move(field), std::move(message)}); }

std::optional<std::string> JsonFields::OptionalString(std::string_view name, std::size_t max_bytes) {
  const auto* v = Find(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    Fail(std::string(name), "must be a string");
    return std::nullopt;
  }
  if (v->as_string().size() > max_bytes) {
    Fail(std::string(name), "is too long (at most " + std::to_string(max_bytes) + " bytes)");
    return std::nullopt;
  }
  return std::string(v->as_string());
}

std::string JsonFields::String(std::string_view name, std::size_t max_bytes) {
  if (Find(name) == nullptr) {
    Fail(std::string(name), "is required");
    return {};
  }
  return OptionalString(name, max_bytes).value_or("");
}

std::optional<bool> JsonFields::OptionalBool(std::string_view name) {
  const auto* v = Find(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    Fail(std::string(name), "must be true or false");
    return std::nullopt;
  }
  return v->as_bool();
}

std::optional<std::int64_t> JsonFields::OptionalInt(std::string_view name) {
  const auto* v = Find(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v->as_uint64());
  Fail(std::string(name), "must be an integer");
  return std::nullopt;
}

std::int64_t JsonFields::Int(std::string_view name) {
  if (Find(name) == nullptr) {
    Fail(std::string(name), "is required");
    return 0;
  }
  return OptionalInt(name).value_or(0);
}

std::optional<json::array> JsonFields::OptionalArray(std::string_view name, std::size_t max_items) {
  const auto* v = Find(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array()) {
    Fail(std::string(name), "must be an array");
    return std::nullopt;
  }
  if (v->as_array().size() > max_items) {
    Fail(std::string(name), "has too many items (at most " + std::to_string(max_items) + ")");
    return std::nullopt;
  }
  return v->as_array();
}

json::array JsonFields::Array(std::string_view name, std::size_t max_items) {
  if (Find(name) == nullptr) {
    Fail(std::string(name), "is required");
    return {};
  }
  return OptionalArray(name, max_items).value_or(json::array{});
}

void JsonFields::Finish(int status) const {
  if (errors_.empty()) return;
  std::string detail = "Invalid request body: ";
  for (std::size_t i = 0; i < errors_.size(); ++i) {
    if (i > 0) detail += "; ";
    detail += errors_[i].field + " " + errors_[i].message;
  }
  throw ApiError(problems::ValidationFailed(detail, errors_, status));
}

}  // namespace ticketd
