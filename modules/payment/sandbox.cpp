#include "payment/sandbox.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <pqxx/pqxx>

#include "payment/gateway.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/log.hpp"
#include "ticketd/core/time.hpp"

namespace ticketd::payment {

namespace json = boost::json;
namespace asio = boost::asio;
namespace bh = boost::beast::http;
using http::Request;
using http::Response;
using Awaitable = asio::awaitable<Response>;

namespace {

constexpr const char* kCardPaid = "4242424242424242";
constexpr const char* kCardDeclined = "4000000000000002";
constexpr const char* kCardStall = "4000000000000119";

Response PortOneError(int status, const std::string& type, const std::string& message) {
  Response res;
  res.version(11);
  res.result(static_cast<unsigned>(status));
  res.set(bh::field::content_type, "application/json");
  res.body() = json::serialize(json::object{{"type", type}, {"message", message}});
  res.prepare_payload();
  return res;
}

Response Ok(const json::value& body) {
  Response res;
  res.version(11);
  res.result(bh::status::ok);
  res.set(bh::field::content_type, "application/json");
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
}

constexpr const char* kColumns =
    "id, store_id, transaction_id, status, total, paid, cancelled, currency, coalesce(failure_reason, ''), "
    "coalesce(failure_pg_code, ''), (extract(epoch from requested_at) * 1000000)::bigint, "
    "(extract(epoch from updated_at) * 1000000)::bigint, (extract(epoch from status_changed_at) * 1000000)::bigint, "
    "(extract(epoch from paid_at) * 1000000)::bigint, (extract(epoch from failed_at) * 1000000)::bigint, "
    "(extract(epoch from cancelled_at) * 1000000)::bigint, coalesce(cancellation_id, ''), coalesce(cancel_reason, ''), "
    "coalesce((extract(epoch from stall_until - now()) * 1000)::bigint, 0), coalesce(order_name, 'ticketd order'), "
    "customer::text";

// The merchant and the channel the sandbox presents itself as (a TEST channel).
constexpr const char* kMerchantId = "merchant-ticketd-sandbox";

std::string Time(const pqxx::field& f) { return FormatRfc3339(FromMicros(f.as<std::int64_t>())); }

// PortOne V2 `Payment`, keyed on status, with every field PortOne's server
// SDK (@portone/server-sdk 0.19) types require for that status.
json::object PaymentJson(const pqxx::row& r, const std::string& channel_key, json::array webhooks) {
  json::value customer = json::object{};
  try {
    customer = json::parse(r[20].as<std::string>());
  } catch (const std::exception&) {
  }
  json::object o{{"status", r[3].as<std::string>()},
                 {"id", r[0].as<std::string>()},
                 {"transactionId", r[2].as<std::string>()},
                 {"merchantId", kMerchantId},
                 {"storeId", r[1].as<std::string>()},
                 {"version", "V2"},
                 {"requestedAt", Time(r[10])},
                 {"updatedAt", Time(r[11])},
                 {"statusChangedAt", Time(r[12])},
                 {"orderName", r[19].as<std::string>()},
                 {"amount", json::object{{"total", r[4].as<std::int64_t>()},
                                         {"taxFree", 0},
                                         {"vat", 0},
                                         {"discount", 0},
                                         {"paid", r[5].as<std::int64_t>()},
                                         {"cancelled", r[6].as<std::int64_t>()},
                                         {"cancelledTaxFree", 0}}},
                 {"currency", r[7].as<std::string>()},
                 {"customer", customer}};
  const auto status = r[3].as<std::string>();
  if (status != "READY") {
    o["channel"] = json::object{{"type", "TEST"},
                                {"id", "channel-id-ticketd-sandbox"},
                                {"key", channel_key},
                                {"name", "ticketd sandbox"},
                                {"pgProvider", "TOSSPAYMENTS"},
                                {"pgMerchantId", "ticketd-sandbox"}};
  }
  if (!webhooks.empty()) o["webhooks"] = std::move(webhooks);
  if (status == "PAID" || status == "CANCELLED") o["paidAt"] = Time(r[13]);
  if (status == "PAID") o["disputes"] = json::array{};
  if (status == "FAILED") {
    o["failedAt"] = Time(r[14]);
    o["failure"] = json::object{{"reason", r[8].as<std::string>()}, {"pgCode", r[9].as<std::string>()}};
  }
  if (status == "CANCELLED") {
    o["cancelledAt"] = Time(r[15]);
    o["cancellations"] = json::array{json::object{{"status", "SUCCEEDED"},
                                                  {"id", r[16].as<std::string>()},
                                                  {"totalAmount", r[6].as<std::int64_t>()},
                                                  {"taxFreeAmount", 0},
                                                  {"vatAmount", 0},
                                                  {"reason", r[17].as<std::string>()},
                                                  {"cancelledAt", Time(r[15])},
                                                  {"requestedAt", Time(r[15])}}};
  }
  return o;
}

// PortOne's `Payment.webhooks`: each delivery the sandbox made for a payment.
json::array WebhooksJson(pqxx::work& tx, const std::string& payment_id) {
  json::array out;
  for (const auto& w : tx.exec_params(
           "SELECT id, url, coalesce(status, ''), payment_status, request_header, request_body, "
           "coalesce(response_code, ''), coalesce(response_body, ''), "
           "(extract(epoch from triggered_at) * 1000000)::bigint, "
           "coalesce((extract(epoch from responded_at) * 1000000)::bigint, 0) "
           "FROM payment.sandbox_webhooks WHERE payment_id = $1 ORDER BY triggered_at, id",
           payment_id)) {
    json::object o{{"id", w[0].as<std::string>()},
                   {"url", w[1].as<std::string>()},
                   {"paymentStatus", w[3].as<std::string>()},
                   {"isAsync", true},
                   {"currentExecutionCount", 1},
                   {"maxExecutionCount", 6},
                   {"triggeredAt", Time(w[8])},
                   {"request", json::object{{"header", w[4].as<std::string>()},
                                            {"body", w[5].as<std::string>()},
                                            {"requestedAt", Time(w[8])}}}};
    if (!w[2].as<std::string>().empty()) o["status"] = w[2].as<std::string>();
    if (w[9].as<std::int64_t>() != 0) {
      o["response"] = json::object{{"code", w[6].as<std::string>()},
                                   {"header", ""},
                                   {"body", w[7].as<std::string>()},
                                   {"respondedAt", Time(w[9])}};
    }
    out.push_back(std::move(o));
  }
  return out;
}

json::object LoadPayment(pqxx::work& tx, const pqxx::row& row, const std::string& channel_key) {
  return PaymentJson(row, channel_key, WebhooksJson(tx, row[0].as<std::string>()));
}

// A PortOne error decided inside a transaction, answered after it.
struct Refusal {
  int status;
  const char* type;
  const char* message;
};

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 100) return false;
  for (const char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace

SandboxGateway::SandboxGateway(SandboxOptions options, db::Pool& pool)
    : options_(std::move(options)), pool_(pool), client_(http::ClientOptions{std::chrono::milliseconds(5000), "", "ticketd-sandbox-pg", 1 << 16}) {}

void SandboxGateway::SetWebhookUrl(std::string url) {
  std::lock_guard lock(mu_);
  webhook_url_ = std::move(url);
}

asio::awaitable<void> SandboxGateway::SendWebhook(std::string type, std::string payment_id, std::string transaction_id,
                                                  std::string cancellation_id) {
  std::string url;
  {
    std::lock_guard lock(mu_);
    url = webhook_url_;
  }
  if (url.empty()) co_return;
  if (options_.webhook_delay.count() > 0) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex, options_.webhook_delay);
    co_await timer.async_wait(asio::use_awaitable);
  }
  json::object data{{"paymentId", payment_id}, {"storeId", options_.store_id}, {"transactionId", transaction_id}};
  if (!cancellation_id.empty()) data["cancellationId"] = cancellation_id;
  const std::string body = json::serialize(
      json::object{{"type", type}, {"timestamp", FormatRfc3339(std::chrono::system_clock::now())}, {"data", std::move(data)}});
  const std::string id = "msg_" + NewUuid();
  const std::string ts = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"},
                                                           {"webhook-id", id},
                                                           {"webhook-timestamp", ts},
                                                           {"webhook-signature", SignWebhook(options_.webhook_secret, id, ts, body)}};
  std::string header_text;
  for (const auto& [name, value] : headers) header_text += name + ": " + value + "\n";
  const std::string payment_status = type == "Transaction.Paid"        ? "PAID"
                                     : type == "Transaction.Failed"    ? "FAILED"
                                     : type == "Transaction.Cancelled" ? "CANCELLED"
                                                                       : "READY";
  // The delivery history (PortOne's `Payment.webhooks`), written before the
  // delivery so that a crash mid-way still shows the attempt.
  try {
    co_await pool_.Transact([&](pqxx::work& tx) {
      tx.exec_params0(
          "INSERT INTO payment.sandbox_webhooks (id, payment_id, type, payment_status, url, request_header, request_body) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7)",
          id, payment_id, type, payment_status, url, header_text, body);
    });
  } catch (const std::exception& e) {
    log::Warn("sandbox-pg: webhook history not written", {{"error", e.what()}, {"payment_id", payment_id}});
  }
  std::string status = "FAILED_UNEXPECTED_ERROR";
  std::string code;
  std::string response_body;
  try {
    std::string b = body;
    const auto res = co_await client_.Send(bh::verb::post, std::move(url), std::move(headers), std::move(b));
    code = std::to_string(res.status);
    response_body = res.body.substr(0, 4000);
    status = res.status / 100 == 2 ? "SUCCEEDED" : "FAILED_NOT_OK_RESPONSE";
    if (res.status / 100 != 2) log::Warn("sandbox-pg: webhook refused", {{"status", res.status}, {"payment_id", payment_id}});
  } catch (const std::exception& e) {
    response_body = e.what();
    log::Warn("sandbox-pg: webhook not delivered", {{"error", e.what()}, {"payment_id", payment_id}});
  }
  try {
    co_await pool_.Transact([&](pqxx::work& tx) {
      tx.exec_params0(
          "UPDATE payment.sandbox_webhooks SET status = $2, response_code = NULLIF($3, ''), response_body = $4, "
          "responded_at = now() WHERE id = $1",
          id, status, code, response_body);
    });
  } catch (const std::exception& e) {
    log::Warn("sandbox-pg: webhook history not written", {{"error", e.what()}, {"payment_id", payment_id}});
  }
}

