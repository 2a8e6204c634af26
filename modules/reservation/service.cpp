#include "reservation/service.hpp"

#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <set>

#include "ticketd/core/crypto.hpp"
#include "ticketd/core/error.hpp"
#include "ticketd/core/http.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/log.hpp"
#include "ticketd/core/time.hpp"
#include "ticketd/reservation/events.hpp"

namespace ticketd::reservation {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSchema = "reservation";

std::string Us(const std::string& column) { return "(extract(epoch from " + column + ") * 1000000)::bigint"; }

[[noreturn]] void Throw(int status, const char* code, const char* title, std::string detail) {
  throw ApiError(problems::Make(status, code, title, std::move(detail)));
}

[[noreturn]] void Unprocessable(std::string field, std::string message) {
  std::string detail = field + ": " + message;
  throw ApiError(problems::ValidationFailed(std::move(detail), {{std::move(field), std::move(message)}}, 422));
}

[[noreturn]] void NotFound() { throw ApiError(problems::NotFound("Reservation not found")); }

std::string UuidArray(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + ids[i];
  return out + "}";
}

const char* TokenDetail(queue::TokenCheck c) {
  switch (c) {
    case queue::TokenCheck::kOk:
      return "ok";
    case queue::TokenCheck::kInvalid:
      return "The queue token is not valid";
    case queue::TokenCheck::kWrongUser:
      return "The queue token belongs to another user";
    case queue::TokenCheck::kWrongEvent:
      return "The queue token is for another event";
    case queue::TokenCheck::kExpired:
      return "The queue token has expired; join the waiting room again";
    case queue::TokenCheck::kUsed:
      return "The queue token has already been used";
  }
  return "The queue token is not valid";
}

[[noreturn]] void QueueTokenInvalid(queue::TokenCheck c) {
  Throw(403, "QUEUE_TOKEN_INVALID", "Queue token invalid", TokenDetail(c));
}

struct Row {
  std::string id;
  std::string user_id;
  std::string event_id;
  std::string status;
  std::int64_t total = 0;
  std::int64_t fence = 0;
  std::int64_t hold_expires_us = 0;
  std::string payment_id;
  std::string cancel_reason;
  std::int64_t created_us = 0;
  std::int64_t updated_us = 0;
  std::optional<std::int64_t> confirmed_us;
  std::vector<ReservedSeat> seats;
};

const std::string& RowColumns() {
  static const std::string kColumns = "r.id, r.user_id, r.event_id, r.status, r.total_amount, r.fence, " +
                                      Us("r.hold_expires_at") +
                                      ", coalesce(r.payment_id, ''), coalesce(r.cancel_reason, ''), " +
                                      Us("r.created_at") + ", " + Us("r.updated_at") + ", " + Us("r.confirmed_at");
  return kColumns;
}

Row ReadRow(const pqxx::row& r) {
  Row out;
  out.id = r[0].as<std::string>();
  out.user_id = r[1].as<std::string>();
  out.event_id = r[2].as<std::string>();
  out.status = r[3].as<std::string>();
  out.total = r[4].as<std::int64_t>();
  out.fence = r[5].as<std::int64_t>();
  out.hold_expires_us = r[6].as<std::int64_t>();
  out.payment_id = r[7].as<std::string>();
  out.cancel_reason = r[8].as<std::string>();
  out.created_us = r[9].as<std::int64_t>();
  out.updated_us = r[10].as<std::int64_t>();
  if (!r[11].is_null()) out.confirmed_us = r[11].as<std::int64_t>();
  return out;
}

void LoadSeats(pqxx::work& tx, Row& row) {
  row.seats.clear();
  for (const auto& s :
       db::ExecPrepared(tx,
                        "SELECT seat_id, label, grade, price FROM reservation.reservation_seats "
                        "WHERE reservation_id = $1 AND fence = $2 ORDER BY created_at, label COLLATE \"C\"",
                        row.id, row.fence)) {
    row.seats.push_back(
        {s[0].as<std::string>(), s[1].as<std::string>(), s[2].as<std::string>(), s[3].as<std::int64_t>()});
  }
}

std::optional<Row> LoadRow(pqxx::work& tx, const std::string& id, bool for_update) {
  static const std::string kSelect = "SELECT " + RowColumns() + " FROM reservation.reservations r WHERE r.id = $1";
  static const std::string kSelectForUpdate = kSelect + " FOR UPDATE";
  const auto rows = db::ExecPrepared(tx, for_update ? kSelectForUpdate : kSelect, id);
  if (rows.empty()) return std::nullopt;
  auto row = ReadRow(rows[0]);
  LoadSeats(tx, row);
  return row;
}

json::array SeatsJson(const std::vector<ReservedSeat>& seats) {
  json::array out;
  for (const auto& s : seats) {
    out.push_back(json::object{{"seatId", s.seat_id}, {"label", s.label}, {"grade", s.grade}, {"price", s.price}});
  }
  return out;
}

json::object ToJson(const Row& r) {
  json::object o{{"reservationId", r.id},
                 {"eventId", r.event_id},
                 {"status", r.status},
                 {"seats", SeatsJson(r.seats)},
                 {"totalAmount", r.total},
                 {"currency", "KRW"},
                 {"holdExpiresAt", FormatRfc3339(FromMicros(r.hold_expires_us))},
                 {"createdAt", FormatRfc3339(FromMicros(r.created_us))},
                 {"updatedAt", FormatRfc3339(FromMicros(r.updated_us))}};
  o["confirmedAt"] = r.confirmed_us ? json::value(FormatRfc3339(FromMicros(*r.confirmed_us))) : json::value(nullptr);
  o["cancelReason"] = r.cancel_reason.empty() ? json::value(nullptr) : json::value(r.cancel_reason);
  o["paymentId"] = r.payment_id.empty() ? json::value(nullptr) : json::value(r.payment_id);
  return o;
}

json::array IdsJson(const std::vector<std::string>& ids) {
  json::array out;
  for (const auto& id : ids) out.push_back(json::string(id));
  return out;
}

void Publish(pqxx::work& tx, std::string_view type, const Row& r, json::object extra, const events::Metadata& meta) {
  std::vector<std::string> ids;
  for (const auto& s : r.seats) ids.push_back(s.seat_id);
  json::object payload{
      {"reservationId", r.id}, {"eventId", r.event_id}, {"userId", r.user_id}, {"seatIds", IdsJson(ids)}};
  for (auto& kv : extra) payload[kv.key()] = kv.value();
  auto envelope = events::Make(std::string(type), std::string(domain::kAggregateType), r.id, std::move(payload), meta);
  events::AppendToOutbox(tx, kSchema, domain::kTopic, envelope);
}

std::string PayloadString(const events::Envelope& e, const char* key, bool required = true) {
  const auto* v = e.payload.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    if (required) throw std::invalid_argument(std::string("payload.") + key + " missing");
    return {};
  }
  return std::string(v->as_string());
}

