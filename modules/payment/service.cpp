#include "payment/service.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <pqxx/pqxx>

#include "ticketd/core/error.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/log.hpp"
#include "ticketd/core/time.hpp"
#include "ticketd/payment/events.hpp"

namespace ticketd::payment {

namespace json = boost::json;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSchema = "payment";

[[noreturn]] void Throw(int status, const char* code, const char* title, std::string detail) {
  throw ApiError(problems::Make(status, code, title, std::move(detail)));
}

[[noreturn]] void NotFound() { throw ApiError(problems::NotFound("Payment not found")); }

[[noreturn]] void GatewayUnavailable(const std::string& reason) {
  auto p = problems::Make(503, "PAYMENT_GATEWAY_UNAVAILABLE", "Payment gateway unavailable",
                          "The payment gateway is not answering; try again shortly (" + reason + ")");
  p.retry_after = 5;
  throw ApiError(std::move(p));
}

std::string Us(const std::string& c) { return "(extract(epoch from " + c + ") * 1000000)::bigint"; }

const std::string& Columns() {
  static const std::string kColumns =
      "p.id, p.user_id, p.reservation_id, p.event_id, p.status, p.amount, p.currency, p.order_name, "
      "coalesce(p.failure_reason, ''), p.gateway, " + Us("p.created_at") + ", " + Us("p.updated_at") + ", " +
      Us("p.paid_at") + ", " + Us("p.refunded_at") + ", p.fence, p.refund_attempts, coalesce(p.refund_last_error, ''), " +
      "p.refund_next_at IS NOT NULL AND p.refunded_at IS NULL";
  return kColumns;
}

json::value TimeOrNull(const pqxx::field& f) {
  return f.is_null() ? json::value(nullptr) : json::value(FormatRfc3339(FromMicros(f.as<std::int64_t>())));
}

json::object ToJson(const pqxx::row& r, const PaymentOptions& o) {
  const std::string id = r[0].as<std::string>();
  json::object out{{"paymentId", id},
                   {"reservationId", r[2].as<std::string>()},
                   {"eventId", r[3].as<std::string>()},
                   {"status", r[4].as<std::string>()},
                   {"amount", r[5].as<std::int64_t>()},
                   {"currency", r[6].as<std::string>()},
                   {"orderName", r[7].as<std::string>()},
                   {"gateway", json::object{{"provider", r[9].as<std::string>()},
                                            {"storeId", o.store_id},
                                            {"channelKey", o.channel_key},
                                            {"paymentId", id}}},
                   {"createdAt", FormatRfc3339(FromMicros(r[10].as<std::int64_t>()))},
                   {"updatedAt", FormatRfc3339(FromMicros(r[11].as<std::int64_t>()))},
                   {"paidAt", TimeOrNull(r[12])},
                   {"refundedAt", TimeOrNull(r[13])}};
  out["failureReason"] = r[8].as<std::string>().empty() ? json::value(nullptr) : json::value(r[8].as<std::string>());
  if (r[17].as<bool>()) {
    out["refund"] = json::object{{"pending", true}, {"attempts", r[15].as<int>()},
                                 {"lastError", r[16].as<std::string>().empty() ? json::value(nullptr) : json::value(r[16].as<std::string>())}};
  }
  return out;
}

void Publish(pqxx::work& tx, std::string_view type, const pqxx::row& r, json::object extra) {
  json::object payload{{"paymentId", r[0].as<std::string>()},
                       {"userId", r[1].as<std::string>()},
                       {"reservationId", r[2].as<std::string>()},
                       {"eventId", r[3].as<std::string>()},
                       {"amount", r[5].as<std::int64_t>()},
                       {"currency", r[6].as<std::string>()},
                       {"fence", r[14].as<std::int64_t>()}};
  for (auto& kv : extra) payload[kv.key()] = kv.value();
  const std::string id = r[0].as<std::string>();
  const events::Metadata meta{r[2].as<std::string>(), id, r[1].as<std::string>()};
  auto envelope = events::Make(std::string(type), std::string(domain::kAggregateType), id, std::move(payload), meta);
  events::AppendToOutbox(tx, kSchema, domain::kTopic, envelope);
}

std::optional<pqxx::row> Row(pqxx::work& tx, const std::string& id, bool for_update) {
  const auto rows = tx.exec_params("SELECT " + Columns() + " FROM payment.payments p WHERE p.id = $1" +
                                       (for_update ? " FOR UPDATE" : ""),
                                   id);
  if (rows.empty()) return std::nullopt;
  return rows[0];
}

std::string PayloadString(const events::Envelope& e, const char* key) {
  const auto* v = e.payload.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// Serializes the starts and failures of one reservation's payments.
void LockReservation(pqxx::work& tx, const std::string& reservation_id) {
  tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "payment.reservation:" + reservation_id);
}

// Payment `r` (locked) failed. Its PaymentFailed releases the hold only when
// no other payment of the reservation is still under way or has succeeded: a
// declined second attempt must not cancel a hold that another payment is
// completing (reservation also checks the fence).
void MarkFailed(pqxx::work& tx, const pqxx::row& r, const std::string& reason, json::object extra) {
  const std::string id = r[0].as<std::string>();
  const std::string reservation_id = r[2].as<std::string>();
  LockReservation(tx, reservation_id);
  const bool release = tx.exec_params1(
                             "SELECT NOT EXISTS (SELECT 1 FROM payment.payments WHERE reservation_id = $1 AND id <> $2 "
                             "AND status IN ('PENDING', 'SUCCESS'))",
                             reservation_id, id)[0]
                           .as<bool>();
  tx.exec_params0("UPDATE payment.payments SET status = 'FAILED', failure_reason = $2, releases_hold = $3, "
                  "updated_at = now() WHERE id = $1",
                  id, reason, release);
  extra["reason"] = reason;
  extra["releaseHold"] = release;
  Publish(tx, domain::kPaymentFailed, r, std::move(extra));
}

}  // namespace

