// The booking saga end to end through the HTTP API of the real binary:
// waiting room → hold → payment at the sandbox gateway (PortOne V2 wire
// format, signed webhooks) → confirmation over embedded Kafka → seats SOLD;
// and the failure paths: declined card, a hold that expires before the money
// arrives (automatic refund), tampered amount, bad webhooks, a stalled
// gateway settled by reconciliation, a dead gateway behind an open breaker,
// another user's payment.
#include <doctest/doctest.h>

#include <signal.h>

#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <thread>

#include "payment/gateway.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/time.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

json::object Body(const test::HttpResponse& r) {
  try {
    return json::parse(r.body()).as_object();
  } catch (const std::exception&) {
    return {};
  }
}
std::string Str(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}
std::string Code(const test::HttpResponse& r) { return Str(Body(r), "code"); }

bool Eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 30s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return cond();
}

const std::string kWebhookSecret = "whsec_dGlja2V0ZC1zYW5kYm94LXdlYmhvb2stc2VjcmV0";

struct Shop {
  explicit Shop(std::map<std::string, std::string> extra = {}) {
    env = test::E2eEnv(db.url());
    env["TICKETD_QUEUE_ADMISSION_INTERVAL_MS"] = "100";
    env["TICKETD_RESERVATION_SWEEP_INTERVAL_MS"] = "100";
    env["TICKETD_PAYMENT_WORKER_INTERVAL_MS"] = "200";
    env["TICKETD_PAYMENT_GATEWAY_TIMEOUT_MS"] = "1500";
    env["TICKETD_PAYMENT_SANDBOX_STALL_MS"] = "4000";
    env["TICKETD_PAYMENT_RECONCILE_AFTER_SECONDS"] = "2";
    for (auto& [k, v] : extra) env[k] = v;
    auto [mrc, mout] = test::RunCommand({TICKETD_BINARY, "migrate"}, env);
    REQUIRE_MESSAGE(mrc == 0, mout);
    auto [rc, out] = test::RunCommand({TICKETD_BINARY, "seed"}, env);
    REQUIRE_MESSAGE(rc == 0, out);
    process = std::make_unique<test::TicketdProcess>(std::vector<std::string>{}, env);
    port = process->WaitListening();
    REQUIRE(port != 0);
    REQUIRE(test::WaitReady(port));
    admin = Login("admin@ticketd.local", "ticketd-admin-dev");
    // An event of our own on sale now, with a fast waiting room.
    auto demo = Body(Call(bhttp::verb::get, "/events?status=ON_SALE&q=Aurora", ""));
    const auto& item = demo.at("items").as_array().at(0).as_object();
    const std::string venue(item.at("venue").at("venueId").as_string());
    const std::string hall(item.at("hall").at("hallId").as_string());
    const auto now = std::chrono::system_clock::now();
    json::object ev{{"venueId", venue},
                    {"hallId", hall},
                    {"title", "Saga Live"},
                    {"artist", "The Testers"},
                    {"saleStartsAt", FormatRfc3339(now - 1h)},
                    {"saleEndsAt", FormatRfc3339(now + 48h)},
                    {"startsAt", FormatRfc3339(now + 72h)},
                    {"endsAt", FormatRfc3339(now + 75h)},
                    {"prices", json::object{{"VIP", 150000}, {"R", 120000}, {"S", 90000}, {"A", 60000}}},
                    {"queue", json::object{{"admissionRatePerSecond", 1000}, {"maxActive", 1000}}}};
    auto created = Call(bhttp::verb::post, "/admin/events", admin, json::serialize(ev));
    REQUIRE_MESSAGE(created.result_int() == 201, created.body());
    event_id = Str(Body(created), "eventId");
  }
  std::string Login(const std::string& email, const std::string& password) {
    auto r = Call(bhttp::verb::post, "/auth/login", "",
                  json::serialize(json::object{{"email", email}, {"password", password}, {"captchaToken", "test-pass"}}));
    REQUIRE_MESSAGE(r.result_int() == 200, r.body());
    return Str(Body(r), "accessToken");
  }
  // A fresh customer (ticketd admin create-user) logged in.
  std::string Customer() {
    const std::string email = "c-" + NewUuid().substr(0, 8) + "@example.com";
    auto [rc, out] = test::RunCommand({TICKETD_BINARY, "admin", "create-user", "--email", email, "--password",
                                       "customer-password-1", "--name", "Customer", "--role", "user"},
                                      env);
    REQUIRE_MESSAGE(rc == 0, out);
    return Login(email, "customer-password-1");
  }
  test::HttpResponse Call(bhttp::verb verb, const std::string& path, const std::string& token, const std::string& body = "",
                          std::map<std::string, std::string> headers = {}) {
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return test::Request(port, verb, "/api/v1" + path, body, headers);
  }
  std::string QueueToken(const std::string& user) {
    auto enter = Call(bhttp::verb::post, "/queue/" + event_id + "/enter", user);
    REQUIRE_MESSAGE(enter.result_int() / 100 == 2, enter.body());
    std::string token;
    REQUIRE(Eventually([&] {
      auto s = Body(Call(bhttp::verb::get, "/queue/" + event_id + "/status", user));
      token = Str(s, "reservationToken");
      return !token.empty();
    }));
    return token;
  }
  std::vector<std::string> Seats() {
    auto map = Body(Call(bhttp::verb::get, "/events/" + event_id + "/seats", admin));
    std::vector<std::string> out;
    for (const auto& s : map.at("seats").as_array()) out.emplace_back(s.at("seatId").as_string());
    return out;
  }
  std::string SeatStatus(const std::string& seat) {
    auto map = Body(Call(bhttp::verb::get, "/events/" + event_id + "/seats", admin));
    for (const auto& s : map.at("seats").as_array()) {
      if (s.at("seatId").as_string() == seat) return std::string(s.at("status").as_string());
    }
    return "";
  }
  // Hold → returns the hold body.
  json::object Hold(const std::string& user, const std::vector<std::string>& seats) {
    json::array ids;
    for (const auto& s : seats) ids.push_back(json::string(s));
    auto r = Call(bhttp::verb::post, "/reservations/hold", user,
                  json::serialize(json::object{{"eventId", event_id}, {"seatIds", ids}}),
                  {{"X-Queue-Token", QueueToken(user)}, {"Idempotency-Key", NewUuid()}});
    REQUIRE_MESSAGE(r.result_int() == 201, r.body());
    return Body(r);
  }
  json::object StartPayment(const std::string& user, const json::object& hold) {
    auto r = Call(bhttp::verb::post, "/payments", user,
                  json::serialize(json::object{{"reservationId", hold.at("reservationId")}, {"paymentKey", NewUuid()}}),
                  {{"X-Queue-Token", Str(hold, "paymentToken")}});
    REQUIRE_MESSAGE(r.result_int() == 201, r.body());
    return Body(r);
  }
  test::HttpResponse Pay(const std::string& payment_id, const std::string& card, json::object extra = {}) {
    json::object body{{"card", card}};
    for (auto& kv : extra) body[kv.key()] = kv.value();
    return test::Request(port, bhttp::verb::post, "/sandbox/pg/payments/" + payment_id + "/pay", json::serialize(body));
  }
  std::string ReservationStatus(const std::string& user, const std::string& id) {
    return Str(Body(Call(bhttp::verb::get, "/reservations/" + id, user)), "status");
  }
  std::string PaymentStatus(const std::string& user, const std::string& id) {
    return Str(Body(Call(bhttp::verb::get, "/payments/" + id, user)), "status");
  }
  long long Scalar(const std::string& sql) {
    pqxx::connection c(db.url());
    return pqxx::nontransaction(c).exec1(sql)[0].as<long long>();
  }

