#pragma once
// Outside services the auth module depends on, each behind an interface with
// a `sandbox` implementation (the default; refused in production) and the
// real one. Errors: DependencyUnavailable when the service cannot be reached.

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string>

#include "auth/inputs.hpp"
#include "ticketd/core/http_client.hpp"

namespace ticketd::auth {

class CaptchaVerifier {
 public:
  virtual ~CaptchaVerifier() = default;
  /// True when the token proves a human (for this client IP).
  virtual boost::asio::awaitable<bool> Verify(std::string token, std::string remote_ip) = 0;
};

/// `test-pass` passes; `test-fail` and anything else fail.
class SandboxCaptcha final : public CaptchaVerifier {
 public:
  boost::asio::awaitable<bool> Verify(std::string token, std::string remote_ip) override;
};

/// Google reCAPTCHA siteverify (POST form secret, response, remoteip → {"success": bool}).
class RecaptchaVerifier final : public CaptchaVerifier {
 public:
  RecaptchaVerifier(std::shared_ptr<http::HttpClient> client, std::string secret, std::string url);
  boost::asio::awaitable<bool> Verify(std::string token, std::string remote_ip) override;

 private:
  std::shared_ptr<http::HttpClient> client_;
  std::string secret_;
  std::string url_;
};

struct VerifiedIdentity {
  std::string ci;  // connecting information: the same for one person at every service
  std::string di;  // duplication information: per service
};

class IdentityVerifier {
 public:
  virtual ~IdentityVerifier() = default;
  [[nodiscard]] virtual std::string provider() const = 0;
  /// Sandbox: verifies at once from the data. PortOne: nullopt — the customer
  /// verifies in PortOne's window and Fetch reads the result.
  virtual std::optional<VerifiedIdentity> VerifyNow(const PersonData& person) = 0;
  /// The verified identity for an id started earlier; nullopt when not verified.
  virtual boost::asio::awaitable<std::optional<VerifiedIdentity>> Fetch(std::string verification_id) = 0;
};

/// Deterministic CI/DI from name + phone + birth date: the same test person
/// is always the same person.
class SandboxIdentity final : public IdentityVerifier {
 public:
  explicit SandboxIdentity(std::string key) : key_(std::move(key)) {}
  [[nodiscard]] std::string provider() const override { return "sandbox"; }
  std::optional<VerifiedIdentity> VerifyNow(const PersonData& person) override;
  boost::asio::awaitable<std::optional<VerifiedIdentity>> Fetch(std::string verification_id) override;

 private:
  std::string key_;
};

/// PortOne V2: GET {base}/identity-verifications/{id} with `Authorization: PortOne <secret>`;
/// status VERIFIED carries verifiedCustomer.ci/di.
class PortOneIdentity final : public IdentityVerifier {
 public:
  PortOneIdentity(std::shared_ptr<http::HttpClient> client, std::string api_secret, std::string base_url);
  [[nodiscard]] std::string provider() const override { return "portone"; }
  std::optional<VerifiedIdentity> VerifyNow(const PersonData&) override { return std::nullopt; }
  boost::asio::awaitable<std::optional<VerifiedIdentity>> Fetch(std::string verification_id) override;

 private:
  std::shared_ptr<http::HttpClient> client_;
  std::string secret_;
  std::string base_url_;
};

}  // namespace ticketd::auth