PaymentService::PaymentService(PaymentOptions options, db::Pool& pool, PaymentGateway& gateway,
                               reservation::ReservationReader& reservations, queue::QueueTokens& tokens,
                               catalog::CatalogReader& catalog, metrics::Registry* registry)
    : options_(std::move(options)),
      pool_(pool),
      gateway_(gateway),
      reservations_(reservations),
      tokens_(tokens),
      catalog_(catalog) {
  if (registry != nullptr) {
    const std::string name = "ticketd_payment_outcomes_total";
    succeeded_ = &registry->GetCounter(name, "Payment outcomes", {{"outcome", "succeeded"}});
    failed_ = &registry->GetCounter(name, "Payment outcomes", {{"outcome", "failed"}});
    refunded_ = &registry->GetCounter(name, "Payment outcomes", {{"outcome", "refunded"}});
    refund_failures_ = &registry->GetCounter("ticketd_payment_refund_failures_total", "Refund attempts that failed (retried)");
  }
}

PaymentService::~PaymentService() { Stop(); }

// ---------------------------------------------------------------- create

boost::asio::awaitable<json::object> PaymentService::Create(CreateInput in) {
  // A replay of the same paymentKey answers with the payment as it is.
  const auto existing = co_await pool_.Transact([&](pqxx::work& tx) -> std::optional<std::pair<json::object, std::string>> {
    const auto rows = tx.exec_params("SELECT " + Columns() + ", p.pre_registered, p.created_at > now() - interval '30 seconds' "
                                     "FROM payment.payments p WHERE p.user_id = $1 AND p.payment_key = $2",
                                     in.user_id, in.payment_key);
    if (rows.empty()) return std::nullopt;
    const auto& r = rows[0];
    const bool registered = r[18].as<bool>();
    const bool recent = r[19].as<bool>();
    std::string state = r[2].as<std::string>() != in.reservation_id ? "mismatch"
                        : registered                                 ? "replay"
                        : recent                                     ? "busy"
                        : r[4].as<std::string>() == "PENDING"        ? "unregistered"
                                                                     : "replay";
    return std::make_pair(ToJson(r, options_), state);
  });
  if (existing) {
    if (existing->second == "mismatch") {
      Throw(422, "IDEMPOTENCY_KEY_REUSED", "Idempotency key reused", "This paymentKey was used for another reservation");
    }
    if (existing->second == "busy") Throw(409, "IDEMPOTENCY_IN_PROGRESS", "Request in progress", "This payment is still being started");
    if (existing->second == "unregistered") {
      // Its start was cut off between the row and the gateway (a crash, or
      // Postgres down so the failed attempt could not be forgotten): the
      // customer could never pay it. Finish the start now (pre-registering
      // again is harmless at the gateway) instead of answering a payment that
      // cannot be paid (chaos-50k: 4 customers stuck at the sandbox).
      std::string pid(existing->first.at("paymentId").as_string());
      co_return co_await FinishStart(std::move(pid), in, existing->first.at("amount").as_int64());
    }
    co_return existing->first;
  }

  std::string token = in.payment_token;
  std::string user = in.user_id;
  std::string rid = in.reservation_id;
  const auto check = co_await tokens_.ValidatePaymentToken(std::move(token), std::move(user), std::move(rid));
  if (check != queue::TokenCheck::kOk) {
    Throw(403, "QUEUE_TOKEN_INVALID", "Queue token invalid",
          std::string("The payment token (qp_) is not valid for this reservation: ") + queue::ToString(check));
  }
  std::string rid2 = in.reservation_id;
  const auto r = co_await reservations_.FindReservation(std::move(rid2));
  if (!r || r->user_id != in.user_id) Throw(404, "NOT_FOUND", "Not found", "Reservation not found");
  if (r->status != "PENDING") {
    Throw(409, "RESERVATION_NOT_PENDING", "Reservation not pending", "The reservation is " + r->status + ", not awaiting payment");
  }
  if (r->hold_expires_at <= std::chrono::system_clock::now()) Throw(409, "HOLD_EXPIRED", "Hold expired", "The hold has expired");
  std::string order_name = std::to_string(r->seats.size()) + (r->seats.size() == 1 ? " seat" : " seats");
  std::string eid = r->event_id;
  if (const auto event = co_await catalog_.FindEvent(std::move(eid))) order_name = event->title + " · " + order_name;

  const std::string id = NewUuid();
  enum class Started { kInserted, kBusy, kPaid, kReleasing };
  const auto started = co_await pool_.Transact([&](pqxx::work& tx) {
    // Serialized with every other start and every failure of this
    // reservation's payments (LockReservation): a failure that releases the
    // hold and a new payment for it cannot pass each other.
    LockReservation(tx, in.reservation_id);
    // For the seats as they are now (the fence): already paid, or a failed
    // payment is releasing the hold. A payment for seats changed since does
    // not count; it is refused by reservation and refunded.
    const auto state = tx.exec_params1(
        "SELECT coalesce(bool_or(status = 'SUCCESS'), false), coalesce(bool_or(status = 'FAILED' AND releases_hold), false) "
        "FROM payment.payments WHERE reservation_id = $1 AND fence = $2",
        in.reservation_id, r->fence);
    if (state[0].as<bool>()) return Started::kPaid;
    if (state[1].as<bool>()) return Started::kReleasing;
    const auto rows = tx.exec_params(
        "INSERT INTO payment.payments (id, user_id, reservation_id, event_id, payment_key, amount, currency, order_name, "
        "fence, gateway, status) VALUES ($1, $2, $3, $4, $5, $6, 'KRW', $7, $8, $9, 'PENDING') "
        "ON CONFLICT (user_id, payment_key) DO NOTHING RETURNING 1",
        id, in.user_id, in.reservation_id, r->event_id, in.payment_key, r->total_amount, order_name, r->fence,
        options_.provider);
    return rows.empty() ? Started::kBusy : Started::kInserted;
  });
  if (started == Started::kPaid) {
    Throw(409, "RESERVATION_NOT_PENDING", "Reservation not pending", "The reservation is already paid");
  }
  if (started == Started::kReleasing) {
    Throw(409, "RESERVATION_NOT_PENDING", "Reservation not pending",
          "A payment for this hold failed and the seats are being released; hold them again");
  }
  if (started == Started::kBusy) {
    Throw(409, "IDEMPOTENCY_IN_PROGRESS", "Request in progress", "This payment is being started by another request");
  }
  std::string pre_register_error;
  try {
    std::string pid = id;
    std::string currency = "KRW";
    co_await gateway_.PreRegister(std::move(pid), r->total_amount, std::move(currency));
  } catch (const std::exception& e) {
    pre_register_error = e.what();
  }
  if (!pre_register_error.empty()) {
    // Nothing happened yet that the customer could have paid for: forget the
    // attempt so the same paymentKey can be retried. (If this fails too, a
    // replay of the paymentKey finishes the start: FinishStart.)
    co_await pool_.Transact([&](pqxx::work& tx) { tx.exec_params0("DELETE FROM payment.payments WHERE id = $1", id); });
    GatewayUnavailable(pre_register_error);
  }
  co_await pool_.Transact([&](pqxx::work& tx) {
    tx.exec_params0("UPDATE payment.payments SET pre_registered = true, updated_at = now() WHERE id = $1", id);
  });
  std::string load_id = id;
  std::optional<std::string> owner = in.user_id;
  co_return co_await Load(std::move(load_id), std::move(owner));
}

