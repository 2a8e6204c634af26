#include "auth/module.hpp"

#include "auth/handlers/routes.hpp"

namespace ticketd::auth {

namespace {

std::unique_ptr<CaptchaVerifier> MakeCaptcha(const AuthOptions& o, const std::shared_ptr<http::HttpClient>& client) {
  if (o.captcha == "sandbox") return std::make_unique<SandboxCaptcha>();
  if (o.captcha == "recaptcha") return std::make_unique<RecaptchaVerifier>(client, o.recaptcha_secret, o.recaptcha_url);
  throw std::invalid_argument("auth.captcha: unknown adapter " + o.captcha);
}

std::unique_ptr<IdentityVerifier> MakeIdentity(const AuthOptions& o, const std::shared_ptr<http::HttpClient>& client) {
  if (o.identity == "sandbox") return std::make_unique<SandboxIdentity>(o.sandbox_ci_key);
  if (o.identity == "portone") return std::make_unique<PortOneIdentity>(client, o.portone_api_secret, o.portone_api_url);
  throw std::invalid_argument("auth.identity: unknown adapter " + o.identity);
}

}  // namespace

AuthModule::AuthModule(AuthOptions options, db::PoolOptions pool, metrics::Registry* registry)
    : pool_(std::move(pool), registry),
      hashing_("password-hashing", options.max_concurrent_hashes, options.max_hash_queue) {
  auto client = std::make_shared<http::HttpClient>(http::ClientOptions{});
  auto captcha = MakeCaptcha(options, client);
  auto identity = MakeIdentity(options, client);
  service_ = std::make_unique<AuthService>(std::move(options), pool_, hashing_, std::move(captcha), std::move(identity),
                                           registry);
}

AuthModule::~AuthModule() { Stop(); }

void AuthModule::AddRoutes(http::Router& router) { ticketd::auth::AddRoutes(router, *service_); }

void AuthModule::Start() { service_->Start(); }

void AuthModule::Stop() {
  if (service_) service_->Stop();
  hashing_.Stop();
  pool_.Stop();
}

}  // namespace ticketd::auth