std::optional<std::int64_t> PayloadInt(const events::Envelope& e, const char* key) {
  const auto* v = e.payload.if_contains(key);
  if (v == nullptr || !v->is_int64()) return std::nullopt;
  return v->as_int64();
}

// One booking, one story: every event about reservation R carries R's id as
// its correlation id (payment uses it too); the causation id is the event or
// request that caused it.
events::Metadata Caused(const std::string& reservation_id, const events::Envelope& e) {
  return {reservation_id, e.event_id, e.metadata.user_id};
}

Answer ProblemAnswer(const ApiError& e, const std::string& request_id) {
  const auto res = http::ProblemResponse(e.problem(), request_id);
  return {e.problem().status, res.body(), {}};
}

}  // namespace

ReservationService::ReservationService(ReservationOptions options, db::Pool& pool, catalog::CatalogReader& catalog,
                                       catalog::SeatMapFeed& seat_map, queue::QueueTokens& tokens,
                                       metrics::Registry* registry)
    : options_(options), pool_(pool), catalog_(catalog), seat_map_(seat_map), tokens_(tokens) {
  if (registry != nullptr) {
    const std::string holds = "ticketd_reservation_holds_total";
    holds_ok_ = &registry->GetCounter(holds, "Hold attempts by outcome", {{"outcome", "held"}});
    holds_conflict_ = &registry->GetCounter(holds, "Hold attempts by outcome", {{"outcome", "seat_unavailable"}});
    expired_ = &registry->GetCounter("ticketd_reservation_expired_total", "Holds expired by the sweeper or inline");
    confirmed_ = &registry->GetCounter("ticketd_reservation_confirmed_total", "Reservations confirmed after payment");
    rejected_ = &registry->GetCounter("ticketd_reservation_confirmation_rejected_total",
                                      "Payments that arrived for reservations that could no longer be confirmed");
  }
}

ReservationService::~ReservationService() { Stop(); }

// ---------------------------------------------------------------- idempotency

namespace {

enum class Claim { kOwn, kReplay, kMismatch, kBusy };
struct Claimed {
  Claim claim = Claim::kOwn;
  Answer answer;
};

// The key (user, key) exists: what it says about this request. A stale
// IN_PROGRESS key (its first attempt died half-way) is taken over.
Claimed JudgeExistingKey(pqxx::work& tx, const std::string& user_id, const std::string& key,
                         const std::string& operation, const std::string& request_hash, std::int64_t stale_seconds) {
  Claimed c;
  const auto row = tx.exec_params1(
      "SELECT operation, request_hash, state, coalesce(response_status, 0), coalesce(response_body, ''), "
      "created_at < now() - make_interval(secs => $3) FROM reservation.idempotency_keys "
      "WHERE user_id = $1 AND key = $2 FOR UPDATE",
      user_id, key, stale_seconds);
  if (row[0].as<std::string>() != operation || row[1].as<std::string>() != request_hash) {
    c.claim = Claim::kMismatch;
  } else if (row[2].as<std::string>() == "DONE") {
    c.claim = Claim::kReplay;
    c.answer = {row[3].as<int>(), row[4].as<std::string>(), {}};
  } else if (row[5].as<bool>()) {
    tx.exec_params0("UPDATE reservation.idempotency_keys SET created_at = now() WHERE user_id = $1 AND key = $2",
                    user_id, key);
  } else {
    c.claim = Claim::kBusy;
  }
  return c;
}

// Replays, or refuses with 422 / 409; returns nothing when the key is ours.
std::optional<Answer> Settle(const Claimed& claimed) {
  if (claimed.claim == Claim::kReplay) return claimed.answer;
  if (claimed.claim == Claim::kMismatch) {
    Throw(422, "IDEMPOTENCY_KEY_REUSED", "Idempotency key reused",
          "This Idempotency-Key was used for a different request; use a new key");
  }
  if (claimed.claim == Claim::kBusy) {
    Throw(409, "IDEMPOTENCY_IN_PROGRESS", "Request in progress",
          "A request with this Idempotency-Key is still being processed");
  }
  return std::nullopt;
}

}  // namespace

boost::asio::awaitable<Answer> ReservationService::Idempotent(std::string user_id, std::string key,
                                                              std::string operation, std::string request_hash,
                                                              std::string request_id,
                                                              std::function<boost::asio::awaitable<Answer>()> work) {
  const auto stale = static_cast<std::int64_t>(options_.idempotency_stale.count());
  const auto claimed = co_await pool_.Transact([&](pqxx::work& tx) {
    // Asynchronous commit is safe here: WAL is flushed in order, so the
    // (synchronous) commit of the work this key guards makes the claim durable
    // too; a claim lost in a crash guarded nothing that happened.
    tx.exec0("SET LOCAL synchronous_commit = off");
    const auto inserted = tx.exec_params(
        "INSERT INTO reservation.idempotency_keys (user_id, key, operation, request_hash, state) "
        "VALUES ($1, $2, $3, $4, 'IN_PROGRESS') ON CONFLICT (user_id, key) DO NOTHING RETURNING 1",
        user_id, key, operation, request_hash);
    if (!inserted.empty()) return Claimed{};
    return JudgeExistingKey(tx, user_id, key, operation, request_hash, stale);
  });
  if (auto settled = Settle(claimed)) co_return *settled;
  Answer answer;
  std::exception_ptr failure;
  try {
    answer = co_await work();
  } catch (const ApiError& e) {
    if (e.problem().status >= 500) {
      failure = std::current_exception();
    } else {
      answer = ProblemAnswer(e, request_id);  // a definite answer: replayed for this key
    }
  } catch (...) {
    failure = std::current_exception();  // not an answer (Postgres down, a bug)
  }
  if (failure) {
    co_await ForgetKey(user_id, key);
    std::rethrow_exception(failure);
  }
  co_await RecordAnswer(user_id, key, answer);
  co_return answer;
}

boost::asio::awaitable<void> ReservationService::ForgetKey(const std::string& user_id, const std::string& key) {
  // So that a retry runs again (if this fails too, the key goes stale and can
  // be retried after idempotency_stale).
  try {
    co_await pool_.Transact([&](pqxx::work& tx) {
      tx.exec_params0("DELETE FROM reservation.idempotency_keys WHERE user_id = $1 AND key = $2", user_id, key);
    });
  } catch (const std::exception&) {
  }
}