boost::asio::awaitable<json::object> PaymentService::FinishStart(std::string payment_id, const CreateInput& in,
                                                                 std::int64_t amount) {
  // Only while the hold can still be paid: otherwise the payment is answered
  // as it is and never becomes payable (nothing to refund later).
  std::string rid = in.reservation_id;
  const auto r = co_await reservations_.FindReservation(std::move(rid));
  const bool payable = r && r->status == "PENDING" && r->hold_expires_at > std::chrono::system_clock::now();
  if (payable) {
    try {
      std::string pid = payment_id;
      std::string currency = "KRW";
      co_await gateway_.PreRegister(std::move(pid), amount, std::move(currency));
    } catch (const GatewayRejected& e) {
      // ALREADY_PAID: it was registered and paid after all; the confirm step decides.
      if (e.status() != 409) GatewayUnavailable(e.what());
    } catch (const std::exception& e) {
      GatewayUnavailable(e.what());  // the row stays: the next replay tries again
    }
    co_await pool_.Transact([&](pqxx::work& tx) {
      tx.exec_params0("UPDATE payment.payments SET pre_registered = true, updated_at = now() WHERE id = $1 AND NOT pre_registered",
                      payment_id);
    });
  }
  std::optional<std::string> owner = in.user_id;
  co_return co_await Load(std::move(payment_id), std::move(owner));
}

