#include "auth/adapters.hpp"

#include <boost/json.hpp>

#include "auth/crypto.hpp"
#include "ticketd/core/error.hpp"

namespace ticketd::auth {

namespace json = boost::json;

namespace {

std::string FormEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace

boost::asio::awaitable<bool> SandboxCaptcha::Verify(std::string token, std::string /*remote_ip*/) {
  co_return token == "test-pass";
}

RecaptchaVerifier::RecaptchaVerifier(std::shared_ptr<http::HttpClient> client, std::string secret, std::string url)
    : client_(std::move(client)), secret_(std::move(secret)), url_(std::move(url)) {}

boost::asio::awaitable<bool> RecaptchaVerifier::Verify(std::string token, std::string remote_ip) {
  if (token.empty()) co_return false;
  const std::string form = "secret=" + FormEncode(secret_) + "&response=" + FormEncode(token) +
                           (remote_ip.empty() ? "" : "&remoteip=" + FormEncode(remote_ip));
  // (headers in a local: GCC 12 miscompiles braced string arrays inside co_await)
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  const auto res = co_await client_->Send(boost::beast::http::verb::post, url_, std::move(headers), form);
  if (res.status != 200) throw DependencyUnavailable("recaptcha", "siteverify answered " + std::to_string(res.status));
  boost::system::error_code ec;
  const auto v = json::parse(res.body, ec);
  if (ec || !v.is_object()) throw DependencyUnavailable("recaptcha", "siteverify sent malformed JSON");
  const auto* success = v.as_object().if_contains("success");
  co_return success != nullptr && success->is_bool() && success->as_bool();
}

std::optional<VerifiedIdentity> SandboxIdentity::VerifyNow(const PersonData& p) {
  const std::string person = p.name + '\n' + p.phone + '\n' + p.birth_date;
  return VerifiedIdentity{Base64Encode(HmacSha256(key_, "ci\n" + person)), Base64Encode(HmacSha256(key_, "di\n" + person))};
}

boost::asio::awaitable<std::optional<VerifiedIdentity>> SandboxIdentity::Fetch(std::string /*verification_id*/) {
  co_return std::nullopt;  // sandbox verifications are complete when started
}

PortOneIdentity::PortOneIdentity(std::shared_ptr<http::HttpClient> client, std::string api_secret, std::string base_url)
    : client_(std::move(client)), secret_(std::move(api_secret)), base_url_(std::move(base_url)) {}

boost::asio::awaitable<std::optional<VerifiedIdentity>> PortOneIdentity::Fetch(std::string verification_id) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("Authorization", "PortOne " + secret_);
  // A named URL, not a temporary in the co_await operand (GCC 12 may destroy those twice).
  std::string url = base_url_ + "/identity-verifications/" + verification_id;
  const auto res = co_await client_->Send(boost::beast::http::verb::get, std::move(url), std::move(headers));
  if (res.status == 404) co_return std::nullopt;
  if (res.status != 200) throw DependencyUnavailable("portone", "identity verification answered " + std::to_string(res.status));
  boost::system::error_code ec;
  const auto v = json::parse(res.body, ec);
  if (ec || !v.is_object()) throw DependencyUnavailable("portone", "malformed identity verification");
  const auto& o = v.as_object();
  const auto* status = o.if_contains("status");
  if (status == nullptr || !status->is_string() || status->as_string() != "VERIFIED") co_return std::nullopt;
  const auto* customer = o.if_contains("verifiedCustomer");
  if (customer == nullptr || !customer->is_object()) co_return std::nullopt;
  const auto* ci = customer->as_object().if_contains("ci");
  const auto* di = customer->as_object().if_contains("di");
  if (ci == nullptr || !ci->is_string() || ci->as_string().empty()) co_return std::nullopt;
  co_return VerifiedIdentity{std::string(ci->as_string()), di != nullptr && di->is_string() ? std::string(di->as_string()) : ""};
}

}  // namespace ticketd::auth