boost::asio::awaitable<void> ReservationService::RecordAnswer(const std::string& user_id, const std::string& key,
                                                              const Answer& answer) {
  co_await pool_.Transact([&](pqxx::work& tx) {
    // Asynchronous commit: the effect itself committed synchronously; losing
    // this answer in a crash leaves the key IN_PROGRESS, retried after
    // idempotency_stale against the (durable) current state.
    tx.exec0("SET LOCAL synchronous_commit = off");
    db::ExecPrepared(tx,
                     "UPDATE reservation.idempotency_keys SET state = 'DONE', response_status = $3, response_body = $4 "
                     "WHERE user_id = $1 AND key = $2",
                     user_id, key, answer.status, answer.body);
  });
}

boost::asio::awaitable<Answer> ReservationService::RememberFailure(const std::string& user_id, const std::string& key,
                                                                   const std::string& operation,
                                                                   const std::string& request_hash, Answer answer) {
  const auto stale = static_cast<std::int64_t>(options_.idempotency_stale.count());
  const auto claimed = co_await pool_.Transact([&](pqxx::work& tx) {
    tx.exec0("SET LOCAL synchronous_commit = off");  // a lost failure answer is simply computed again
    const auto inserted = tx.exec_params(
        "INSERT INTO reservation.idempotency_keys (user_id, key, operation, request_hash, state, response_status, "
        "response_body) "
        "VALUES ($1, $2, $3, $4, 'DONE', $5, $6) ON CONFLICT (user_id, key) DO NOTHING RETURNING 1",
        user_id, key, operation, request_hash, answer.status, answer.body);
    if (!inserted.empty()) return Claimed{};
    auto c = JudgeExistingKey(tx, user_id, key, operation, request_hash, stale);
    if (c.claim == Claim::kOwn) {  // a stale attempt's key, taken over: this answer is the key's answer
      tx.exec_params0(
          "UPDATE reservation.idempotency_keys SET state = 'DONE', response_status = $3, response_body = $4 "
          "WHERE user_id = $1 AND key = $2",
          user_id, key, answer.status, answer.body);
    }
    return c;
  });
  if (auto settled = Settle(claimed)) co_return *settled;
  co_return answer;
}

// ---------------------------------------------------------------- hold

boost::asio::awaitable<ReservationService::Resolved> ReservationService::ResolveForHold(
    const std::string& event_id, const std::vector<std::string>& seat_ids) {
  std::string eid = event_id;
  const auto event = co_await catalog_.FindEvent(std::move(eid));
  if (!event) Unprocessable("eventId", "no such event");
  const auto status = event->StatusAt(std::chrono::system_clock::now());
  if (status != catalog::EventStatus::kOnSale) {
    Throw(409, "SALE_NOT_OPEN", "Sale not open",
          std::string("The event is ") + catalog::ToString(status) + ", not on sale");
  }
  const auto res = catalog_.ResolveSeats(event_id, seat_ids);
  if (!res.unknown_seat_ids.empty()) {
    for (std::size_t i = 0; i < seat_ids.size(); ++i) {
      if (seat_ids[i] == res.unknown_seat_ids.front())
        Unprocessable("seatIds[" + std::to_string(i) + "]", "not a seat of this event");
    }
  }
  Resolved out;
  for (const auto& s : res.seats) {
    // The live map is a fast path only; the database constraint decides.
    if (s.status != catalog::SeatStatus::kAvailable) {
      if (holds_conflict_ != nullptr) holds_conflict_->Inc();
      Throw(409, "SEAT_UNAVAILABLE", "Seat unavailable", "Seat " + s.label + " is not available");
    }
    out.total += s.price;
  }
  out.seats = res.seats;
  co_return out;
}

