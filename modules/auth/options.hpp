#pragma once
// Everything the auth module needs from configuration, as plain data
// (built by src/app from the [auth] section; the module never sees the config).

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace ticketd::auth {

struct AuthOptions {
  // Tokens
  std::string issuer = "ticketd";
  std::string audience = "ticketd-api";
  std::string jwt_key_id = "k1";
  std::string jwt_secret;                               // >= 32 bytes
  std::map<std::string, std::string> jwt_previous_keys;  // kid → secret, verification only
  std::chrono::seconds access_ttl{3600};
  std::chrono::seconds refresh_ttl{7 * 24 * 3600};
  std::int64_t leeway_seconds = 30;
  std::chrono::milliseconds revocation_poll{1000};
  // Personal data at rest
  std::string data_key_id = "d1";
  std::string data_key;  // 32 bytes
  std::map<std::string, std::string> previous_data_keys;
  std::string index_key;  // >= 32 bytes
  // Passwords
  unsigned long long password_opslimit = 2;
  std::size_t password_memlimit_bytes = 19 * 1024 * 1024;
  bool password_params_for_testing = false;  // libsodium minimums (tests only)
  int max_concurrent_hashes = 2;
  std::size_t max_hash_queue = 256;
  // Account safety
  int lockout_threshold = 5;
  std::chrono::seconds lockout_window{15 * 60};
  std::chrono::seconds lockout_duration{15 * 60};
  std::chrono::hours withdrawn_identity_block{30 * 24};
  // Adapters
  std::string captcha = "sandbox";  // sandbox | recaptcha
  std::string recaptcha_secret;
  std::string recaptcha_url = "https://www.google.com/recaptcha/api/siteverify";
  std::string identity = "sandbox";  // sandbox | portone
  std::string portone_api_secret;
  std::string portone_api_url = "https://api.portone.io";
  std::string sandbox_ci_key = "ticketd-sandbox-ci";
};

}  // namespace ticketd::auth