boost::asio::awaitable<json::object> PaymentService::Load(std::string payment_id, std::optional<std::string> owner) {
  if (!IsUuid(payment_id)) NotFound();
  auto found = co_await pool_.Transact([&](pqxx::work& tx) -> std::optional<json::object> {
    const auto r = Row(tx, payment_id, false);
    if (!r || (owner && (*r)[1].as<std::string>() != *owner)) return std::nullopt;
    return ToJson(*r, options_);
  });
  if (!found) NotFound();
  co_return std::move(*found);
}

// ---------------------------------------------------------------- verification

boost::asio::awaitable<PaymentService::Outcome> PaymentService::Verify(std::string payment_id) {
  const auto status = co_await pool_.Transact([&](pqxx::work& tx) -> std::string {
    const auto r = Row(tx, payment_id, false);
    return r ? (*r)[4].as<std::string>() : std::string();
  });
  if (status.empty() || status == "FAILED" || status == "REFUNDED") co_return Outcome::kUnchanged;
  std::string gid = payment_id;
  const auto gp = co_await gateway_.GetPayment(std::move(gid));  // DependencyUnavailable propagates
  const auto abandon = static_cast<std::int64_t>(options_.abandon_after.count());
  const auto outcome = co_await pool_.Transact([&](pqxx::work& tx) {
    const auto r = Row(tx, payment_id, true);
    if (!r) return Outcome::kUnchanged;
    const auto now_status = (*r)[4].as<std::string>();
    if (now_status == "PENDING") {
      if (!gp) return Outcome::kStillPending;
      if (gp->status == "PAID") {
        if (gp->total == (*r)[5].as<std::int64_t>() && gp->currency == (*r)[6].as<std::string>()) {
          tx.exec_params0("UPDATE payment.payments SET status = 'SUCCESS', paid_at = now(), updated_at = now() WHERE id = $1", payment_id);
          Publish(tx, domain::kPaymentSucceeded, *r, {});
          return Outcome::kSucceeded;
        }
        // Paid, but not what we asked for: never a success; the money goes back.
        tx.exec_params0("UPDATE payment.payments SET refund_reason = 'AMOUNT_MISMATCH', refund_next_at = now() "
                        "WHERE id = $1",
                        payment_id);
        MarkFailed(tx, *r, "AMOUNT_MISMATCH", {{"paidAmount", gp->total}, {"paidCurrency", gp->currency}});
        return Outcome::kAmountMismatch;
      }
      if (gp->status == "FAILED" || gp->status == "CANCELLED" || gp->status == "PARTIAL_CANCELLED") {
        const std::string reason = gp->status == "FAILED" ? (gp->failure_reason.empty() ? "FAILED" : gp->failure_reason)
                                                          : "CANCELLED_AT_GATEWAY";
        MarkFailed(tx, *r, reason, {});
        return Outcome::kFailed;
      }
      // READY / PAY_PENDING: the customer has not paid (yet).
      const bool abandoned =
          tx.exec_params1("SELECT created_at < now() - make_interval(secs => $2) FROM payment.payments WHERE id = $1",
                          payment_id, abandon)[0]
              .as<bool>();
      if (abandoned) {
        MarkFailed(tx, *r, "ABANDONED", {});
        return Outcome::kFailed;
      }
      return Outcome::kStillPending;
    }
    if ((now_status == "SUCCESS" || now_status == "REFUND_PENDING") && gp && gp->status == "CANCELLED") {
      // Cancelled at the gateway (by us or from its console): the money is back.
      tx.exec_params0("UPDATE payment.payments SET status = 'REFUNDED', refunded_at = coalesce(refunded_at, now()), "
                      "refund_next_at = NULL, updated_at = now() WHERE id = $1",
                      payment_id);
      Publish(tx, domain::kPaymentRefunded, *r, {{"reason", "CANCELLED_AT_GATEWAY"}});
      return Outcome::kRefunded;
    }
    return Outcome::kUnchanged;
  });
  // The qp_ token is used up by the waiting room when the reservation is
  // confirmed (ReservationConfirmed), not here: a payment that succeeds for
  // seats changed since is refused and refunded, and the customer must still
  // be able to pay for the new seats with it.
  if (outcome == Outcome::kSucceeded && succeeded_ != nullptr) succeeded_->Inc();
  if ((outcome == Outcome::kFailed || outcome == Outcome::kAmountMismatch) && failed_ != nullptr) failed_->Inc();
  if (outcome == Outcome::kRefunded && refunded_ != nullptr) refunded_->Inc();
  co_return outcome;
}