  test::TempDatabase db;
  std::map<std::string, std::string> env;
  std::unique_ptr<test::TicketdProcess> process;
  std::uint16_t port = 0;
  std::string admin;
  std::string event_id;
};

}  // namespace

TEST_CASE("booking e2e: pay succeeds → reservation CONFIRMED → seats SOLD, repeats have one effect, others see nothing") {
  Shop shop;
  const auto alice = shop.Customer();
  const auto bob = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(alice, {seats[0], seats[1]});
  const std::string reservation = Str(hold, "reservationId");
  CHECK(hold.at("totalAmount").as_int64() == 300000);
  CHECK(shop.SeatStatus(seats[0]) == "HELD");

  const auto payment = shop.StartPayment(alice, hold);
  const std::string payment_id = Str(payment, "paymentId");
  CHECK(Str(payment, "status") == "PENDING");
  CHECK(payment.at("amount").as_int64() == 300000);
  CHECK(payment.at("gateway").at("provider").as_string() == "sandbox");
  CHECK(payment.at("gateway").at("paymentId").as_string() == payment_id);

  // Bob can neither read nor confirm Alice's payment or reservation.
  CHECK(shop.Call(bhttp::verb::get, "/payments/" + payment_id, bob).result_int() == 404);
  CHECK(shop.Call(bhttp::verb::post, "/payments/" + payment_id + "/confirm", bob).result_int() == 404);
  CHECK(shop.Call(bhttp::verb::get, "/reservations/" + reservation, bob).result_int() == 404);

  // Not paid yet: confirm says PENDING.
  auto early = shop.Call(bhttp::verb::post, "/payments/" + payment_id + "/confirm", alice);
  REQUIRE(early.result_int() == 200);
  CHECK(Str(Body(early), "status") == "PENDING");

  REQUIRE(shop.Pay(payment_id, "4242424242424242").result_int() == 200);  // + a signed webhook
  auto confirm = shop.Call(bhttp::verb::post, "/payments/" + payment_id + "/confirm", alice);
  REQUIRE_MESSAGE(confirm.result_int() == 200, confirm.body());
  CHECK(Str(Body(confirm), "status") == "SUCCESS");
  // Confirm again: same answer, no second effect.
  CHECK(Str(Body(shop.Call(bhttp::verb::post, "/payments/" + payment_id + "/confirm", alice)), "status") == "SUCCESS");
  CHECK(Eventually([&] { return shop.ReservationStatus(alice, reservation) == "CONFIRMED"; }));
  CHECK(Eventually([&] { return shop.SeatStatus(seats[0]) == "SOLD" && shop.SeatStatus(seats[1]) == "SOLD"; }));
  // The qp_ token was used up by the payment: a second payment with a new
  // paymentKey is refused, the first one's replay still answers.
  // (Used up right after the SUCCESS commit, which may have been the webhook's.)
  CHECK(Eventually([&] {
    return shop.Scalar("SELECT count(*) FROM queue.tokens WHERE kind = 'qp' AND used_at IS NOT NULL AND reservation_id = '" +
                       reservation + "'") == 1;
  }));
  auto second = shop.Call(bhttp::verb::post, "/payments", alice,
                          json::serialize(json::object{{"reservationId", reservation}, {"paymentKey", NewUuid()}}),
                          {{"X-Queue-Token", Str(hold, "paymentToken")}});
  CHECK(second.result_int() == 403);
  CHECK(Code(second) == "QUEUE_TOKEN_INVALID");
  std::this_thread::sleep_for(500ms);
  CHECK(shop.Scalar("SELECT count(*) FROM payment.outbox WHERE event_type = 'PaymentSucceeded'") == 1);
  CHECK(shop.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationConfirmed'") == 1);
  CHECK(shop.Scalar("SELECT count(*) FROM catalog.seats WHERE status = 'SOLD'") == 2);
  // Every gateway exchange is logged, without the API secret.
  CHECK(shop.Scalar("SELECT count(*) FROM payment.gateway_log WHERE payment_id = '" + payment_id + "'") >= 3);
  CHECK(shop.Scalar("SELECT count(*) FROM payment.gateway_log WHERE request LIKE '%sandbox-api-secret%' "
                    "OR response LIKE '%sandbox-api-secret%'") == 0);

  auto mine = Body(shop.Call(bhttp::verb::get, "/payments", alice));
  CHECK(mine.at("total").as_int64() == 1);
  CHECK(Body(shop.Call(bhttp::verb::get, "/payments", bob)).at("total").as_int64() == 0);

  // The customer cancels the booking (not the show's day) → refund → seats back.
  auto cancel = shop.Call(bhttp::verb::post, "/reservations/" + reservation + "/cancel", alice);
  REQUIRE_MESSAGE(cancel.result_int() == 200, cancel.body());
  CHECK(Str(Body(cancel), "status") == "CANCELLED");
  CHECK(Eventually([&] { return shop.PaymentStatus(alice, payment_id) == "REFUNDED"; }));
  CHECK(Eventually([&] { return shop.SeatStatus(seats[0]) == "AVAILABLE"; }));
  CHECK(shop.Scalar("SELECT count(*) FROM payment.sandbox_payments WHERE status = 'CANCELLED' AND id = '" + payment_id + "'") == 1);
}

TEST_CASE("booking e2e: declined card → payment FAILED → reservation CANCELLED → seat AVAILABLE") {
  Shop shop;
  const auto user = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(user, {seats[5]});
  const auto payment = shop.StartPayment(user, hold);
  const std::string payment_id = Str(payment, "paymentId");
  REQUIRE(shop.Pay(payment_id, "4000000000000002", {{"webhook", false}}).result_int() == 200);
  auto confirm = shop.Call(bhttp::verb::post, "/payments/" + payment_id + "/confirm", user);
  REQUIRE_MESSAGE(confirm.result_int() == 200, confirm.body());
  CHECK(Str(Body(confirm), "status") == "FAILED");
  CHECK(Str(Body(confirm), "failureReason") == "card declined");
  CHECK(Eventually([&] { return shop.ReservationStatus(user, Str(hold, "reservationId")) == "CANCELLED"; }));
  CHECK(Eventually([&] { return shop.SeatStatus(seats[5]) == "AVAILABLE"; }));
}

TEST_CASE("booking e2e: the hold expires before the money arrives — automatic refund, the seat is never sold twice") {
  // Long enough for the payment to start on a slow machine, short for the test.
  Shop shop(std::map<std::string, std::string>{{"TICKETD_RESERVATION_HOLD_SECONDS", "5"}});
  const auto late = shop.Customer();
  const auto next = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(late, {seats[7]});
  const auto payment = shop.StartPayment(late, hold);
  const std::string payment_id = Str(payment, "paymentId");
  REQUIRE(Eventually([&] { return shop.ReservationStatus(late, Str(hold, "reservationId")) == "EXPIRED"; }));
  // The sweeper frees the live seat map right after its commit.
  REQUIRE(Eventually([&] { return shop.SeatStatus(seats[7]) == "AVAILABLE"; }));
  // Someone else takes the seat, then the late customer pays (webhook on).
  const auto other = shop.Hold(next, {seats[7]});
  REQUIRE(shop.Pay(payment_id, "4242424242424242").result_int() == 200);
  CHECK(Eventually([&] { return shop.PaymentStatus(late, payment_id) == "REFUNDED"; }));
  CHECK(shop.Scalar("SELECT count(*) FROM payment.sandbox_payments WHERE status = 'CANCELLED' AND id = '" + payment_id + "'") == 1);
  CHECK(shop.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationConfirmationRejected'") == 1);
  CHECK(shop.ReservationStatus(late, Str(hold, "reservationId")) == "EXPIRED");
  CHECK(shop.ReservationStatus(next, Str(other, "reservationId")) == "PENDING");
  CHECK(shop.SeatStatus(seats[7]) == "HELD");
  CHECK(shop.Scalar("SELECT count(*) FROM reservation.reservation_seats WHERE active AND seat_id = '" + seats[7] + "'") == 1);
}

TEST_CASE("booking e2e: a tampered amount fails the payment with AMOUNT_MISMATCH and the money goes back") {
  Shop shop;
  const auto user = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(user, {seats[9]});
  const auto payment = shop.StartPayment(user, hold);
  const std::string payment_id = Str(payment, "paymentId");
  REQUIRE(shop.Pay(payment_id, "4242424242424242", {{"amount", 100}, {"webhook", false}}).result_int() == 200);
  auto confirm = shop.Call(bhttp::verb::post, "/payments/" + payment_id + "/confirm", user);
  CHECK(confirm.result_int() == 409);
  CHECK(Code(confirm) == "AMOUNT_MISMATCH");
  CHECK(shop.PaymentStatus(user, payment_id) == "FAILED");
  CHECK(Eventually([&] {
    return shop.Scalar("SELECT count(*) FROM payment.sandbox_payments WHERE status = 'CANCELLED' AND id = '" + payment_id + "'") == 1;
  }));
  CHECK(Eventually([&] { return shop.ReservationStatus(user, Str(hold, "reservationId")) == "CANCELLED"; }));
  CHECK(shop.Scalar("SELECT count(*) FROM catalog.seats WHERE status = 'SOLD'") == 0);
}

TEST_CASE("booking e2e: webhooks — bad signature or stale timestamp → 401 and nothing changes, duplicates have one effect") {
  Shop shop;
  const auto user = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(user, {seats[11]});
  const auto payment = shop.StartPayment(user, hold);
  const std::string payment_id = Str(payment, "paymentId");
  REQUIRE(shop.Pay(payment_id, "4242424242424242", {{"webhook", false}}).result_int() == 200);

  const std::string body = R"({"type": "Transaction.Paid", "timestamp": "2026-11-21T00:00:00Z", "data": {"paymentId": ")" +
                           payment_id + R"(", "storeId": "store-ticketd-sandbox", "transactionId": "t"}})";
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto send = [&](const std::string& id, std::int64_t ts, const std::string& signature) {
    return test::Request(shop.port, bhttp::verb::post, "/api/v1/payments/webhooks/portone", body,
                         {{"webhook-id", id}, {"webhook-timestamp", std::to_string(ts)}, {"webhook-signature", signature}});
  };
  // A wrong signature, a stale timestamp and a missing header are refused; nothing changes.
  auto bad = send("msg_1", now, "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  CHECK(bad.result_int() == 401);
  CHECK(Code(bad) == "INVALID_SIGNATURE");
  std::this_thread::sleep_for(300ms);
  CHECK(shop.PaymentStatus(user, payment_id) == "PENDING");
  CHECK(test::Request(shop.port, bhttp::verb::post, "/api/v1/payments/webhooks/portone", body).result_int() == 401);
  const auto stale_ts = std::to_string(now - 600);
  CHECK(send("msg_2", now - 600, payment::SignWebhook(kWebhookSecret, "msg_2", stale_ts, body)).result_int() == 401);
  const auto other_secret = payment::SignWebhook("whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==", "msg_3", std::to_string(now), body);
  CHECK(send("msg_3", now, other_secret).result_int() == 401);
  std::this_thread::sleep_for(300ms);
  CHECK(shop.Scalar("SELECT count(*) FROM payment.webhooks") == 0);
  CHECK(shop.PaymentStatus(user, payment_id) == "PENDING");

  // A good delivery settles the payment without confirm; repeats and new ids have no second effect.
  const auto ts = std::to_string(now);
  auto good = send("msg_4", now, "v1,bm90LXRoaXMtb25l " + payment::SignWebhook(kWebhookSecret, "msg_4", ts, body));
  CHECK(good.result_int() == 200);
  CHECK(Eventually([&] { return shop.PaymentStatus(user, payment_id) == "SUCCESS"; }));
  CHECK(send("msg_4", now, payment::SignWebhook(kWebhookSecret, "msg_4", ts, body)).result_int() == 200);
  CHECK(send("msg_5", now, payment::SignWebhook(kWebhookSecret, "msg_5", ts, body)).result_int() == 200);
  CHECK(Eventually([&] { return shop.ReservationStatus(user, Str(hold, "reservationId")) == "CONFIRMED"; }));
  std::this_thread::sleep_for(500ms);
  CHECK(shop.Scalar("SELECT count(*) FROM payment.outbox WHERE event_type = 'PaymentSucceeded'") == 1);
  CHECK(shop.Scalar("SELECT count(*) FROM payment.webhooks") == 2);

  // Out of order: a "Transaction.Failed" webhook for a paid payment changes nothing (the gateway is asked).
  const std::string failed = R"({"type": "Transaction.Failed", "timestamp": "2026-11-21T00:00:00Z", "data": {"paymentId": ")" +
                             payment_id + R"("}})";
  auto out_of_order = test::Request(shop.port, bhttp::verb::post, "/api/v1/payments/webhooks/portone", failed,
                                    {{"webhook-id", "msg_6"}, {"webhook-timestamp", ts},
                                     {"webhook-signature", payment::SignWebhook(kWebhookSecret, "msg_6", ts, failed)}});
  CHECK(out_of_order.result_int() == 200);
  std::this_thread::sleep_for(500ms);
  CHECK(shop.PaymentStatus(user, payment_id) == "SUCCESS");
}

