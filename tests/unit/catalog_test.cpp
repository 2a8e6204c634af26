// Catalog building blocks without infrastructure: seat templates, the live
// seat map (status rules, versions, rendering, gzip), RFC 3339 times and the
// single-flight cache.
#include <doctest/doctest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <zlib.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <map>
#include <random>

#include "catalog/cache.hpp"
#include "catalog/seat_map.hpp"
#include "catalog/seat_template.hpp"
#include "ticketd/core/time.hpp"

using namespace ticketd;
using namespace ticketd::catalog;
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

SeatTemplate Parse(const std::string& text, std::vector<FieldError>& errors) {
  return ParseSeatTemplate(json::parse(text), "seatTemplate", errors);
}

bool HasField(const std::vector<FieldError>& errors, const std::string& field) {
  for (const auto& e : errors) {
    if (e.field == field) return true;
  }
  return false;
}

std::string Gunzip(const std::string& in) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  std::string out(in.size() * 50 + 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

std::vector<SeatRecord> Seats(int n) {
  std::vector<SeatRecord> seats;
  for (int i = 1; i <= n; ++i) {
    const std::string grade = i <= n / 2 ? "VIP" : "S";
    seats.push_back({"00000000-0000-8000-8000-" + std::string(12 - std::to_string(i).size(), '0') + std::to_string(i),
                     "A-1-" + std::to_string(i), "A", "1", i, grade, grade == "VIP" ? 150000 : 100000,
                     SeatStatus::kAvailable, ""});
  }
  return seats;
}

}  // namespace

TEST_CASE("catalog template: the API example expands to labelled seats with disabled numbers skipped") {
  std::vector<FieldError> errors;
  const auto t = Parse(
      R"({"sections": [{"name": "A", "rows": [{"row": "1", "seats": 20, "grade": "VIP", "disabled": [5, 6]},
                                               {"row": "2", "seats": 10, "grade": "S", "gradeRanges": [{"from": 1, "to": 3, "grade": "R"}]}]},
                        {"name": "B", "rows": [{"row": "1", "seats": 5, "grade": "A"}]}]})",
      errors);
  REQUIRE(errors.empty());
  CHECK(CountSeats(t) == 18 + 10 + 5);
  const auto seats = ExpandSeats(t);
  REQUIRE(seats.size() == 33);
  CHECK(seats[0].label == "A-1-1");
  CHECK(seats[3].label == "A-1-4");
  CHECK(seats[4].label == "A-1-7");  // 5 and 6 disabled
  CHECK(seats[4].grade == "VIP");
  CHECK(seats[18].label == "A-2-1");
  CHECK(seats[18].grade == "R");
  CHECK(seats[21].grade == "S");
  CHECK(seats.back().label == "B-1-5");
  CHECK(seats.back().section == "B");
  CHECK(seats.back().row == "1");
  CHECK(seats.back().number == 5);
  CHECK(GradesOf(t) == std::vector<std::string>{"VIP", "R", "S", "A"});
  // Round trip through JSON keeps the template.
  std::vector<FieldError> again;
  const auto t2 = ParseSeatTemplate(ToJson(t), "seatTemplate", again);
  CHECK(again.empty());
  CHECK(CountSeats(t2) == 33);
}

TEST_CASE("catalog template: every problem is reported with its field path") {
  std::vector<FieldError> errors;
  Parse(R"({"sections": [{"name": "A", "rows": [{"row": "1", "seats": 0, "grade": "VIP"},
                                                  {"row": "1", "seats": 10, "grade": "bad grade!"},
                                                  {"row": "3", "seats": 4, "grade": "S", "disabled": [9, 2, 2]},
                                                  {"row": "4", "seats": 2, "grade": "S", "disabled": [1, 2]},
                                                  {"row": "5", "seats": 5, "grade": "S", "gradeRanges": [{"from": 4, "to": 2, "grade": "R"}],
                                                   "extra": true}]},
                           {"name": "A", "rows": []}], "other": 1})",
        errors);
  CHECK(HasField(errors, "seatTemplate.sections[0].rows[0].seats"));
  CHECK(HasField(errors, "seatTemplate.sections[0].rows[1].row"));
  CHECK(HasField(errors, "seatTemplate.sections[0].rows[1].grade"));
  CHECK(HasField(errors, "seatTemplate.sections[0].rows[2].disabled[0]"));
  CHECK(HasField(errors, "seatTemplate.sections[0].rows[2].disabled[2]"));
  CHECK(HasField(errors, "seatTemplate.sections[0].rows[3].disabled"));
  CHECK(HasField(errors, "seatTemplate.sections[0].rows[4].gradeRanges[0]"));
  CHECK(HasField(errors, "seatTemplate.sections[0].rows[4].extra"));
  CHECK(HasField(errors, "seatTemplate.sections[1].name"));
  CHECK(HasField(errors, "seatTemplate.sections[1].rows"));
  CHECK(HasField(errors, "seatTemplate.other"));

  std::vector<FieldError> shape;
  Parse(R"([1, 2])", shape);
  CHECK(HasField(shape, "seatTemplate"));
  std::vector<FieldError> empty;
  Parse(R"({"sections": []})", empty);
  CHECK(HasField(empty, "seatTemplate.sections"));
}