boost::asio::awaitable<json::object> PaymentService::Confirm(std::string user_id, std::string payment_id) {
  std::string id = payment_id;
  std::optional<std::string> owner = user_id;
  auto before = co_await Load(std::move(id), std::move(owner));  // 404 for others' payments
  Outcome outcome = Outcome::kUnchanged;
  try {
    std::string vid = payment_id;
    outcome = co_await Verify(std::move(vid));
  } catch (const DependencyUnavailable& e) {
    GatewayUnavailable(e.reason());
  } catch (const GatewayRejected& e) {
    GatewayUnavailable(e.what());
  }
  if (outcome == Outcome::kAmountMismatch) {
    Throw(409, "AMOUNT_MISMATCH", "Amount mismatch",
          "The amount paid at the gateway differs from the reservation's; the payment failed and is being cancelled");
  }
  std::string id2 = payment_id;
  std::optional<std::string> owner2 = user_id;
  auto after = co_await Load(std::move(id2), std::move(owner2));
  json::object out{{"paymentId", payment_id}, {"status", after.at("status")}, {"failureReason", after.at("failureReason")}};
  out["payment"] = std::move(after);
  co_return out;
}

// ---------------------------------------------------------------- reads, admin

boost::asio::awaitable<json::object> PaymentService::Get(std::string user_id, std::string payment_id) {
  std::optional<std::string> owner = std::move(user_id);
  co_return co_await Load(std::move(payment_id), std::move(owner));
}

boost::asio::awaitable<json::object> PaymentService::List(std::string user_id, int page, int size) {
  co_return co_await pool_.Transact([&](pqxx::work& tx) {
    json::array items;
    for (const auto& r : tx.exec_params("SELECT " + Columns() + " FROM payment.payments p WHERE p.user_id = $1 "
                                        "ORDER BY p.created_at DESC, p.id LIMIT $2 OFFSET $3",
                                        user_id, size, static_cast<std::int64_t>(page - 1) * size)) {
      items.push_back(ToJson(r, options_));
    }
    const auto total = tx.exec_params1("SELECT count(*) FROM payment.payments WHERE user_id = $1", user_id)[0].as<std::int64_t>();
    return json::object{{"items", std::move(items)}, {"page", page}, {"size", size}, {"total", total}};
  });
}