TEST_CASE("booking e2e: a stalled gateway leaves the payment PENDING until reconciliation settles it") {
  // A long stall: the PENDING checks below must land inside it on a slow machine.
  Shop shop(std::map<std::string, std::string>{{"TICKETD_PAYMENT_SANDBOX_STALL_MS", "10000"}});
  const auto user = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(user, {seats[13]});
  const auto payment = shop.StartPayment(user, hold);
  const std::string payment_id = Str(payment, "paymentId");
  // Paid, but the gateway stops answering about it for 10 s and sends no webhook.
  REQUIRE(shop.Pay(payment_id, "4000000000000119").result_int() == 200);
  auto confirm = shop.Call(bhttp::verb::post, "/payments/" + payment_id + "/confirm", user);
  CHECK(confirm.result_int() == 503);
  CHECK(Code(confirm) == "PAYMENT_GATEWAY_UNAVAILABLE");
  CHECK(shop.PaymentStatus(user, payment_id) == "PENDING");  // never SUCCESS without verification
  CHECK(shop.ReservationStatus(user, Str(hold, "reservationId")) == "PENDING");
  // Reconciliation asks again later and settles it.
  CHECK(Eventually([&] { return shop.PaymentStatus(user, payment_id) == "SUCCESS"; }, 40s));
  CHECK(Eventually([&] { return shop.ReservationStatus(user, Str(hold, "reservationId")) == "CONFIRMED"; }));
}