TEST_CASE("catalog template: colliding labels and more than 100,000 seats are refused") {
  std::vector<FieldError> collide;
  Parse(R"({"sections": [{"name": "A-1", "rows": [{"row": "1", "seats": 2, "grade": "S"}]},
                          {"name": "A", "rows": [{"row": "1-1", "seats": 2, "grade": "S"}]}]})",
        collide);
  REQUIRE(collide.size() == 1);
  CHECK(collide[0].message.find("A-1-1") != std::string::npos);

  // 101 sections would be 101 × 1000 seats; 200 sections × 500 rows × 1000 is the shape limit.
  std::string big = R"({"sections": [)";
  for (int s = 0; s < 101; ++s) {
    big += (s ? "," : "") + std::string(R"({"name": "S)") + std::to_string(s) + R"(", "rows": [{"row": "1", "seats": 1000, "grade": "A"}]})";
  }
  big += "]}";
  std::vector<FieldError> errors;
  Parse(big, errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].field == "seatTemplate");
  CHECK(errors[0].message.find("100000") != std::string::npos);
}

TEST_CASE("catalog seat map: one reservation's changes never go backwards, whatever order they arrive in") {
  // The in-process feed applies a change at once; the same change arrives
  // again from Kafka later (defect: a released seat flickered back to HELD).
  EventSeatMap map("11111111-1111-4111-8111-111111111111", Seats(10), 1000, "inst");
  const std::string s1 = "00000000-0000-8000-8000-000000000001";
  const std::string s2 = "00000000-0000-8000-8000-000000000002";
  const std::string s3 = "00000000-0000-8000-8000-000000000003";
  CHECK(map.ApplyHold("r1", 10, {s1}, {}) == 1);
  CHECK(map.ApplyEnd("r1", {s1}) == 1);  // released in-process
  CHECK(map.ApplyHold("r1", 10, {s1}, {}) == 0);  // its hold, redelivered
  CHECK(map.StatusOf(s1) == SeatStatus::kAvailable);
  CHECK(map.ApplySell("r1", {s1}) == 0);  // a confirmation after the end: ignored
  CHECK(map.StatusOf(s1) == SeatStatus::kAvailable);

  // A seat change (fence 21) then the first hold (fence 20) late: the change stands.
  CHECK(map.ApplyHold("r2", 20, {s2}, {}) == 1);
  CHECK(map.ApplyHold("r2", 21, {s3}, {s2}) == 2);
  CHECK(map.ApplyHold("r2", 20, {s2}, {}) == 0);
  CHECK(map.StatusOf(s2) == SeatStatus::kAvailable);
  CHECK(map.StatusOf(s3) == SeatStatus::kHeld);
  // The same change twice (feed, then Kafka) is harmless; another customer can hold s2.
  CHECK(map.ApplyHold("r2", 21, {s3}, {s2}) == 0);
  CHECK(map.ApplyHold("r3", 22, {s2}, {}) == 1);
  // Sold, then refunded (ended): a late seat-change release or sale changes nothing.
  CHECK(map.ApplySell("r2", {s3}) == 1);
  CHECK(map.ApplyHold("r2", 21, {}, {s3}) == 0);
  CHECK(map.StatusOf(s3) == SeatStatus::kSold);
  CHECK(map.ApplyEnd("r2", {s3}) == 1);
  CHECK(map.ApplySell("r2", {s3}) == 0);
  CHECK(map.StatusOf(s3) == SeatStatus::kAvailable);
}