boost::asio::awaitable<json::object> PaymentService::AdminRefund(std::string payment_id, std::string reason) {
  if (!IsUuid(payment_id)) NotFound();
  const auto state = co_await pool_.Transact([&](pqxx::work& tx) -> std::string {
    const auto r = Row(tx, payment_id, true);
    if (!r) return "";
    const auto status = (*r)[4].as<std::string>();
    if (status != "SUCCESS") return status;
    tx.exec_params0("UPDATE payment.payments SET status = 'REFUND_PENDING', refund_reason = $2, refund_next_at = now(), "
                    "updated_at = now() WHERE id = $1",
                    payment_id, reason.empty() ? std::string("ADMIN_REFUND") : reason);
    return "REFUND_PENDING";
  });
  if (state.empty()) NotFound();
  if (state != "REFUND_PENDING" && state != "REFUNDED") {
    Throw(409, "PAYMENT_NOT_REFUNDABLE", "Not refundable", "Only a successful payment can be refunded (this one is " + state + ")");
  }
  if (state == "REFUND_PENDING") {
    std::string id = payment_id;
    co_await RefundNow(std::move(id));  // failures stay pending and are retried by the worker
  }
  std::optional<std::string> any;
  co_return co_await Load(std::move(payment_id), std::move(any));
}

std::chrono::milliseconds PaymentService::RefundLease() const {
  // Long enough for a call started at the end of the start window (below) to
  // finish and be settled well before the lease runs out.
  return std::max<std::chrono::milliseconds>(60s, 2 * options_.gateway_timeout + 20s);
}

std::vector<PaymentService::RefundClaim> PaymentService::ClaimRefunds(pqxx::work& tx, int limit,
                                                                      const std::string& payment_id) const {
  // The lease: refund_next_at moves past the call, so no worker (this
  // instance's or another's) takes the payment again while the gateway call
  // runs; SKIP LOCKED lets concurrent claims pass each other. A due row is
  // one whose refund_next_at has come: a lease still running is not due.
  const auto lease_ms = static_cast<std::int64_t>(RefundLease().count());
  const std::string due = payment_id.empty()
                              ? "SELECT id FROM payment.payments WHERE refund_next_at <= now() AND refunded_at IS NULL "
                                "ORDER BY refund_next_at LIMIT $1 FOR UPDATE SKIP LOCKED"
                              : "SELECT id FROM payment.payments WHERE refund_next_at <= now() AND refunded_at IS NULL "
                                "AND id = $3::uuid LIMIT $1 FOR UPDATE SKIP LOCKED";
  const std::string sql =
      "UPDATE payment.payments p SET refund_next_at = now() + make_interval(secs => $2 / 1000.0), "
      "refund_attempts = p.refund_attempts + 1 FROM (" + due + ") d WHERE p.id = d.id "
      "RETURNING p.id::text, coalesce(p.refund_reason, 'REFUND'), p.refund_next_at::text";
  const auto rows = payment_id.empty() ? tx.exec_params(sql, limit, lease_ms) : tx.exec_params(sql, limit, lease_ms, payment_id);
  std::vector<RefundClaim> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
  return out;
}

boost::asio::awaitable<bool> PaymentService::RefundNow(std::string payment_id) {
  auto claims = co_await pool_.Transact([&](pqxx::work& tx) { return ClaimRefunds(tx, 1, payment_id); });
  if (claims.empty()) co_return false;  // not due, leased by a worker, or done
  auto claim = std::move(claims.front());
  co_return co_await IssueRefund(std::move(claim));
}

boost::asio::awaitable<bool> PaymentService::IssueRefund(RefundClaim claim) {
  const std::string& payment_id = claim.payment_id;
  std::string error;
  try {
    std::string id = payment_id;
    std::string reason = claim.reason;
    co_await gateway_.Cancel(std::move(id), std::move(reason));
  } catch (const GatewayRejected& e) {
    if (e.type() != "PAYMENT_ALREADY_CANCELLED") error = e.what();
  } catch (const std::exception& e) {
    error = e.what();
  }
  const auto max_ms = static_cast<std::int64_t>(options_.refund_backoff_max.count());
  co_await pool_.Transact([&](pqxx::work& tx) {
    const auto r = Row(tx, payment_id, true);
    if (!r) return;
    if (error.empty()) {
      const bool was_pending = (*r)[4].as<std::string>() == "REFUND_PENDING";
      tx.exec_params0("UPDATE payment.payments SET refunded_at = now(), refund_next_at = NULL, refund_last_error = NULL, "
                      "status = CASE WHEN status = 'REFUND_PENDING' THEN 'REFUNDED' ELSE status END, updated_at = now() "
                      "WHERE id = $1",
                      payment_id);
      if (was_pending) Publish(tx, domain::kPaymentRefunded, *r, {{"reason", claim.reason}});
    } else {
      tx.exec_params0("UPDATE payment.payments SET refund_last_error = $2, refund_next_at = now() + "
                      "make_interval(secs => least($3 / 1000.0, power(2, least(refund_attempts, 16)))) WHERE id = $1",
                      payment_id, error, max_ms);
    }
  });
  if (!error.empty()) {
    if (refund_failures_ != nullptr) refund_failures_->Inc();
    log::Warn("payment: refund failed; will retry", {{"payment_id", payment_id}, {"error", error}});
    co_return false;
  }
  if (refunded_ != nullptr) refunded_->Inc();
  co_return true;
}