TEST_CASE("booking e2e: a dead gateway opens the breaker — fast 503, booking state intact") {
  Shop shop(std::map<std::string, std::string>{{"TICKETD_PAYMENT_GATEWAY", "portone"},
             {"TICKETD_PAYMENT_PORTONE_API_URL", "http://127.0.0.1:1"},
             {"TICKETD_PAYMENT_PORTONE_API_SECRET", "test-secret"},
             {"TICKETD_PAYMENT_BREAKER_MIN_CALLS", "3"},
             {"TICKETD_PAYMENT_BREAKER_WINDOW", "4"}});
  const auto user = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(user, {seats[15]});
  int unavailable = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = shop.Call(bhttp::verb::post, "/payments", user,
                       json::serialize(json::object{{"reservationId", hold.at("reservationId")}, {"paymentKey", NewUuid()}}),
                       {{"X-Queue-Token", Str(hold, "paymentToken")}});
    if (r.result_int() == 503 && Code(r) == "PAYMENT_GATEWAY_UNAVAILABLE") ++unavailable;
    CHECK(!r[bhttp::field::retry_after].empty());
  }
  CHECK(unavailable == 6);
  const auto metrics = test::Request(shop.port, bhttp::verb::get, "/metrics").body();
  CHECK(metrics.find("ticketd_payment_gateway_calls_total{outcome=\"circuit_open\"}") != std::string::npos);
  CHECK(metrics.find("ticketd_payment_gateway_calls_total{outcome=\"circuit_open\"} 0") == std::string::npos);
  // Nothing was recorded and the hold is intact.
  CHECK(shop.Scalar("SELECT count(*) FROM payment.payments") == 0);
  CHECK(shop.ReservationStatus(user, Str(hold, "reservationId")) == "PENDING");
  CHECK(shop.SeatStatus(seats[15]) == "HELD");
}