TEST_CASE("catalog seat map: an end with stale seat ids still frees the seats of a change made elsewhere") {
  // The saga model's seed 930711874 (two instances): the hold on instance 1,
  // the seat change on instance 0, the cancel on instance 1 before the
  // change's event reached it. The seat changed to stayed HELD forever.
  EventSeatMap map("11111111-1111-4111-8111-111111111111", Seats(4), 1, "inst");
  const std::string s1 = "00000000-0000-8000-8000-000000000001";
  const std::string s4 = "00000000-0000-8000-8000-000000000004";
  CHECK(map.ApplyHold("r", 26, {s4}, {}) == 1);  // local hold
  CHECK(map.ApplyEnd("r", {s1}) == 1);            // local cancel: the database released s1 (the change's seat)
  CHECK(map.ApplyHold("r", 27, {s1}, {s4}) == 0);  // the change, from Kafka, late: the reservation ended
  CHECK(map.ApplyEnd("r", {s1}) == 0);             // the cancel, from Kafka
  for (const auto& id : {s1, s4}) CHECK(map.StatusOf(id) == SeatStatus::kAvailable);
  CHECK(map.Grades()[0].available == 2);
  CHECK(map.Grades()[1].available == 2);

  // Across reservations: r2's hold of a seat arrives before r1's release of it.
  CHECK(map.ApplyHold("r1", 30, {s1}, {}) == 1);
  CHECK(map.ApplyHold("r2", 31, {s1}, {}) == 0);
  CHECK(map.ApplyEnd("r1", {s1}) == 0);
  CHECK(map.StatusOf(s1) == SeatStatus::kHeld);
  CHECK(map.ApplyEnd("r2", {s1}) == 1);
  CHECK(map.StatusOf(s1) == SeatStatus::kAvailable);
}

TEST_CASE("catalog seat map: a seat sold as loaded is its reservation's until that reservation ends") {
  auto seats = Seats(2);
  seats[0].status = SeatStatus::kSold;
  seats[0].reservation_id = "r0";
  EventSeatMap map("e", seats, 1, "i");
  CHECK(map.StatusOf(seats[0].seat_id) == SeatStatus::kSold);
  CHECK(map.Grades()[0].available == 0);
  CHECK(map.ApplyHold("r0", 5, {seats[0].seat_id}, {}) == 0);  // its old hold, late
  CHECK(map.ApplyHold("r1", 6, {seats[0].seat_id}, {}) == 0);  // a stray claim: still SOLD
  CHECK(map.ApplyEnd("r0", {seats[0].seat_id}) == 1);          // refunded
  CHECK(map.StatusOf(seats[0].seat_id) == SeatStatus::kHeld);  // r1 still claims it
  CHECK(map.ApplyEnd("r1", {}) == 1);
  CHECK(map.StatusOf(seats[0].seat_id) == SeatStatus::kAvailable);
  CHECK(map.Grades()[0].available == 1);
}

namespace {

// One reservation-module change, as the feed and Kafka deliver it.
struct FeedChange {
  enum Kind { kHold, kSell, kEnd } kind = kHold;
  std::string reservation;
  std::int64_t fence = 0;
  std::vector<std::string> seats;     // full set (hold, sell) or the database's released ids (end)
  std::vector<std::string> released;  // hold only
  int origin = 0;                     // the instance that made it (applies it locally, too)
};

void Deliver(EventSeatMap& map, const FeedChange& c) {
  switch (c.kind) {
    case FeedChange::kHold:
      map.ApplyHold(c.reservation, c.fence, c.seats, c.released);
      break;
    case FeedChange::kSell:
      map.ApplySell(c.reservation, c.seats);
      break;
    case FeedChange::kEnd:
      map.ApplyEnd(c.reservation, c.seats);
      break;
  }
}

}  // namespace