// ---------------------------------------------------------------- webhook

boost::asio::awaitable<void> PaymentService::Webhook(std::string id, std::string timestamp, std::string signature,
                                                     std::string body) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (!VerifyWebhook(options_.webhook_secret, id, timestamp, body, signature, now)) {
    Throw(401, "INVALID_SIGNATURE", "Invalid signature", "The webhook signature or timestamp is not valid");
  }
  std::string type;
  std::string payment_id;
  try {
    const auto v = json::parse(body);
    type = std::string(v.at("type").as_string());
    if (const auto* data = v.as_object().if_contains("data"); data != nullptr && data->is_object()) {
      if (const auto* p = data->as_object().if_contains("paymentId"); p != nullptr && p->is_string()) {
        payment_id = std::string(p->as_string());
      }
    }
  } catch (const std::exception&) {
    Throw(400, "VALIDATION_FAILED", "Validation failed", "The webhook body is not a PortOne webhook");
  }
  const bool fresh = co_await pool_.Transact([&](pqxx::work& tx) {
    return !tx.exec_params("INSERT INTO payment.webhooks (webhook_id, type, payment_id) VALUES ($1, $2, $3) "
                           "ON CONFLICT DO NOTHING RETURNING 1",
                           id, type, payment_id)
                .empty();
  });
  // Answer at once; the gateway is asked in the background (a lost
  // verification is caught by reconciliation).
  if (fresh && type.starts_with("Transaction.") && IsUuid(payment_id)) {
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(
        ex,
        [this, payment_id]() -> asio::awaitable<void> {
          try {
            std::string pid = payment_id;
            co_await Verify(std::move(pid));
          } catch (const std::exception& e) {
            log::Warn("payment: webhook verification failed; reconciliation will retry",
                      {{"payment_id", payment_id}, {"error", e.what()}});
          }
        },
        asio::detached);
  }
}

// ---------------------------------------------------------------- saga steps

void PaymentService::OnConfirmationRejected(pqxx::work& tx, const events::Envelope& e) {
  const auto payment_id = PayloadString(e, "paymentId");
  if (!IsUuid(payment_id)) return;
  tx.exec_params0("UPDATE payment.payments SET status = 'REFUND_PENDING', refund_reason = $2, refund_next_at = now(), "
                  "updated_at = now() WHERE id = $1 AND status = 'SUCCESS'",
                  payment_id, "RESERVATION_" + PayloadString(e, "reason"));
}

void PaymentService::OnReservationCancelled(pqxx::work& tx, const events::Envelope& e) {
  const auto* requested = e.payload.if_contains("refundRequested");
  if (requested == nullptr || !requested->is_bool() || !requested->as_bool()) return;
  const auto payment_id = PayloadString(e, "paymentId");
  if (!IsUuid(payment_id)) return;
  tx.exec_params0("UPDATE payment.payments SET status = 'REFUND_PENDING', refund_reason = $2, refund_next_at = now(), "
                  "updated_at = now() WHERE id = $1 AND status = 'SUCCESS'",
                  payment_id, PayloadString(e, "reason"));
}

// ---------------------------------------------------------------- worker

namespace {

// Runs fn(item) for every item with at most `concurrency` at once, on a
// private io_context on the calling (worker) thread; returns when all are
// done. fn's coroutines share that one thread: no locking between them.
// An exception from one item is logged and does not stop the others.
template <typename T, typename F>
void ForEachConcurrently(std::vector<T>& items, int concurrency, F fn) {
  if (items.empty()) return;
  asio::io_context io;
  std::size_t next = 0;
  const auto lanes = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, concurrency)), items.size());
  for (std::size_t i = 0; i < lanes; ++i) {
    asio::co_spawn(
        io,
        [&items, &next, &fn]() -> asio::awaitable<void> {
          while (next < items.size()) {
            T& item = items[next++];
            std::string failure;
            try {
              co_await fn(item);
            } catch (const std::exception& e) {
              failure = e.what();
            }
            if (!failure.empty()) log::Warn("payment: worker task failed; retried later", {{"error", failure}});
          }
        },
        asio::detached);
  }
  io.run();
}

}  // namespace