// Two instances over one database and one Kafka (the second uses the first's
// embedded cluster): a hold, a seat change and a release made through one
// instance show in the other's live seat map, which never loads anew.
TEST_CASE("booking e2e: a second instance's seat map follows holds made through the first") {
  Shop shop;
  std::string bootstrap;
  for (const auto& line : shop.process->Lines()) {
    if (line.find("embedded kafka started") == std::string::npos) continue;
    bootstrap = Str(json::parse(line).as_object(), "bootstrap");
  }
  REQUIRE(!bootstrap.empty());
  auto env = shop.env;
  env["TICKETD_KAFKA_BROKERS"] = bootstrap;
  test::TicketdProcess second({}, env);
  const auto port2 = second.WaitListening();
  REQUIRE(port2 != 0);
  REQUIRE(test::WaitReady(port2));
  REQUIRE(second.WaitForLine("memory consumer reading from the end", 60s));
  auto status_on_second = [&](const std::string& seat) {
    auto r = test::Request(port2, bhttp::verb::get, "/api/v1/events/" + shop.event_id + "/seats", "",
                           {{"Authorization", "Bearer " + shop.admin}});
    const auto map = Body(r);
    for (const auto& s : map.at("seats").as_array()) {
      if (s.at("seatId").as_string() == seat) return std::string(s.at("status").as_string());
    }
    return std::string();
  };
  const auto seats = shop.Seats();
  REQUIRE(status_on_second(seats[20]) == "AVAILABLE");

  const auto user = shop.Customer();
  const auto hold = shop.Hold(user, {seats[20], seats[21]});
  const std::string reservation = Str(hold, "reservationId");
  CHECK(Eventually([&] { return status_on_second(seats[20]) == "HELD" && status_on_second(seats[21]) == "HELD"; }));

  auto change = shop.Call(bhttp::verb::put, "/reservations/hold/" + reservation, user,
                          json::serialize(json::object{{"seatIds", json::array{json::string(seats[21]), json::string(seats[22])}}}));
  REQUIRE_MESSAGE(change.result_int() == 200, change.body());
  CHECK(Eventually([&] { return status_on_second(seats[20]) == "AVAILABLE" && status_on_second(seats[22]) == "HELD"; }));

  auto release = shop.Call(bhttp::verb::delete_, "/reservations/hold/" + reservation, user);
  REQUIRE_MESSAGE(release.result_int() / 100 == 2, release.body());
  CHECK(Eventually([&] { return status_on_second(seats[21]) == "AVAILABLE" && status_on_second(seats[22]) == "AVAILABLE"; }));
  second.Signal(SIGTERM);
  CHECK(second.Wait(30s) == 0);
}