// The common case costs one transaction with four statements: the key is
// claimed inside the hold's own transaction (it commits with the hold or not
// at all). A key that exists already — a retry, a concurrent duplicate, a
// different body — goes through Idempotent() as before.
boost::asio::awaitable<Answer> ReservationService::Hold(HoldInput in) {
  const std::string hash = crypto::Sha256Hex("hold|" + in.event_id + "|" + UuidArray(in.seat_ids));
  const std::string op = "hold";
  std::optional<Answer> answer;
  bool claimed = false;  // the key is ours, DONE with the hold's answer, committed with the hold
  std::exception_ptr failure;
  std::optional<Answer> definite_failure;
  try {
    HoldInput copy = in;
    answer = co_await HoldOnce(std::move(copy), &hash, &claimed);
  } catch (const ApiError& e) {
    if (e.problem().status >= 500) {
      failure = std::current_exception();
    } else {
      definite_failure = ProblemAnswer(e, in.request_id);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  // After `claimed`, a failure means the hold was given back (the queue
  // token could not be used up): the key's stored 201 must not stay.
  if (failure) {
    if (claimed) co_await ForgetKey(in.user_id, in.idempotency_key);
    std::rethrow_exception(failure);
  }
  if (definite_failure) {
    if (claimed) {
      co_await RecordAnswer(in.user_id, in.idempotency_key, *definite_failure);
      co_return *definite_failure;
    }
    // Nothing was written: remember this answer, unless the key already has
    // one (a retry of a hold that used its queue token up gets that hold back).
    co_return co_await RememberFailure(in.user_id, in.idempotency_key, op, hash, std::move(*definite_failure));
  }
  if (!answer) {
    std::function<boost::asio::awaitable<Answer>()> work = [this, in]() -> boost::asio::awaitable<Answer> {
      HoldInput again = in;
      auto held = co_await HoldOnce(std::move(again), nullptr, nullptr);
      co_return std::move(*held);
    };
    std::string user = in.user_id;
    std::string key = in.idempotency_key;
    std::string operation = op;
    std::string request_hash = hash;
    std::string request_id = in.request_id;
    co_return co_await Idempotent(std::move(user), std::move(key), std::move(operation), std::move(request_hash),
                                  std::move(request_id), std::move(work));
  }
  co_return std::move(*answer);  // stored on the key by the hold's own transaction
}

namespace {

std::string SeatsForInsert(const std::vector<catalog::SeatQuote>& seats) {
  json::array out;
  for (const auto& s : seats) {
    out.push_back(json::object{{"seat_id", s.seat_id}, {"label", s.label}, {"grade", s.grade}, {"price", s.price}});
  }
  return json::serialize(out);
}

}  // namespace

boost::asio::awaitable<std::optional<Answer>> ReservationService::HoldOnce(HoldInput in, const std::string* claim_hash,
                                                                           bool* claimed) {
  std::string token = in.queue_token;
  std::string user_for_token = in.user_id;
  std::string event_for_token = in.event_id;
  const auto check = co_await tokens_.ValidateReservationToken(std::move(token), std::move(user_for_token),
                                                               std::move(event_for_token));
  if (check != queue::TokenCheck::kOk) QueueTokenInvalid(check);
  const auto resolved = co_await ResolveForHold(in.event_id, in.seat_ids);

  const std::string id = NewUuid();
  // The payment token before the hold, so that the whole answer is known in
  // the hold's transaction and stored on the key there. A hold that then
  // fails leaves a token naming a reservation that does not exist: it can pay
  // for nothing and expires with the hold time.
  std::string payment_token;
  {
    std::string u = in.user_id;
    std::string e = in.event_id;
    std::string r = id;
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(options_.hold_ttl) + 60s;
    try {
      payment_token = co_await tokens_.IssuePaymentToken(std::move(u), std::move(e), std::move(r), ttl);
    } catch (const DependencyUnavailable& failure) {
      throw ApiError(problems::ServiceUnavailable(std::string("queue: ") + failure.reason()));
    }
  }
  const auto hold_seconds = static_cast<std::int64_t>(options_.hold_ttl.count());
  const events::Metadata meta{id, in.request_id, in.user_id};
  const std::string seats_json = SeatsForInsert(resolved.seats);
  struct Held {
    Row row;
    Answer answer;
  };
  struct KeyTaken {};
  std::optional<Held> attempt;
  try {
    attempt = co_await pool_.Transact([&](pqxx::work& tx) {
      Held out;
      // One user's holds for one event are serialized: the per-user limit
      // holds under concurrency, and so does the key (claimed below).
      const std::string lock_key = "hold:" + in.user_id + ":" + in.event_id;
      db::ExecPrepared(tx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lock_key);
      // A fresh snapshot after the lock: what this user holds now, holds on
      // these seats that timed out but were not swept yet, the fence and the clock.
      static constexpr const char* kCountSql =
          "SELECT count(*) FROM reservation.reservation_seats WHERE user_id = $1 AND event_id = $2 AND active";
      static const std::string kStateSql =
          "SELECT (" + std::string(kCountSql) +
          "), "
          "ARRAY(SELECT r.id::text FROM reservation.reservations r WHERE r.status = 'PENDING' AND r.hold_expires_at <= "
          "now() "
          "      AND r.id IN (SELECT s.reservation_id FROM reservation.reservation_seats s "
          "                   WHERE s.event_id = $2 AND s.seat_id = ANY($3::uuid[]) AND s.active) "
          "      FOR UPDATE OF r SKIP LOCKED), "
          "nextval('reservation.fence_seq'), " +
          Us("now()");
      const auto state_rows = db::ExecPrepared(tx, kStateSql, in.user_id, in.event_id, UuidArray(in.seat_ids));
      const auto state = state_rows[0];
      auto held_count = state[0].as<std::int64_t>();
      auto stale = state[1].as_array();
      std::vector<std::string> stale_ids;
      for (auto [kind, text] = stale.get_next(); kind != pqxx::array_parser::juncture::done;
           std::tie(kind, text) = stale.get_next()) {
        if (kind == pqxx::array_parser::juncture::string_value) stale_ids.push_back(text);
      }
      if (!stale_ids.empty()) {
        for (const auto& stale_id : stale_ids) {
          EndReservation(tx, stale_id, "EXPIRED", "HOLD_EXPIRED", events::Metadata{stale_id, in.request_id, ""});
          if (expired_ != nullptr) expired_->Inc();
        }
        held_count = tx.exec_params1(kCountSql, in.user_id, in.event_id)[0].as<std::int64_t>();
      }
      if (held_count + static_cast<std::int64_t>(in.seat_ids.size()) > options_.max_seats_per_user) {
        Throw(422, "SEAT_LIMIT_EXCEEDED", "Seat limit exceeded",
              "At most " + std::to_string(options_.max_seats_per_user) +
                  " seats per person for this event (you already hold or booked " + std::to_string(held_count) + ")");
      }
      const auto fence = state[2].as<std::int64_t>();
      const auto now_us = state[3].as<std::int64_t>();
      // Everything the answer says is known now.
      Row& r = out.row;
      r.id = id;
      r.user_id = in.user_id;
      r.event_id = in.event_id;
      r.status = "PENDING";
      r.total = resolved.total;
      r.fence = fence;
      r.hold_expires_us = now_us + hold_seconds * 1000000;
      r.created_us = now_us;
      r.updated_us = now_us;
      for (const auto& seat : resolved.seats) r.seats.push_back({seat.seat_id, seat.label, seat.grade, seat.price});
      std::sort(r.seats.begin(), r.seats.end(), [](const auto& a, const auto& b) { return a.label < b.label; });
      auto body_json = ToJson(r);
      body_json["paymentToken"] = payment_token;
      out.answer = Answer{201, json::serialize(body_json), "/api/v1/reservations/" + id};

      // The reservation, its seat rows and (on the fast path) the key with this
      // answer in one statement. Seat rows go in seat-id order, so two holds
      // over the same seats never wait on each other in a cycle; the unique
      // index on active seat rows decides.
      static const std::string kInsertRows =
          "WITH r AS (INSERT INTO reservation.reservations (id, user_id, event_id, status, total_amount, fence, "
          "hold_expires_at, "
          "                                                 created_at, updated_at) "
          "           VALUES ($1, $2, $3, 'PENDING', $4, $5, now() + make_interval(secs => $6), now(), now()) "
          "RETURNING id), "
          "     k AS (INSERT INTO reservation.idempotency_keys (user_id, key, operation, request_hash, state, "
          "response_status, "
          "                                                     response_body) "
          "           SELECT $2, $8, 'hold', $9, 'DONE', 201, $10 WHERE $8::text IS NOT NULL "
          "           ON CONFLICT (user_id, key) DO NOTHING RETURNING 1), "
          "     s AS (INSERT INTO reservation.reservation_seats (reservation_id, event_id, seat_id, user_id, label, "
          "grade, price, "
          "                                                      fence) "
          "           SELECT r.id, $3, j.seat_id, $2, j.label, j.grade, j.price, $5 "
          "           FROM r, jsonb_to_recordset($7::jsonb) AS j(seat_id uuid, label text, grade text, price bigint) "
          "           ORDER BY j.seat_id "
          "           ON CONFLICT (event_id, seat_id) WHERE active DO NOTHING RETURNING seat_id) "
          "SELECT (SELECT count(*) FROM k), ARRAY(SELECT seat_id::text FROM s)";
      const char* key = claim_hash != nullptr ? in.idempotency_key.c_str() : nullptr;
      const char* key_hash = claim_hash != nullptr ? claim_hash->c_str() : nullptr;
      const auto inserted = db::ExecPrepared(tx, kInsertRows, id, in.user_id, in.event_id, resolved.total, fence,
                                             hold_seconds, seats_json, key, key_hash, out.answer.body);
      if (claim_hash != nullptr && inserted[0][0].as<std::int64_t>() == 0) {
        // The key exists already (a retry or a duplicate): undo, settle it the slow way.
        throw KeyTaken{};
      }
      std::set<std::string> got;
      auto seat_ids = inserted[0][1].as_array();
      for (auto [kind, text] = seat_ids.get_next(); kind != pqxx::array_parser::juncture::done;
           std::tie(kind, text) = seat_ids.get_next()) {
        if (kind == pqxx::array_parser::juncture::string_value) got.insert(text);
      }
      if (got.size() != resolved.seats.size()) {
        std::string labels;
        std::size_t lost = 0;
        for (const auto& seat : resolved.seats) {
          if (got.contains(seat.seat_id)) continue;
          labels += (labels.empty() ? "" : ", ") + seat.label;
          ++lost;
        }
        // Throwing rolls the whole hold back: all seats or none.
        Throw(409, "SEAT_UNAVAILABLE", "Seat unavailable",
              (lost == 1 ? "Seat " : "Seats ") + labels + (lost == 1 ? " is" : " are") + " held by another customer");
      }
      Publish(tx, domain::kReservationHeld, r,
              {{"seats", SeatsJson(r.seats)},
               {"totalAmount", r.total},
               {"fence", r.fence},
               {"holdExpiresAt", FormatRfc3339(FromMicros(r.hold_expires_us))},
               {"releasedSeatIds", json::array{}}},
              meta);
      return out;
    });
  } catch (const KeyTaken&) {
  }
  if (!attempt) co_return std::nullopt;
  Held& held = *attempt;
  if (claimed != nullptr) *claimed = claim_hash != nullptr;
  seat_map_.SeatsHeld(in.event_id, id, held.row.fence, in.seat_ids, {});

  // The queue token is used up last: if that fails, the hold is given back
  // (and the queue token stays usable) instead of leaving a hold that was not
  // paid for with a turn in the queue.
  std::optional<ApiError> failure;
  try {
    std::string t = in.queue_token;
    std::string u2 = in.user_id;
    const auto used = co_await tokens_.Consume(std::move(t), std::move(u2));
    if (used != queue::TokenCheck::kOk)
      failure.emplace(problems::Make(403, "QUEUE_TOKEN_INVALID", "Queue token invalid", TokenDetail(used)));
  } catch (const DependencyUnavailable& e) {
    failure.emplace(problems::ServiceUnavailable(std::string("queue: ") + e.reason()));
  }
  if (failure) {
    try {
      co_await pool_.Transact([&](pqxx::work& tx) {
        EndReservation(tx, id, "CANCELLED", "HOLD_FAILED", events::Metadata{id, in.request_id, in.user_id});
      });
      seat_map_.SeatsReleased(in.event_id, id, in.seat_ids);
    } catch (const std::exception& e) {
      log::Warn("reservation: could not undo a failed hold; it expires on its own",
                {{"reservation_id", id}, {"error", e.what()}});
    }
    throw ApiError(*failure);
  }
  if (holds_ok_ != nullptr) holds_ok_->Inc();
  co_return std::move(held.answer);
}

// ---------------------------------------------------------------- change, release, cancel

boost::asio::awaitable<json::object> ReservationService::ChangeSeats(std::string user_id, std::string reservation_id,
                                                                     std::vector<std::string> seat_ids) {
  const auto current = co_await pool_.Transact([&](pqxx::work& tx) { return LoadRow(tx, reservation_id, false); });
  if (!current || current->user_id != user_id) NotFound();
  if (current->status != "PENDING") {
    Throw(409, "RESERVATION_NOT_PENDING", "Reservation not pending",
          "Only a pending hold can change seats (this one is " + current->status + ")");
  }
  std::set<std::string> mine;
  for (const auto& s : current->seats) mine.insert(s.seat_id);
  // Seats already in this hold are available to it even though the map shows them HELD.
  std::string eid = current->event_id;
  const auto event = co_await catalog_.FindEvent(std::move(eid));
  if (!event || event->StatusAt(std::chrono::system_clock::now()) != catalog::EventStatus::kOnSale) {
    Throw(409, "SALE_NOT_OPEN", "Sale not open", "The event is not on sale");
  }
  const auto res = catalog_.ResolveSeats(current->event_id, seat_ids);
  if (!res.unknown_seat_ids.empty()) {
    for (std::size_t i = 0; i < seat_ids.size(); ++i) {
      if (seat_ids[i] == res.unknown_seat_ids.front())
        Unprocessable("seatIds[" + std::to_string(i) + "]", "not a seat of this event");
    }
  }
  std::int64_t total = 0;
  for (const auto& s : res.seats) {
    if (!mine.contains(s.seat_id) && s.status != catalog::SeatStatus::kAvailable) {
      Throw(409, "SEAT_UNAVAILABLE", "Seat unavailable", "Seat " + s.label + " is not available");
    }
    total += s.price;
  }
  std::vector<std::string> released;
  std::int64_t new_fence = 0;
  const events::Metadata meta{reservation_id, reservation_id, user_id};
  co_await pool_.Transact([&](pqxx::work& tx) {
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                   "hold:" + user_id + ":" + current->event_id);
    auto row = LoadRow(tx, reservation_id, true);
    if (!row || row->status != "PENDING" || row->fence != current->fence) {
      Throw(409, "RESERVATION_CHANGED", "Reservation changed",
            "The reservation changed meanwhile; reload it and try again");
    }
    if (FromMicros(row->hold_expires_us) <= std::chrono::system_clock::now()) {
      Throw(409, "HOLD_EXPIRED", "Hold expired", "The hold has expired");
    }
    const auto others = tx.exec_params1(
                              "SELECT count(*) FROM reservation.reservation_seats WHERE user_id = $1 AND event_id = $2 "
                              "AND active AND reservation_id <> $3",
                              user_id, row->event_id, reservation_id)[0]
                            .as<std::int64_t>();
    if (others + static_cast<std::int64_t>(seat_ids.size()) > options_.max_seats_per_user) {
      Throw(422, "SEAT_LIMIT_EXCEEDED", "Seat limit exceeded",
            "At most " + std::to_string(options_.max_seats_per_user) + " seats per person for this event");
    }
    const auto fence = tx.exec1("SELECT nextval('reservation.fence_seq')")[0].as<std::int64_t>();
    new_fence = fence;
    // New seats first (a conflict rolls everything back and the old hold stays), then the old ones go.
    auto ordered = res.seats;
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.seat_id < b.seat_id; });
    std::vector<std::string> lost;
    for (const auto& s : ordered) {
      if (mine.contains(s.seat_id)) {
        tx.exec_params0(
            "UPDATE reservation.reservation_seats SET fence = $3 WHERE reservation_id = $1 AND seat_id = $2 AND active",
            reservation_id, s.seat_id, fence);
        continue;
      }
      const auto ins = tx.exec_params(
          "INSERT INTO reservation.reservation_seats (reservation_id, event_id, seat_id, user_id, label, grade, price, "
          "fence) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id, seat_id) WHERE active DO NOTHING RETURNING 1",
          reservation_id, row->event_id, s.seat_id, user_id, s.label, s.grade, s.price, fence);
      if (ins.empty()) lost.push_back(s.label);
    }
    if (!lost.empty()) {
      std::string labels;
      for (const auto& l : lost) labels += (labels.empty() ? "" : ", ") + l;
      Throw(409, "SEAT_UNAVAILABLE", "Seat unavailable", "Seats held by another customer: " + labels);
    }
    const std::set<std::string> wanted(seat_ids.begin(), seat_ids.end());
    for (const auto& s : row->seats) {
      if (!wanted.contains(s.seat_id)) released.push_back(s.seat_id);
    }
    tx.exec_params0(
        "UPDATE reservation.reservation_seats SET active = false, released_at = now() "
        "WHERE reservation_id = $1 AND active AND seat_id = ANY($2::uuid[])",
        reservation_id, UuidArray(released));
    tx.exec_params0(
        "UPDATE reservation.reservations SET fence = $2, total_amount = $3, updated_at = now() WHERE id = $1",
        reservation_id, fence, total);
    auto updated = *LoadRow(tx, reservation_id, false);
    Publish(tx, domain::kReservationHeld, updated,
            {{"seats", SeatsJson(updated.seats)},
             {"totalAmount", updated.total},
             {"fence", updated.fence},
             {"holdExpiresAt", FormatRfc3339(FromMicros(updated.hold_expires_us))},
             {"releasedSeatIds", IdsJson(released)}},
            meta);
  });
  seat_map_.SeatsHeld(current->event_id, reservation_id, new_fence, seat_ids, released);
  co_return co_await Get(std::move(user_id), std::move(reservation_id));
}