TEST_CASE("catalog seat map: property: every instance converges on the truth, whatever the delivery order") {
  // The truth is what the reservation database holds after a random history
  // of holds, seat changes, sales and ends by two instances. Each instance's
  // map gets its own changes at once (in the order they happened, possibly
  // behind or ahead of Kafka) and every change from Kafka: one reservation's
  // in order, different reservations' interleaved at random, some twice.
  // Whatever the interleaving, each map ends equal to the truth.
  constexpr int kSeats = 5;
  const auto records = Seats(kSeats);
  std::vector<std::string> ids;
  for (const auto& r : records) ids.push_back(r.seat_id);
  std::uint64_t seed = 0x5eedULL;
  if (const char* env = std::getenv("TICKETD_SEATMAP_SEED")) seed = std::strtoull(env, nullptr, 10);
  for (int round = 0; round < 3000; ++round) {
    const auto round_seed = seed + static_cast<std::uint64_t>(round);
    std::mt19937_64 rng(round_seed);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    // Truth: per seat, the live reservation holding it and whether it is sold.
    std::vector<std::string> owner(kSeats);
    std::vector<bool> sold(kSeats, false);
    auto initial = records;
    if (rng() % 2 == 0) {  // a seat sold before the map was loaded
      initial[0].status = SeatStatus::kSold;
      initial[0].reservation_id = "pre";
      owner[0] = "pre";
      sold[0] = true;
    }
    std::map<std::string, std::vector<std::size_t>> live;  // pending holds: reservation → seat indexes
    std::map<std::string, std::vector<std::size_t>> bought;
    if (sold[0]) bought["pre"] = {0};
    std::int64_t fence = 100;
    int next_reservation = 0;
    std::vector<FeedChange> history;
    auto names = [&](const std::vector<std::size_t>& v) {
      std::vector<std::string> out;
      for (const auto i : v) out.push_back(ids[i]);
      return out;
    };
    for (int step = 0; step < 14; ++step) {
      const int origin = static_cast<int>(rng() % 2);
      std::vector<std::size_t> free;
      for (std::size_t i = 0; i < kSeats; ++i)
        if (owner[i].empty()) free.push_back(i);
      const auto op = rng() % 5;
      if (op == 0 && !free.empty()) {  // a new hold of 1-2 free seats
        const auto r = "r" + std::to_string(next_reservation++);
        std::vector<std::size_t> seats{free[pick(free.size())]};
        if (free.size() > 1 && rng() % 2 == 0) {
          const auto other = free[pick(free.size())];
          if (other != seats[0]) seats.push_back(other);
        }
        for (const auto i : seats) owner[i] = r;
        live[r] = seats;
        history.push_back({FeedChange::kHold, r, ++fence, names(seats), {}, origin});
      } else if (op == 1 && !live.empty() && !free.empty()) {  // a seat change: swap one seat for a free one
        auto it = live.begin();
        std::advance(it, static_cast<long>(pick(live.size())));
        auto& seats = it->second;
        const auto out = pick(seats.size());
        const auto in = free[pick(free.size())];
        const auto gone = seats[out];
        owner[gone].clear();
        owner[in] = it->first;
        seats[out] = in;
        history.push_back({FeedChange::kHold, it->first, ++fence, names(seats), names({gone}), origin});
      } else if (op == 2 && !live.empty()) {  // confirmed
        auto it = live.begin();
        std::advance(it, static_cast<long>(pick(live.size())));
        for (const auto i : it->second) sold[i] = true;
        history.push_back({FeedChange::kSell, it->first, 0, names(it->second), {}, origin});
        bought[it->first] = it->second;
        live.erase(it);
      } else if (op == 3 && (!live.empty() || !bought.empty())) {  // ended: released, expired, refunded
        auto& from = (!bought.empty() && (live.empty() || rng() % 2 == 0)) ? bought : live;
        auto it = from.begin();
        std::advance(it, static_cast<long>(pick(from.size())));
        for (const auto i : it->second) {
          owner[i].clear();
          sold[i] = false;
        }
        history.push_back({FeedChange::kEnd, it->first, 0, names(it->second), {}, origin});
        from.erase(it);
      }
    }
    for (int instance = 0; instance < 2; ++instance) {
      // Kafka: per reservation in order; a random reservation's next change each time.
      std::map<std::string, std::deque<const FeedChange*>> partitions;
      std::vector<const FeedChange*> local;
      for (const auto& c : history) {
        partitions[c.reservation].push_back(&c);
        if (c.origin == instance) local.push_back(&c);
      }
      std::vector<const FeedChange*> order;
      std::size_t next_local = 0;
      while (!partitions.empty() || next_local < local.size()) {
        if (next_local < local.size() && (partitions.empty() || rng() % 3 == 0)) {
          order.push_back(local[next_local++]);
          continue;
        }
        auto it = partitions.begin();
        std::advance(it, static_cast<long>(pick(partitions.size())));
        order.push_back(it->second.front());
        if (rng() % 8 == 0) order.push_back(it->second.front());  // redelivered
        it->second.pop_front();
        if (it->second.empty()) partitions.erase(it);
      }
      EventSeatMap map("e", initial, 1, "i");
      for (const auto* c : order) Deliver(map, *c);
      std::int64_t available = 0;
      for (std::size_t i = 0; i < kSeats; ++i) {
        const auto want = sold[i] ? SeatStatus::kSold : owner[i].empty() ? SeatStatus::kAvailable : SeatStatus::kHeld;
        INFO("seed " << round_seed << " (TICKETD_SEATMAP_SEED), instance " << instance << ", seat " << i);
        REQUIRE(std::string(ToString(map.StatusOf(ids[i]))) == std::string(ToString(want)));
        if (want == SeatStatus::kAvailable) ++available;
      }
      const auto grades = map.Grades();
      INFO("seed " << round_seed);
      REQUIRE(grades[0].available + grades[1].available == available);
    }
  }
}