PaymentService::Round PaymentService::RunRound() {
  Round round;
  const int concurrency = std::max(1, options_.refund_concurrency);
  const int batch = RefundBatch(concurrency);

  // Refunds: one claim for the whole batch, then `concurrency` gateway calls
  // at a time. A call starts only while the lease still covers it with room
  // to spare (claimed_at is taken before the claim, so this errs early);
  // claims not started by then, or when stopping, are handed back.
  const auto claimed_at = std::chrono::steady_clock::now();
  auto claims = pool_.TransactSync([&](pqxx::work& tx) { return ClaimRefunds(tx, batch, std::string()); });
  round.refunds_claimed = static_cast<int>(claims.size());
  const auto start_by = claimed_at + RefundLease() - options_.gateway_timeout - 10s;
  int refunded = 0;
  std::vector<RefundClaim> unstarted;
  ForEachConcurrently(claims, concurrency, [&](RefundClaim& claim) -> asio::awaitable<void> {
    if (stop_ || std::chrono::steady_clock::now() > start_by) {
      unstarted.push_back(std::move(claim));
      co_return;
    }
    RefundClaim mine = std::move(claim);
    if (co_await IssueRefund(std::move(mine))) ++refunded;
  });
  if (!unstarted.empty()) {
    // Only while the lease is still ours (refund_next_at unchanged).
    pool_.TransactSync([&](pqxx::work& tx) {
      for (const auto& c : unstarted) {
        tx.exec_params0("UPDATE payment.payments SET refund_next_at = now(), refund_attempts = greatest(refund_attempts - 1, 0) "
                        "WHERE id = $1 AND refunded_at IS NULL AND refund_next_at = $2::timestamptz",
                        c.payment_id, c.lease_until);
      }
    });
    log::Info("payment: refunds handed back unstarted", {{"count", static_cast<std::int64_t>(unstarted.size())}});
  }
  round.settled += refunded;
  // A full batch that made progress: more are likely due; go again without
  // the pause. A failing gateway (nothing refunded) falls back to the interval.
  round.backlog = round.refunds_claimed == batch && refunded > 0;

  // Reconciliation: PENDING payments nobody heard about, asked at the gateway.
  if (stop_) return round;
  const auto reconcile_after = static_cast<std::int64_t>(options_.reconcile_after.count());
  auto stale = pool_.TransactSync([&](pqxx::work& tx) {
    std::vector<std::string> out;
    for (const auto& r : tx.exec_params("SELECT id FROM payment.payments WHERE status = 'PENDING' AND pre_registered "
                                        "AND updated_at < now() - make_interval(secs => $1) ORDER BY updated_at LIMIT 50",
                                        reconcile_after)) {
      out.push_back(r[0].as<std::string>());
    }
    return out;
  });
  int verified = 0;
  ForEachConcurrently(stale, concurrency, [&](std::string& id) -> asio::awaitable<void> {
    std::string failure;
    Outcome o = Outcome::kUnchanged;
    try {
      std::string vid = id;
      o = co_await Verify(std::move(vid));
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) {
      log::Warn("payment: reconciliation could not ask the gateway", {{"payment_id", id}, {"error", failure}});
      co_return;
    }
    if (o != Outcome::kStillPending && o != Outcome::kUnchanged) ++verified;
    if (o == Outcome::kStillPending) {
      // Asked again after another reconcile_after, not every round.
      co_await pool_.Transact([&](pqxx::work& tx) {
        tx.exec_params0("UPDATE payment.payments SET updated_at = now() WHERE id = $1 AND status = 'PENDING'", id);
      });
    }
  });
  round.settled += verified;
  return round;
}

int PaymentService::WorkOnce() { return RunRound().settled; }

void PaymentService::WorkerLoop() {
  while (!stop_) {
    bool backlog = false;
    try {
      backlog = RunRound().backlog;
    } catch (const std::exception& e) {
      log::Warn("payment: worker round failed; retrying", {{"error", e.what()}});
    }
    if (backlog) continue;
    const auto until = std::chrono::steady_clock::now() + options_.worker_interval;
    while (!stop_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  }
}

void PaymentService::Start() {
  stop_ = false;
  worker_ = std::thread([this] { WorkerLoop(); });
}

void PaymentService::Stop() {
  stop_ = true;
  if (worker_.joinable()) worker_.join();
}

}  // namespace ticketd::payment