namespace {

// Ends a reservation whose row `tx` holds locked (LoadRow FOR UPDATE): status,
// seats inactive, the domain event. Returns the seat ids released.
std::vector<std::string> EndLockedReservation(pqxx::work& tx, const Row& locked, const std::string& status,
                                              const std::string& reason, const events::Metadata& meta) {
  const std::string& reservation_id = locked.id;
  if (locked.status != "PENDING" && locked.status != "CONFIRMED") return {};
  const bool was_confirmed = locked.status == "CONFIRMED";
  db::ExecPrepared(tx,
                   "WITH seats AS (UPDATE reservation.reservation_seats SET active = false, released_at = now() "
                   "               WHERE reservation_id = $1 AND active) "
                   "UPDATE reservation.reservations SET status = $2, cancel_reason = $3, updated_at = now(), ended_at "
                   "= now() WHERE id = $1",
                   reservation_id, status, reason);
  if (status == "EXPIRED") {
    Publish(tx, domain::kReservationExpired, locked, {{"reason", reason}}, meta);
  } else {
    Publish(tx, domain::kReservationCancelled, locked,
            {{"wasConfirmed", was_confirmed},
             {"refundRequested", was_confirmed && reason != "PAYMENT_REFUNDED"},
             {"reason", reason},
             {"paymentId", locked.payment_id.empty() ? json::value(nullptr) : json::value(locked.payment_id)},
             {"totalAmount", locked.total}},
            meta);
  }
  std::vector<std::string> ids;
  for (const auto& s : locked.seats) ids.push_back(s.seat_id);
  return ids;
}

}  // namespace