TEST_CASE("catalog seat map: holds, releases, sales and refunds follow the owner rules") {
  EventSeatMap map("11111111-1111-4111-8111-111111111111", Seats(10), 1000, "inst");
  const std::string s1 = "00000000-0000-8000-8000-000000000001";
  const std::string s2 = "00000000-0000-8000-8000-000000000002";
  CHECK(map.version() == 1000);
  CHECK(map.ApplyHold("r1", 1, {s1, s2}, {}) == 2);
  CHECK(map.version() == 1001);
  CHECK(map.StatusOf(s1) == SeatStatus::kHeld);
  // Another reservation's claim on a held seat, or its end, changes nothing shown.
  CHECK(map.ApplyHold("r2", 2, {s1}, {}) == 0);
  CHECK(map.ApplyEnd("r2", {s1}) == 0);
  CHECK(map.StatusOf(s1) == SeatStatus::kHeld);
  CHECK(map.version() == 1001);
  CHECK(map.ApplyHold("r1", 3, {s1}, {s2}) == 1);
  CHECK(map.StatusOf(s2) == SeatStatus::kAvailable);
  CHECK(map.ApplySell("r1", {s1}) == 1);
  CHECK(map.StatusOf(s1) == SeatStatus::kSold);
  // A late hold of the old seats never frees or re-holds a sold seat; nor does another reservation's refund.
  CHECK(map.ApplyHold("r1", 1, {s1, s2}, {}) == 0);
  CHECK(map.ApplyEnd("r9", {s1}) == 0);
  CHECK(map.StatusOf(s1) == SeatStatus::kSold);
  CHECK(map.StatusOf(s2) == SeatStatus::kAvailable);
  CHECK(map.ApplyEnd("r1", {s1}) == 1);
  CHECK(map.StatusOf(s1) == SeatStatus::kAvailable);
  // Unknown seat ids are ignored.
  CHECK(map.ApplyHold("r3", 4, {"nope"}, {}) == 0);
  const auto grades = map.Grades();
  REQUIRE(grades.size() == 2);
  CHECK(grades[0].grade == "VIP");
  CHECK(grades[0].total == 5);
  CHECK(grades[0].available == 5);

  const auto res = map.Resolve({s2, "missing"});
  REQUIRE(res.seats.size() == 1);
  CHECK(res.seats[0].label == "A-1-2");
  CHECK(res.seats[0].price == 150000);
  CHECK(res.unknown_seat_ids == std::vector<std::string>{"missing"});
}

TEST_CASE("catalog seat map: rendering is valid JSON, cached per version, and gzips losslessly") {
  EventSeatMap map("11111111-1111-4111-8111-111111111111", Seats(3000), 5, "inst");
  const auto r1 = map.Render();
  const auto r1_again = map.Render();
  CHECK(r1.get() == r1_again.get());  // same version → same rendering
  CHECK(r1->etag == "W/\"inst.5\"");
  const auto doc = json::parse(r1->body).as_object();
  CHECK(doc.at("version").as_int64() == 5);
  CHECK(doc.at("seats").as_array().size() == 3000);
  const auto& first = doc.at("seats").as_array()[0].as_object();
  CHECK(first.at("label").as_string() == "A-1-1");
  CHECK(first.at("status").as_string() == "AVAILABLE");
  CHECK(first.at("price").as_int64() == 150000);
  CHECK(doc.at("grades").as_array()[1].as_object().at("available").as_int64() == 1500);

  map.ApplyHold("r1", 1, {"00000000-0000-8000-8000-000000000001"}, {});
  const auto r2 = map.Render();
  CHECK(r2->version == 6);
  CHECK(r2->etag != r1->etag);
  const auto doc2 = json::parse(r2->body).as_object();
  CHECK(doc2.at("seats").as_array()[0].as_object().at("status").as_string() == "HELD");
  CHECK(doc2.at("grades").as_array()[0].as_object().at("available").as_int64() == 1499);

  const auto& gz = r2->Gzipped();
  CHECK(gz.size() < r2->body.size() / 5);
  CHECK(Gunzip(gz) == r2->body);
}