// ---------------------------------------------------------------- [saga] defects, one test each

TEST_CASE("booking e2e: two payments for one hold — the loser's refund keeps the winner's booking") {
  Shop shop;
  const auto alice = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(alice, {seats[0]});
  const std::string reservation = Str(hold, "reservationId");
  // The customer closed the widget and started over: two payments, both paid.
  const std::string a = Str(shop.StartPayment(alice, hold), "paymentId");
  const std::string b = Str(shop.StartPayment(alice, hold), "paymentId");
  REQUIRE(shop.Pay(a, "4242424242424242", {{"webhook", false}}).result_int() == 200);
  REQUIRE(shop.Pay(b, "4242424242424242", {{"webhook", false}}).result_int() == 200);
  // Both are paid at the gateway, so each confirm verifies its payment: the
  // answer is SUCCESS, or — when reconciliation verified that payment first
  // and the reservation already refused it — its refund under way. Usually A
  // wins, but reconciliation may have verified B first: the winner is
  // whichever the reservation names. The loser is refused (ALREADY_PAID) and
  // refunded; its PaymentRefunded must not cancel the winner's booking.
  const auto verified = [](const std::string& status) {
    return status == "SUCCESS" || status == "REFUND_PENDING" || status == "REFUNDED";
  };
  const std::string confirm_a = Str(Body(shop.Call(bhttp::verb::post, "/payments/" + a + "/confirm", alice)), "status");
  CHECK_MESSAGE(verified(confirm_a), confirm_a);
  REQUIRE(Eventually([&] { return shop.ReservationStatus(alice, reservation) == "CONFIRMED"; }));
  const std::string confirm_b = Str(Body(shop.Call(bhttp::verb::post, "/payments/" + b + "/confirm", alice)), "status");
  CHECK_MESSAGE(verified(confirm_b), confirm_b);
  const std::string winner = Str(Body(shop.Call(bhttp::verb::get, "/reservations/" + reservation, alice)), "paymentId");
  REQUIRE((winner == a || winner == b));
  const std::string loser = winner == a ? b : a;
  REQUIRE(Eventually([&] { return shop.PaymentStatus(alice, loser) == "REFUNDED"; }, 60s));
  REQUIRE(Eventually([&] {
    return shop.Scalar("SELECT count(*) FROM reservation.processed_events WHERE event_type = 'PaymentRefunded'") == 1;
  }));
  CHECK(shop.ReservationStatus(alice, reservation) == "CONFIRMED");
  CHECK(shop.PaymentStatus(alice, winner) == "SUCCESS");
  CHECK(Str(Body(shop.Call(bhttp::verb::get, "/reservations/" + reservation, alice)), "paymentId") == winner);
  CHECK(shop.SeatStatus(seats[0]) == "SOLD");
}

TEST_CASE("booking e2e: a payment whose start was cut off before the gateway knew it is finished by the replay") {
  // chaos-50k: the gateway failed during the start and Postgres was down for
  // the cleanup, so the row stayed, never pre-registered; the replay of the
  // paymentKey answered it, and the customer could not pay it at the sandbox.
  Shop shop;
  const auto alice = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(alice, {seats[3]});
  const std::string reservation = Str(hold, "reservationId");
  const std::string key = NewUuid();
  const std::string id = NewUuid();
  {
    pqxx::connection c(shop.db.url());
    pqxx::work tx(c);
    tx.exec_params0(
        "INSERT INTO payment.payments (id, user_id, reservation_id, event_id, payment_key, amount, currency, order_name, "
        "fence, gateway, status, pre_registered, created_at, updated_at) "
        "SELECT $1, user_id, id, event_id, $2, total_amount, 'KRW', '1 seat', fence, 'sandbox', 'PENDING', false, "
        "now() - interval '1 minute', now() - interval '1 minute' FROM reservation.reservations WHERE id = $3",
        id, key, reservation);
    tx.commit();
  }
  // Unknown at the gateway: not payable yet.
  CHECK(shop.Pay(id, "4242424242424242", {{"webhook", false}}).result_int() == 404);
  auto replay = shop.Call(bhttp::verb::post, "/payments", alice,
                          json::serialize(json::object{{"reservationId", reservation}, {"paymentKey", key}}),
                          {{"X-Queue-Token", Str(hold, "paymentToken")}});
  REQUIRE_MESSAGE(replay.result_int() / 100 == 2, replay.body());
  CHECK(Str(Body(replay), "paymentId") == id);
  CHECK(Str(Body(replay), "status") == "PENDING");
  CHECK(shop.Scalar("SELECT count(*) FROM payment.payments WHERE id = '" + id + "' AND pre_registered") == 1);
  REQUIRE(shop.Pay(id, "4242424242424242", {{"webhook", false}}).result_int() == 200);
  REQUIRE(Str(Body(shop.Call(bhttp::verb::post, "/payments/" + id + "/confirm", alice)), "status") == "SUCCESS");
  CHECK(Eventually([&] { return shop.ReservationStatus(alice, reservation) == "CONFIRMED"; }));
  CHECK(Eventually([&] { return shop.SeatStatus(seats[3]) == "SOLD"; }));
  // A replay now answers the payment as it is; nothing is registered again.
  auto again = shop.Call(bhttp::verb::post, "/payments", alice,
                         json::serialize(json::object{{"reservationId", reservation}, {"paymentKey", key}}),
                         {{"X-Queue-Token", Str(hold, "paymentToken")}});
  REQUIRE_MESSAGE(again.result_int() / 100 == 2, again.body());
  CHECK(Str(Body(again), "status") == "SUCCESS");
}

