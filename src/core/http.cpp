#include "ticketd/core/http.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <stdexcept>

#include "ticketd/core/router.hpp"

namespace ticketd::http {

namespace json = boost::json;

std::string_view ToString(AuthLevel level) {
  switch (level) {
    case AuthLevel::kPublic: return "public";
    case AuthLevel::kUser: return "user";
    case AuthLevel::kAdmin: return "admin";
    case AuthLevel::kSignature: return "signature";
  }
  return "unknown";
}

const std::string& Request::Param(std::string_view name) const {
  for (const auto& [key, value] : path_params) {
    if (key == name) return value;
  }
  throw std::out_of_range("no path parameter " + std::string(name));
}

std::optional<std::string> Request::Query(std::string_view name) const {
  const std::string_view target = raw.target();
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;  // as ParseQuery (ticketd/core/input.hpp): `?&=x` has "" = "x"
    const auto eq = pair.find('=');
    std::string key;
    if (!PercentDecode(pair.substr(0, eq), key, true) || key != name) continue;
    std::string value;
    if (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), value, true)) {
      throw ApiError(problems::ValidationFailed("Malformed query parameter", {{std::string(name), "malformed percent-encoding"}}));
    }
    return value;
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  const auto it = raw.find(name);
  if (it == raw.end()) return std::nullopt;
  return std::string_view(it->value());
}

json::object Request::JsonBody() const {
  const auto content_type = Header("Content-Type").value_or("");
  const auto semi = content_type.find(';');
  std::string media(content_type.substr(0, semi));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  for (auto& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (media != "application/json") {
    throw ApiError(problems::Make(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type",
                                  "Request bodies must be application/json"));
  }
  boost::system::error_code ec;
  json::value v = json::parse(raw.body(), ec);
  if (ec) throw ApiError(problems::MalformedJson("The request body is not valid JSON: " + ec.message()));
  if (!v.is_object()) throw ApiError(problems::MalformedJson("The request body must be a JSON object"));
  return std::move(v.as_object());
}

Response Json(Status status, const json::value& body) {
  Response res{status, 11};
  res.set(beast_http::field::content_type, "application/json");
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
}

Response Empty(Status status) {
  Response res{status, 11};
  res.prepare_payload();
  return res;
}

void SetSecurityHeaders(Response& res) {
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  if (res.find("Content-Security-Policy") == res.end()) {
    res.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  }
}

Response ProblemResponse(const Problem& problem, std::string_view request_id) {
  json::object body;
  body["type"] = problem.TypeUri();
  body["title"] = problem.title;
  body["status"] = problem.status;
  if (!problem.detail.empty()) body["detail"] = problem.detail;
  body["code"] = problem.code;
  body["requestId"] = request_id;
  if (!problem.errors.empty()) {
    json::array errors;
    for (const auto& e : problem.errors) errors.push_back(json::object{{"field", e.field}, {"message", e.message}});
    body["errors"] = std::move(errors);
  }
  Response res{static_cast<Status>(problem.status), 11};
  res.set(beast_http::field::content_type, "application/problem+json");
  if (problem.retry_after) res.set(beast_http::field::retry_after, std::to_string(*problem.retry_after));
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
}

}  // namespace ticketd::http