namespace {

// The customer as the payment window was given it (PortOne's `Customer`):
// the string fields only; anything else is a bad request.
std::optional<std::string> CustomerFrom(const json::value& v, std::string& error) {
  if (!v.is_object()) {
    error = "customer must be an object";
    return std::nullopt;
  }
  json::object out;
  for (const auto& [key, value] : v.as_object()) {
    if (key != "id" && key != "name" && key != "email" && key != "phoneNumber") {
      error = "customer." + std::string(key) + " is not supported by the sandbox";
      return std::nullopt;
    }
    if (!value.is_string() || value.as_string().empty() || value.as_string().size() > 256) {
      error = "customer." + std::string(key) + " must be a string of 1 to 256 characters";
      return std::nullopt;
    }
    out[key] = value;
  }
  return json::serialize(out);
}

// ticketd's own payment ids are UUIDs; any other id is an SDK user's own and
// has no ticketd order behind it.
constexpr const char* kTicketdPayment =
    "(CASE WHEN $1 ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN $1 END)::uuid";

}  // namespace

void SandboxGateway::AddRoutes(http::Router& router, const std::string& prefix) {
  // Public at the edge: the sandbox checks PortOne's own Authorization scheme.
  // On its own listener, JSON bodies are taken whatever their Content-Type,
  // as PortOne takes them (its server SDK sends text/plain); under /sandbox/pg
  // the main listener's rule (application/json) stands.
  const http::RouteMeta meta{http::AuthLevel::kPublic, "default", std::size_t{16 * 1024}, prefix.empty()};
  const auto authorized = [this](const Request& r) {
    const auto h = r.Header("Authorization");
    return h && *h == "PortOne " + options_.api_secret;
  };

  router.Add(http::Verb::get, prefix + "/payments/{paymentId}", meta, [this, authorized](Request& r) -> Awaitable {
    if (!authorized(r)) co_return PortOneError(401, "UNAUTHORIZED", "invalid API secret");
    const std::string id = r.Param("paymentId");
    if (!ValidId(id)) co_return PortOneError(400, "INVALID_REQUEST", "invalid paymentId");
    if (const auto store = r.Query("storeId"); store && *store != options_.store_id) {
      co_return PortOneError(404, "PAYMENT_NOT_FOUND", "payment not found");
    }
    auto row = co_await pool_.Transact([&](pqxx::work& tx) -> std::optional<std::pair<json::object, std::int64_t>> {
      const auto rows = tx.exec_params(std::string("SELECT ") + kColumns + " FROM payment.sandbox_payments WHERE id = $1", id);
      if (rows.empty()) return std::nullopt;
      return std::make_pair(LoadPayment(tx, rows[0], options_.channel_key), rows[0][18].as<std::int64_t>());
    });
    if (!row) co_return PortOneError(404, "PAYMENT_NOT_FOUND", "payment not found");
    if (row->second > 0) {
      // The gateway "stops answering" about this payment for a while.
      auto ex = co_await asio::this_coro::executor;
      asio::steady_timer timer(ex, std::chrono::milliseconds(row->second));
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return Ok(row->first);
  });

  router.Add(http::Verb::post, prefix + "/payments/{paymentId}/pre-register", meta, [this, authorized](Request& r) -> Awaitable {
    if (!authorized(r)) co_return PortOneError(401, "UNAUTHORIZED", "invalid API secret");
    const std::string id = r.Param("paymentId");
    if (!ValidId(id)) co_return PortOneError(400, "INVALID_REQUEST", "invalid paymentId");
    json::object body;
    try {
      body = json::parse(r.raw.body()).as_object();
    } catch (const std::exception&) {
      co_return PortOneError(400, "INVALID_REQUEST", "body must be a JSON object");
    }
    const auto* total = body.if_contains("totalAmount");
    if (total == nullptr || !total->is_int64() || total->as_int64() < 0) {
      co_return PortOneError(400, "INVALID_REQUEST", "totalAmount is required");
    }
    if (const auto* st = body.if_contains("storeId");
        st != nullptr && (!st->is_string() || st->as_string() != options_.store_id)) {
      co_return PortOneError(403, "FORBIDDEN", "the store is not this API secret's");
    }
    const std::int64_t amount = total->as_int64();
    std::string currency = "KRW";
    if (const auto* c = body.if_contains("currency"); c != nullptr && c->is_string()) currency = std::string(c->as_string());
    const bool paid = co_await pool_.Transact([&](pqxx::work& tx) {
      const auto rows = tx.exec_params("SELECT status FROM payment.sandbox_payments WHERE id = $1 FOR UPDATE", id);
      if (!rows.empty() && rows[0][0].as<std::string>() != "READY") return true;
      tx.exec_params0(
          "INSERT INTO payment.sandbox_payments (id, store_id, transaction_id, status, total, currency) "
          "VALUES ($1, $2, $3, 'READY', $4, $5) ON CONFLICT (id) DO UPDATE SET total = EXCLUDED.total, "
          "currency = EXCLUDED.currency, updated_at = now()",
          id, options_.store_id, NewUuid(), amount, currency);
      return false;
    });
    if (paid) co_return PortOneError(409, "ALREADY_PAID", "payment already processed");
    co_return Ok(json::object{});
  });

  router.Add(http::Verb::post, prefix + "/payments/{paymentId}/pay", meta, [this](Request& r) -> Awaitable {
    // The customer's step (the payment window): no API secret.
    const std::string id = r.Param("paymentId");
    if (!ValidId(id)) co_return PortOneError(400, "INVALID_REQUEST", "invalid paymentId");
    json::object body;
    try {
      body = json::parse(r.raw.body()).as_object();
    } catch (const std::exception&) {
      co_return PortOneError(400, "INVALID_REQUEST", "body must be {\"card\": \"…\"}");
    }
    const auto* card_v = body.if_contains("card");
    if (card_v == nullptr || !card_v->is_string()) co_return PortOneError(400, "INVALID_REQUEST", "card is required");
    const std::string card(card_v->as_string());
    if (card != kCardPaid && card != kCardDeclined && card != kCardStall) {
      co_return PortOneError(400, "INVALID_REQUEST", "unknown test card");
    }
    std::optional<std::int64_t> amount;
    if (const auto* a = body.if_contains("amount"); a != nullptr && a->is_int64()) amount = a->as_int64();
    bool webhook = true;
    if (const auto* w = body.if_contains("webhook"); w != nullptr && w->is_bool()) webhook = w->as_bool();
    // What the browser SDK's requestPayment would carry; without them, the
    // ticketd order behind this paymentId (the frontend passes the name POST
    // /payments answered with).
    std::optional<std::string> order_name;
    if (const auto* n = body.if_contains("orderName")) {
      if (!n->is_string() || n->as_string().empty() || n->as_string().size() > 256) {
        co_return PortOneError(400, "INVALID_REQUEST", "orderName must be a string of 1 to 256 characters");
      }
      order_name = std::string(n->as_string());
    }
    std::optional<std::string> customer;
    if (const auto* c = body.if_contains("customer")) {
      std::string error;
      customer = CustomerFrom(*c, error);
      if (!customer) co_return PortOneError(400, "INVALID_REQUEST", error);
    }
    const auto stall_ms = static_cast<std::int64_t>(options_.stall.count());
    const std::string amount_text = amount ? std::to_string(*amount) : std::string();
    struct Outcome {
      std::optional<Refusal> refused;
      std::string type;
      json::object payment;
      std::string transaction_id;
    };
    auto outcome = co_await pool_.Transact([&](pqxx::work& tx) {
      Outcome o;
      const auto rows = tx.exec_params("SELECT status FROM payment.sandbox_payments WHERE id = $1 FOR UPDATE", id);
      if (rows.empty()) {
        if (!amount) {
          o.refused = Refusal{404, "PAYMENT_NOT_FOUND", "payment not found (pre-register it or give an amount)"};
          return o;
        }
        tx.exec_params0("INSERT INTO payment.sandbox_payments (id, store_id, transaction_id, status, total) "
                        "VALUES ($1, $2, $3, 'READY', $4)",
                        id, options_.store_id, NewUuid(), *amount);
      } else if (rows[0][0].as<std::string>() != "READY") {
        o.refused = Refusal{409, "ALREADY_PAID", "payment already processed"};
        return o;
      }
      tx.exec_params0(std::string("UPDATE payment.sandbox_payments SET order_name = coalesce($2, "
                                  "(SELECT order_name FROM payment.payments WHERE id = ") +
                          kTicketdPayment + "), order_name), customer = coalesce($3::jsonb, "
                          "(SELECT jsonb_build_object('id', user_id::text) FROM payment.payments WHERE id = " +
                          kTicketdPayment + "), customer) WHERE id = $1",
                      id, order_name, customer);
      if (card == kCardDeclined) {
        tx.exec_params0("UPDATE payment.sandbox_payments SET status = 'FAILED', failure_reason = 'card declined', "
                        "failure_pg_code = 'DECLINED', failed_at = now(), updated_at = now(), status_changed_at = now() "
                        "WHERE id = $1",
                        id);
        o.type = "Transaction.Failed";
      } else {
        // The customer may pay another amount than pre-registered (a tampered client).
        tx.exec_params0("UPDATE payment.sandbox_payments SET status = 'PAID', total = coalesce($2::bigint, total), "
                        "paid = coalesce($2::bigint, total), paid_at = now(), updated_at = now(), status_changed_at = now(), "
                        "stall_until = CASE WHEN $3 THEN now() + make_interval(secs => $4 / 1000.0) END WHERE id = $1",
                        id, amount_text.empty() ? nullptr : amount_text.c_str(), card == kCardStall, stall_ms);
        o.type = card == kCardStall ? std::string() : "Transaction.Paid";
      }
      const auto row = tx.exec_params1(std::string("SELECT ") + kColumns + " FROM payment.sandbox_payments WHERE id = $1", id);
      o.payment = LoadPayment(tx, row, options_.channel_key);
      o.transaction_id = row[2].as<std::string>();
      return o;
    });
    if (outcome.refused) co_return PortOneError(outcome.refused->status, outcome.refused->type, outcome.refused->message);
    if (webhook && !outcome.type.empty()) {
      auto ex = co_await asio::this_coro::executor;
      asio::co_spawn(ex, SendWebhook(outcome.type, id, outcome.transaction_id, {}), asio::detached);
    }
    co_return Ok(outcome.payment);
  });

  router.Add(http::Verb::post, prefix + "/payments/{paymentId}/cancel", meta, [this, authorized](Request& r) -> Awaitable {
    if (!authorized(r)) co_return PortOneError(401, "UNAUTHORIZED", "invalid API secret");
    const std::string id = r.Param("paymentId");
    if (!ValidId(id)) co_return PortOneError(400, "INVALID_REQUEST", "invalid paymentId");
    std::string reason;
    std::optional<std::int64_t> amount;
    std::optional<std::int64_t> current_cancellable;
    bool webhook = true;
    std::string store;
    try {
      const auto body = json::parse(r.raw.body()).as_object();
      reason = std::string(body.at("reason").as_string());
      if (const auto* a = body.if_contains("amount")) amount = a->as_int64();
      if (const auto* a = body.if_contains("currentCancellableAmount")) current_cancellable = a->as_int64();
      if (const auto* w = body.if_contains("skipWebhook")) webhook = !w->as_bool();
      if (const auto* st = body.if_contains("storeId")) store = std::string(st->as_string());
    } catch (const std::exception&) {
      co_return PortOneError(400, "INVALID_REQUEST",
                             "reason is required; amount and currentCancellableAmount are integers, skipWebhook a boolean");
    }
    if (reason.empty()) co_return PortOneError(400, "INVALID_REQUEST", "reason is required");
    if (!store.empty() && store != options_.store_id) co_return PortOneError(404, "PAYMENT_NOT_FOUND", "payment not found");
    if (amount && *amount <= 0) co_return PortOneError(400, "INVALID_REQUEST", "amount must be positive");
    struct Outcome {
      std::optional<Refusal> refused;
      std::string type;
      json::object cancellation;
      std::string transaction_id;
      std::string cancellation_id;
    };
    auto outcome = co_await pool_.Transact([&](pqxx::work& tx) {
      Outcome o;
      const auto rows = tx.exec_params("SELECT status, paid FROM payment.sandbox_payments WHERE id = $1 FOR UPDATE", id);
      if (rows.empty()) {
        o.refused = Refusal{404, "PAYMENT_NOT_FOUND", "payment not found"};
        return o;
      }
      const auto status = rows[0][0].as<std::string>();
      if (status == "CANCELLED") {
        o.refused = Refusal{409, "PAYMENT_ALREADY_CANCELLED", "payment already cancelled"};
        return o;
      }
      if (status != "PAID") {
        o.refused = Refusal{409, "PAYMENT_NOT_PAID", "payment not paid"};
        return o;
      }
      const auto paid = rows[0][1].as<std::int64_t>();
      if (current_cancellable && *current_cancellable != paid) {
        o.refused = Refusal{409, "CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN", "currentCancellableAmount does not match"};
        return o;
      }
      if (amount && *amount > paid) {
        o.refused = Refusal{409, "CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT", "amount exceeds the cancellable amount"};
        return o;
      }
      if (amount && *amount < paid) {
        // Partial cancellation: not offered by the sandbox.
        o.refused = Refusal{400, "INVALID_REQUEST", "the sandbox cancels the whole amount only (omit amount)"};
        return o;
      }
      tx.exec_params0("UPDATE payment.sandbox_payments SET status = 'CANCELLED', cancelled = paid, cancelled_at = now(), "
                      "cancellation_id = $2, cancel_reason = $3, updated_at = now(), status_changed_at = now(), "
                      "stall_until = NULL WHERE id = $1",
                      id, NewUuid(), reason);
      const auto row = tx.exec_params1(std::string("SELECT ") + kColumns + " FROM payment.sandbox_payments WHERE id = $1", id);
      o.cancellation = json::object{{"status", "SUCCEEDED"},
                                    {"id", row[16].as<std::string>()},
                                    {"totalAmount", row[6].as<std::int64_t>()},
                                    {"taxFreeAmount", 0},
                                    {"vatAmount", 0},
                                    {"reason", reason},
                                    {"requestedAt", Time(row[15])},
                                    {"cancelledAt", Time(row[15])}};
      o.transaction_id = row[2].as<std::string>();
      o.cancellation_id = row[16].as<std::string>();
      o.type = "Transaction.Cancelled";
      return o;
    });
    if (outcome.refused) co_return PortOneError(outcome.refused->status, outcome.refused->type, outcome.refused->message);
    if (webhook) {
      auto ex = co_await asio::this_coro::executor;
      asio::co_spawn(ex, SendWebhook(outcome.type, id, outcome.transaction_id, outcome.cancellation_id), asio::detached);
    }
    co_return Ok(json::object{{"cancellation", outcome.cancellation}});
  });
}

}  // namespace ticketd::payment