TEST_CASE("booking e2e: a declined second payment does not cancel the hold another payment is completing") {
  Shop shop;
  const auto alice = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(alice, {seats[1]});
  const std::string reservation = Str(hold, "reservationId");
  const std::string a = Str(shop.StartPayment(alice, hold), "paymentId");
  const std::string b = Str(shop.StartPayment(alice, hold), "paymentId");
  REQUIRE(shop.Pay(b, "4000000000000002", {{"webhook", false}}).result_int() == 200);
  REQUIRE(Str(Body(shop.Call(bhttp::verb::post, "/payments/" + b + "/confirm", alice)), "status") == "FAILED");
  REQUIRE(Eventually([&] {
    return shop.Scalar("SELECT count(*) FROM reservation.processed_events WHERE event_type = 'PaymentFailed'") == 1;
  }));
  CHECK(shop.ReservationStatus(alice, reservation) == "PENDING");
  REQUIRE(shop.Pay(a, "4242424242424242", {{"webhook", false}}).result_int() == 200);
  REQUIRE(Str(Body(shop.Call(bhttp::verb::post, "/payments/" + a + "/confirm", alice)), "status") == "SUCCESS");
  CHECK(Eventually([&] { return shop.ReservationStatus(alice, reservation) == "CONFIRMED"; }));
  // With no other payment under way, a decline still releases the hold.
  const auto hold2 = shop.Hold(alice, {seats[2]});
  const std::string c = Str(shop.StartPayment(alice, hold2), "paymentId");
  REQUIRE(shop.Pay(c, "4000000000000002", {{"webhook", false}}).result_int() == 200);
  REQUIRE(Str(Body(shop.Call(bhttp::verb::post, "/payments/" + c + "/confirm", alice)), "status") == "FAILED");
  CHECK(Eventually([&] { return shop.ReservationStatus(alice, Str(hold2, "reservationId")) == "CANCELLED"; }));
}

TEST_CASE("booking e2e: after changing seats the customer pays for the new ones, the stale payment is refunded") {
  Shop shop;
  const auto alice = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(alice, {seats[3]});
  const std::string reservation = Str(hold, "reservationId");
  const std::string stale = Str(shop.StartPayment(alice, hold), "paymentId");
  auto changed = shop.Call(bhttp::verb::put, "/reservations/hold/" + reservation, alice,
                           json::serialize(json::object{{"seatIds", json::array{json::string(seats[4])}}}));
  REQUIRE_MESSAGE(changed.result_int() == 200, changed.body());
  // The customer pays the old payment anyway: refused (SEATS_CHANGED) and refunded.
  REQUIRE(shop.Pay(stale, "4242424242424242", {{"webhook", false}}).result_int() == 200);
  REQUIRE(Str(Body(shop.Call(bhttp::verb::post, "/payments/" + stale + "/confirm", alice)), "status") == "SUCCESS");
  REQUIRE(Eventually([&] { return shop.PaymentStatus(alice, stale) == "REFUNDED"; }));
  CHECK(shop.ReservationStatus(alice, reservation) == "PENDING");
  // The hold's qp_ token still pays for the new seats.
  const auto fresh = shop.StartPayment(alice, hold);
  CHECK(fresh.at("amount").as_int64() == Body(changed).at("totalAmount").as_int64());
  const std::string fresh_id = Str(fresh, "paymentId");
  REQUIRE(shop.Pay(fresh_id, "4242424242424242", {{"webhook", false}}).result_int() == 200);
  REQUIRE(Str(Body(shop.Call(bhttp::verb::post, "/payments/" + fresh_id + "/confirm", alice)), "status") == "SUCCESS");
  CHECK(Eventually([&] { return shop.ReservationStatus(alice, reservation) == "CONFIRMED"; }));
  CHECK(Eventually([&] { return shop.SeatStatus(seats[4]) == "SOLD"; }));
  CHECK(shop.SeatStatus(seats[3]) == "AVAILABLE");
  // Confirmed: now the token is used up.
  CHECK(Eventually([&] {
    return shop.Scalar("SELECT count(*) FROM queue.tokens WHERE kind = 'qp' AND used_at IS NOT NULL AND reservation_id = '" +
                       reservation + "'") == 1;
  }));
}

TEST_CASE("booking e2e: a released seat never shows HELD again") {
  Shop shop;
  const auto alice = shop.Customer();
  const auto seats = shop.Seats();
  for (int round = 0; round < 5; ++round) {
    const auto hold = shop.Hold(alice, {seats[5]});
    const std::string reservation = Str(hold, "reservationId");
    REQUIRE(shop.Call(bhttp::verb::delete_, "/reservations/hold/" + reservation, alice).result_int() == 204);
    CHECK(shop.SeatStatus(seats[5]) == "AVAILABLE");
    // Until this instance's memory consumer has read the hold's and the
    // release's events back from Kafka, the seat must stay AVAILABLE.
    const std::string cancelled_sql =
        "SELECT count(*) FROM reservation.outbox WHERE aggregate_id = '" + reservation + "' AND published_at IS NOT NULL";
    bool held_again = false;
    Eventually([&] {
      held_again = held_again || shop.SeatStatus(seats[5]) != "AVAILABLE";
      return shop.Scalar(cancelled_sql) == 2;
    });
    // And a while after publication (the memory consumer's fetch wait is 50 ms).
    for (int i = 0; i < 10; ++i) held_again = held_again || shop.SeatStatus(seats[5]) != "AVAILABLE";
    CHECK_FALSE(held_again);
  }
}