std::vector<std::string> ReservationService::EndReservation(pqxx::work& tx, const std::string& reservation_id,
                                                            const std::string& status, const std::string& reason,
                                                            const events::Metadata& meta) {
  const auto row = LoadRow(tx, reservation_id, true);
  if (!row) return {};
  return EndLockedReservation(tx, *row, status, reason, meta);
}

boost::asio::awaitable<void> ReservationService::Release(std::string user_id, std::string reservation_id) {
  std::string event_id;
  const auto released = co_await pool_.Transact([&](pqxx::work& tx) {
    const auto row = LoadRow(tx, reservation_id, true);
    if (!row || row->user_id != user_id) NotFound();
    if (row->status == "CONFIRMED") {
      Throw(409, "RESERVATION_CONFIRMED", "Reservation confirmed",
            "A confirmed booking is cancelled with POST /reservations/{id}/cancel (refund)");
    }
    event_id = row->event_id;
    const events::Metadata meta{reservation_id, reservation_id, user_id};
    return EndLockedReservation(tx, *row, "CANCELLED", "RELEASED", meta);  // ended already: nothing to do
  });
  if (!released.empty()) seat_map_.SeatsReleased(event_id, reservation_id, released);
}

boost::asio::awaitable<Answer> ReservationService::Cancel(std::string user_id, std::string reservation_id,
                                                          std::string request_id, std::string idempotency_key) {
  if (idempotency_key.empty()) co_return co_await CancelOnce(std::move(user_id), std::move(reservation_id));
  std::string hash = crypto::Sha256Hex("cancel|" + reservation_id);
  std::function<boost::asio::awaitable<Answer>()> work = [this, user_id,
                                                          reservation_id]() -> boost::asio::awaitable<Answer> {
    std::string u = user_id;
    std::string r = reservation_id;
    co_return co_await CancelOnce(std::move(u), std::move(r));
  };
  std::string op = "cancel";
  co_return co_await Idempotent(std::move(user_id), std::move(idempotency_key), std::move(op), std::move(hash),
                                std::move(request_id), std::move(work));
}