TEST_CASE("catalog seat map: labels and grades with quotes are escaped in the JSON") {
  auto seats = Seats(1);
  seats[0].section = "A\"B";
  EventSeatMap map("e", seats, 1, "i");
  const auto doc = json::parse(map.Render()->body).as_object();
  CHECK(doc.at("seats").as_array()[0].as_object().at("section").as_string() == "A\"B");
}

TEST_CASE("time: RFC 3339 parsing with offsets and formatting in UTC") {
  const auto t = ParseRfc3339("2026-12-24T19:00:00+09:00");
  REQUIRE(t);
  CHECK(FormatRfc3339(*t) == "2026-12-24T10:00:00.000Z");
  CHECK(FormatRfc3339(*ParseRfc3339("2024-02-29T23:59:59.5Z")) == "2024-02-29T23:59:59.500Z");
  CHECK(FormatRfc3339(*ParseRfc3339("1970-01-01T00:00:00-00:30")) == "1970-01-01T00:30:00.000Z");
  CHECK(ToMicros(*ParseRfc3339("1970-01-01T00:00:01.000001Z")) == 1000001);
  for (const char* bad : {"2026-12-24", "2026-12-24T19:00:00", "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2026-12-24T24:00:00Z", "2026-12-24T19:00:00+9:00", "2026-12-24T19:00:00Zjunk", "x",
                          "2026-12-24T19:00:00.Z", "",
                          // Found by fuzz_route_body: year 4054 overflowed the nanosecond clock (UB).
                          "4054-12-24T19:00:00+09:00", "9999-12-31T23:59:59Z", "2200-01-01T00:00:00Z",
                          "1899-12-31T23:59:59Z", "0000-01-01T00:00:00Z"}) {
    CHECK_MESSAGE(!ParseRfc3339(bad), bad);
  }
  CHECK(FormatRfc3339(*ParseRfc3339("2199-12-31T23:59:59.999Z")) == "2199-12-31T23:59:59.999Z");
  CHECK(FormatRfc3339(*ParseRfc3339("1900-01-01T00:00:00+09:00")) == "1899-12-31T15:00:00.000Z");
}

TEST_CASE("catalog cache: concurrent readers of a cold key share one load, and invalidation drops it") {
  asio::io_context io;
  SingleFlightCache<int> cache(100);
  std::atomic<int> loads{0};
  int results = 0;
  auto loader = [&]() -> asio::awaitable<SingleFlightCache<int>::Loaded> {
    ++loads;
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::use_awaitable);
    co_return SingleFlightCache<int>::Loaded{std::make_shared<const int>(42), std::chrono::seconds(60)};
  };
  for (int i = 0; i < 50; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          SingleFlightCache<int>::Loader fn = loader;
          std::string key = "k";
          const auto v = co_await cache.Get(std::move(key), std::move(fn));
          if (*v == 42) ++results;
        },
        asio::detached);
  }
  io.run();
  CHECK(loads == 1);
  CHECK(results == 50);
  CHECK(cache.misses() == 1);
  CHECK(cache.waits() == 49);

  cache.Invalidate("k");
  io.restart();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        SingleFlightCache<int>::Loader fn = loader;
        std::string key = "k";
        co_await cache.Get(std::move(key), std::move(fn));
      },
      asio::detached);
  io.run();
  CHECK(loads == 2);
}

TEST_CASE("catalog cache: a failed load reaches every waiter and is not cached") {
  asio::io_context io;
  SingleFlightCache<int> cache(100);
  int failures = 0;
  int loads = 0;
  auto failing = [&]() -> asio::awaitable<SingleFlightCache<int>::Loaded> {
    ++loads;
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(10));
    co_await timer.async_wait(asio::use_awaitable);
    throw std::runtime_error("db down");
  };
  for (int i = 0; i < 5; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          try {
            SingleFlightCache<int>::Loader fn = failing;
            std::string key = "k";
            co_await cache.Get(std::move(key), std::move(fn));
          } catch (const std::runtime_error&) {
            ++failures;
          }
        },
        asio::detached);
  }
  io.run();
  CHECK(loads == 1);
  CHECK(failures == 5);
}