TEST_CASE("booking e2e: the seat map of an upcoming event answers right after a price change") {
  Shop shop;
  auto demo = Body(shop.Call(bhttp::verb::get, "/events?q=Aurora", ""));
  const auto& item = demo.at("items").as_array().at(0).as_object();
  const auto now = std::chrono::system_clock::now();
  json::object ev{{"venueId", item.at("venue").at("venueId")},
                  {"hallId", item.at("hall").at("hallId")},
                  {"title", "Later Live"},
                  {"artist", "The Testers"},
                  {"saleStartsAt", FormatRfc3339(now + 24h)},
                  {"saleEndsAt", FormatRfc3339(now + 48h)},
                  {"startsAt", FormatRfc3339(now + 72h)},
                  {"endsAt", FormatRfc3339(now + 75h)},
                  {"prices", json::object{{"VIP", 150000}, {"R", 120000}, {"S", 90000}, {"A", 60000}}}};
  auto created = shop.Call(bhttp::verb::post, "/admin/events", shop.admin, json::serialize(ev));
  REQUIRE_MESSAGE(created.result_int() == 201, created.body());
  const std::string id = Str(Body(created), "eventId");
  REQUIRE(shop.Call(bhttp::verb::get, "/events/" + id + "/seats", shop.admin).result_int() == 200);
  json::object prices{{"prices", json::object{{"VIP", 160000}, {"R", 120000}, {"S", 90000}, {"A", 60000}}}};
  auto updated = shop.Call(bhttp::verb::put, "/admin/events/" + id, shop.admin, json::serialize(prices));
  REQUIRE_MESSAGE(updated.result_int() == 200, updated.body());
  auto map = shop.Call(bhttp::verb::get, "/events/" + id + "/seats", shop.admin);
  REQUIRE_MESSAGE(map.result_int() == 200, map.body());
  bool vip_repriced = false;
  const auto body = Body(map);
  for (const auto& s : body.at("seats").as_array()) {
    if (s.at("grade").as_string() == "VIP") vip_repriced = s.at("price").as_int64() == 160000;
  }
  CHECK(vip_repriced);
}

TEST_CASE("booking e2e: kill -9 with the embedded Kafka — events published to the dead brokers are sent again") {
  Shop shop;
  const auto alice = shop.Customer();
  const auto seats = shop.Seats();
  const auto hold = shop.Hold(alice, {seats[6]});
  const std::string reservation = Str(hold, "reservationId");
  const std::string pay = Str(shop.StartPayment(alice, hold), "paymentId");
  REQUIRE(shop.Pay(pay, "4242424242424242", {{"webhook", false}}).result_int() == 200);
  REQUIRE(Str(Body(shop.Call(bhttp::verb::post, "/payments/" + pay + "/confirm", alice)), "status") == "SUCCESS");
  REQUIRE(Eventually([&] { return shop.SeatStatus(seats[6]) == "SOLD"; }));
  REQUIRE(Eventually([&] {
    return shop.Scalar("SELECT count(*) FROM catalog.processed_events WHERE event_type = 'ReservationConfirmed'") == 1;
  }));
  shop.process->Signal(SIGKILL);
  REQUIRE(shop.process->Wait(10s) == 128 + SIGKILL);
  // As if the kill came a moment earlier: ReservationConfirmed was delivered
  // to the (in-process) brokers and marked published, but catalog had not
  // consumed it yet.
  {
    pqxx::connection c(shop.db.url());
    pqxx::work tx(c);
    tx.exec0("DELETE FROM catalog.processed_events WHERE event_type = 'ReservationConfirmed'");
    tx.exec_params0("UPDATE catalog.seats SET status = 'AVAILABLE', reservation_id = NULL WHERE id = $1", seats[6]);
    tx.exec0("UPDATE catalog.events SET sold_total = 0");
    tx.commit();
  }
  REQUIRE(shop.Scalar("SELECT count(*) FROM reservation.outbox WHERE event_type = 'ReservationConfirmed' AND "
                      "published_at IS NOT NULL") == 1);
  shop.process = std::make_unique<test::TicketdProcess>(std::vector<std::string>{}, shop.env);
  shop.port = shop.process->WaitListening();
  REQUIRE(shop.port != 0);
  REQUIRE(test::WaitReady(shop.port));
  CHECK(Eventually([&] {
    return shop.Scalar("SELECT count(*) FROM catalog.seats WHERE status = 'SOLD' AND id = '" + seats[6] + "'") == 1;
  }));
  CHECK(Eventually([&] { return shop.SeatStatus(seats[6]) == "SOLD"; }));
  CHECK(shop.Scalar("SELECT count(*) FROM catalog.processed_events WHERE event_type = 'ReservationConfirmed'") == 1);
  CHECK(shop.ReservationStatus(alice, reservation) == "CONFIRMED");
}