boost::asio::awaitable<Answer> ReservationService::CancelOnce(std::string user_id, std::string reservation_id) {
  // The checks read without a lock (the show-day rule needs the catalog); the
  // state they passed is re-checked under the row lock, and a change in
  // between (the expiry worker, a confirmation) decides again from the top.
  for (int attempt = 0;; ++attempt) {
    auto answer = co_await CancelAttempt(user_id, reservation_id, attempt >= 3);
    if (answer) co_return std::move(*answer);
  }
}

boost::asio::awaitable<std::optional<Answer>> ReservationService::CancelAttempt(const std::string& user_id,
                                                                                 const std::string& reservation_id,
                                                                                 bool last) {
  const auto current = co_await pool_.Transact([&](pqxx::work& tx) { return LoadRow(tx, reservation_id, false); });
  if (!current || current->user_id != user_id) NotFound();
  if (current->status == "EXPIRED")
    Throw(409, "RESERVATION_EXPIRED", "Reservation expired", "The hold has already expired");
  if (current->status == "CONFIRMED") {
    // Not on the day of the show (or after), in the venue's time zone.
    std::string eid = current->event_id;
    const auto event = co_await catalog_.FindEvent(std::move(eid));
    if (event) {
      const auto offset = std::chrono::minutes(options_.venue_utc_offset_minutes);
      const auto show_day = std::chrono::floor<std::chrono::days>(event->starts_at + offset);
      const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now() + offset);
      if (today >= show_day) {
        Throw(409, "CANCEL_WINDOW_CLOSED", "Cancellation closed",
              "Bookings cannot be cancelled on or after the day of the show");
      }
    }
  }
  std::string event_id = current->event_id;
  const std::string checked = current->status;
  bool changed = false;
  const auto released = co_await pool_.Transact([&](pqxx::work& tx) {
    const events::Metadata meta{reservation_id, reservation_id, user_id};
    changed = false;
    const auto row = LoadRow(tx, reservation_id, true);
    if (!row) return std::vector<std::string>{};
    if (row->status != checked) {
      // Expired, confirmed or cancelled since the checks: never answer 200
      // "cancelled" for a hold that expired (the saga model's seed 578124857).
      changed = true;
      return std::vector<std::string>{};
    }
    const bool confirmed = row->status == "CONFIRMED";
    return EndLockedReservation(tx, *row, "CANCELLED", confirmed ? "CANCELLED_BY_CUSTOMER" : "RELEASED", meta);
  });
  if (changed && !last) co_return std::nullopt;
  if (!released.empty()) seat_map_.SeatsReleased(event_id, reservation_id, released);
  std::string u = user_id;
  std::string r = reservation_id;
  auto body = co_await Get(std::move(u), std::move(r));
  if (changed && body.at("status").as_string() == "EXPIRED") {
    Throw(409, "RESERVATION_EXPIRED", "Reservation expired", "The hold has already expired");
  }
  co_return Answer{200, json::serialize(body), {}};
}

// ---------------------------------------------------------------- reads

boost::asio::awaitable<json::object> ReservationService::Get(std::string user_id, std::string reservation_id) {
  const auto row = co_await pool_.Transact([&](pqxx::work& tx) { return LoadRow(tx, reservation_id, false); });
  if (!row || row->user_id != user_id) NotFound();  // someone else's: indistinguishable from none
  co_return ToJson(*row);
}

boost::asio::awaitable<json::object> ReservationService::List(std::string user_id, std::optional<std::string> status,
                                                              int page, int size) {
  co_return co_await pool_.Transact([&](pqxx::work& tx) {
    const std::string filter = status.value_or("");
    json::array items;
    const auto rows =
        tx.exec_params("SELECT " + RowColumns() +
                           " FROM reservation.reservations r WHERE r.user_id = $1 AND ($2 = '' OR r.status = $2) "
                           "ORDER BY r.created_at DESC, r.id LIMIT $3 OFFSET $4",
                       user_id, filter, size, static_cast<std::int64_t>(page - 1) * size);
    for (const auto& r : rows) {
      auto row = ReadRow(r);
      LoadSeats(tx, row);
      items.push_back(ToJson(row));
    }
    const auto total =
        tx.exec_params1("SELECT count(*) FROM reservation.reservations WHERE user_id = $1 AND ($2 = '' OR status = $2)",
                        user_id, filter)[0]
            .as<std::int64_t>();
    return json::object{{"items", std::move(items)}, {"page", page}, {"size", size}, {"total", total}};
  });
}

boost::asio::awaitable<std::optional<ReservationSummary>> ReservationService::FindReservation(
    std::string reservation_id) {
  if (!IsUuid(reservation_id)) co_return std::nullopt;
  const auto row = co_await pool_.Transact([&](pqxx::work& tx) { return LoadRow(tx, reservation_id, false); });
  if (!row) co_return std::nullopt;
  ReservationSummary s{
      row->id,   row->user_id, row->event_id, row->status, row->total, row->fence, FromMicros(row->hold_expires_us),
      row->seats};
  co_return s;
}

std::vector<catalog::ActiveHold> ReservationService::ActiveHoldsSync(const std::string& event_id) {
  if (!IsUuid(event_id)) return {};
  return pool_.TransactSync([&](pqxx::work& tx) {
    std::vector<catalog::ActiveHold> out;
    for (const auto& r : tx.exec_params("SELECT s.reservation_id::text, s.seat_id::text, r.fence "
                                        "FROM reservation.reservation_seats s JOIN reservation.reservations r "
                                        "ON r.id = s.reservation_id WHERE s.event_id = $1 AND s.active",
                                        event_id)) {
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::int64_t>()});
    }
    return out;
  });
}

// ---------------------------------------------------------------- saga steps

