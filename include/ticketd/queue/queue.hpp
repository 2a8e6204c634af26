#pragma once
// The queue module's public surface for reservation and payment: the tokens
// the waiting room hands out. Plain data in and out so that it could become
// an RPC.
//
// Tokens are 256-bit random values (`qr_…` reservation tokens issued at
// admission, `qp_…` payment tokens issued after a successful hold), stored in
// Postgres by their SHA-256 and checked against Postgres on every call, so a
// consumed or revoked token is refused on every instance at once.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>

namespace ticketd::queue {

enum class TokenCheck {
  kOk,
  kInvalid,     // malformed, unknown (forged), or of the other kind (qr_ vs qp_)
  kWrongUser,   // issued to another user
  kWrongEvent,  // issued for another event / reservation
  kExpired,
  kUsed,        // consumed, or revoked (the user left, the room was cleared)
};
const char* ToString(TokenCheck check);

/// Thread-safe. Errors: DependencyUnavailable when Postgres is down.
class QueueTokens {
 public:
  virtual ~QueueTokens() = default;
  /// Checks a `qr_…` token for (user, event) without using it up.
  virtual boost::asio::awaitable<TokenCheck> ValidateReservationToken(std::string token, std::string user_id,
                                                                      std::string event_id) = 0;
  /// Issues a `qp_…` token bound to (user, event, reservation), valid for `ttl`.
  virtual boost::asio::awaitable<std::string> IssuePaymentToken(std::string user_id, std::string event_id,
                                                                std::string reservation_id,
                                                                std::chrono::seconds ttl) = 0;
  /// Checks a `qp_…` token for (user, reservation) without using it up.
  virtual boost::asio::awaitable<TokenCheck> ValidatePaymentToken(std::string token, std::string user_id,
                                                                  std::string reservation_id) = 0;
  /// Uses a token up (either kind) when it is valid for `user_id`: kOk exactly
  /// once per token, kUsed afterwards. Consuming a `qr_…` token also frees the
  /// user's waiting-room entry (status USED).
  virtual boost::asio::awaitable<TokenCheck> Consume(std::string token, std::string user_id) = 0;
  /// Uses up every still-usable `qp_…` token bound to `reservation_id` (its
  /// payment succeeded, the token has served its purpose); returns how many.
  /// Idempotent: a second call returns 0.
  virtual boost::asio::awaitable<int> ConsumePaymentTokens(std::string reservation_id) = 0;
};

}  // namespace ticketd::queue