void ReservationService::OnPaymentSucceeded(pqxx::work& tx, const events::Envelope& e) {
  const auto reservation_id = PayloadString(e, "reservationId");
  const auto payment_id = PayloadString(e, "paymentId");
  const auto amount = PayloadInt(e, "amount");
  const auto fence = PayloadInt(e, "fence");
  const auto meta = Caused(reservation_id, e);
  auto row = LoadRow(tx, reservation_id, true);
  std::string reason;
  if (!row) {
    reason = "UNKNOWN_RESERVATION";
  } else if (row->status == "CONFIRMED") {
    if (row->payment_id == payment_id) return;  // a duplicate of what already happened
    reason = "ALREADY_PAID";                    // a second payment for one booking
  } else if (row->status != "PENDING") {
    reason = row->status == "EXPIRED" ? "HOLD_EXPIRED" : "RESERVATION_CANCELLED";
  } else if (fence && *fence != row->fence) {
    reason = "SEATS_CHANGED";
  } else if (amount && *amount != row->total) {
    reason = "AMOUNT_MISMATCH";
  }
  if (!reason.empty()) {
    // Money arrived for something that cannot be confirmed: payment refunds it.
    json::object payload{{"reservationId", reservation_id},
                         {"paymentId", payment_id},
                         {"reason", reason},
                         {"eventId", row ? row->event_id : std::string()},
                         {"userId", row ? row->user_id : std::string()},
                         {"seatIds", json::array{}}};
    if (amount) payload["amount"] = *amount;
    auto envelope = events::Make(std::string(domain::kConfirmationRejected), std::string(domain::kAggregateType),
                                 reservation_id, std::move(payload), meta);
    events::AppendToOutbox(tx, kSchema, domain::kTopic, envelope);
    if (rejected_ != nullptr) rejected_->Inc();
    log::Warn("reservation: payment for a reservation that cannot be confirmed; refund requested",
              {{"reservation_id", reservation_id}, {"payment_id", payment_id}, {"reason", reason}});
    return;
  }
  // Still PENDING with its seats active: the unique index guarantees nobody else
  // holds them, even if the hold's time ran out a moment ago and no sweep took it.
  tx.exec_params0(
      "UPDATE reservation.reservations SET status = 'CONFIRMED', payment_id = $2, confirmed_at = now(), "
      "updated_at = now() WHERE id = $1",
      reservation_id, payment_id);
  row->status = "CONFIRMED";
  row->payment_id = payment_id;
  Publish(tx, domain::kReservationConfirmed, *row,
          {{"seats", SeatsJson(row->seats)}, {"totalAmount", row->total}, {"paymentId", payment_id}}, meta);
  if (confirmed_ != nullptr) confirmed_->Inc();
}

// An event about payment X changes reservation R only when X is R's current
// payment: a failure only for the seats it was made for (its fence) and only
// when payment saw no other payment of R still under way; a refund only of the
// payment that confirmed R. Anything else is about another attempt and leaves R.
void ReservationService::OnPaymentFailed(pqxx::work& tx, const events::Envelope& e) {
  const auto reservation_id = PayloadString(e, "reservationId");
  const auto fence = PayloadInt(e, "fence");
  const auto* release = e.payload.if_contains("releaseHold");
  if (release != nullptr && release->is_bool() && !release->as_bool()) return;  // another payment is under way
  const auto row = LoadRow(tx, reservation_id, true);
  if (!row || row->status != "PENDING") return;
  if (fence && *fence != row->fence) return;  // made for seats the hold no longer has
  const auto released = EndLockedReservation(tx, *row, "CANCELLED", "PAYMENT_FAILED", Caused(reservation_id, e));
  seat_map_.SeatsReleased(row->event_id, reservation_id, released);
}

void ReservationService::OnPaymentRefunded(pqxx::work& tx, const events::Envelope& e) {
  const auto reservation_id = PayloadString(e, "reservationId");
  const auto payment_id = PayloadString(e, "paymentId");
  const auto row = LoadRow(tx, reservation_id, true);
  if (!row || row->status != "CONFIRMED") return;
  if (row->payment_id != payment_id) return;  // a refund of a payment that never confirmed this booking
  const auto released = EndLockedReservation(tx, *row, "CANCELLED", "PAYMENT_REFUNDED", Caused(reservation_id, e));
  seat_map_.SeatsReleased(row->event_id, reservation_id, released);
}

void ReservationService::OnEventCancelled(pqxx::work& tx, const events::Envelope& e) {
  const auto event_id = PayloadString(e, "eventId");
  for (const auto& r : tx.exec_params("SELECT id FROM reservation.reservations WHERE event_id = $1 "
                                      "AND status IN ('PENDING', 'CONFIRMED') ORDER BY id",
                                      event_id)) {
    const auto id = r[0].as<std::string>();
    const auto released = EndReservation(tx, id, "CANCELLED", "EVENT_CANCELLED", Caused(id, e));
    seat_map_.SeatsReleased(event_id, id, released);
  }
}

// ---------------------------------------------------------------- expiry

int ReservationService::SweepOnce() {
  struct Expired {
    std::string id;
    std::string event_id;
    std::vector<std::string> seats;
  };
  const auto expired = pool_.TransactSync([&](pqxx::work& tx) {
    std::vector<Expired> out;
    const auto rows = tx.exec(
        "SELECT id, event_id FROM reservation.reservations WHERE status = 'PENDING' "
        "AND hold_expires_at <= now() ORDER BY hold_expires_at LIMIT 500 FOR UPDATE SKIP LOCKED");
    for (const auto& r : rows) {
      const auto id = r[0].as<std::string>();
      const events::Metadata meta{id, id, ""};
      auto seats = EndReservation(tx, id, "EXPIRED", "HOLD_EXPIRED", meta);
      out.push_back({id, r[1].as<std::string>(), std::move(seats)});
    }
    return out;
  });
  for (const auto& x : expired) seat_map_.SeatsReleased(x.event_id, x.id, x.seats);
  if (expired_ != nullptr && !expired.empty()) expired_->Inc(static_cast<double>(expired.size()));
  return static_cast<int>(expired.size());
}

void ReservationService::SweepLoop() {
  auto last_purge = std::chrono::steady_clock::now();
  while (!stop_) {
    try {
      while (!stop_ && SweepOnce() == 500) {
      }
      if (std::chrono::steady_clock::now() - last_purge > 60s) {
        last_purge = std::chrono::steady_clock::now();
        const auto hours = static_cast<std::int64_t>(options_.idempotency_retention.count());
        pool_.TransactSync([&](pqxx::work& tx) {
          tx.exec_params0(
              "DELETE FROM reservation.idempotency_keys WHERE created_at < now() - make_interval(hours => $1)", hours);
        });
      }
    } catch (const std::exception& e) {
      log::Warn("reservation: expiry sweep failed; retrying", {{"error", e.what()}});
    }
    const auto until = std::chrono::steady_clock::now() + options_.sweep_interval;
    while (!stop_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  }
}

void ReservationService::Start() {
  stop_ = false;
  sweeper_ = std::thread([this] { SweepLoop(); });
}

void ReservationService::Stop() {
  stop_ = true;
  if (sweeper_.joinable()) sweeper_.join();
}

}  // namespace ticketd::reservation
