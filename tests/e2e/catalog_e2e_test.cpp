// The catalog over real HTTP against the real binary and Postgres: admin
// venue/hall/event flows, validation, list filters and search, the live seat
// map with ETag/304/gzip, edit rules, cancellation and deletion.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <signal.h>

#include <chrono>
#include <thread>

#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/process.hpp"
#include "ticketd/core/time.hpp"

using namespace ticketd;
using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

json::object Body(const test::HttpResponse& r) { return json::parse(r.body()).as_object(); }
std::string Code(const test::HttpResponse& r) {
  const auto b = Body(r);
  return b.contains("code") ? std::string(b.at("code").as_string()) : "";
}
bool HasFieldError(const test::HttpResponse& r, const std::string& field) {
  const auto b = Body(r);
  if (!b.contains("errors")) return false;
  for (const auto& e : b.at("errors").as_array()) {
    if (e.as_object().at("field").as_string() == field) return true;
  }
  return false;
}

std::string In(std::chrono::system_clock::duration d) { return FormatRfc3339(std::chrono::system_clock::now() + d); }

struct Catalog {
  Catalog() {
    auto env = test::E2eEnv(db.url());
    env["TICKETD_CATALOG_CACHE_TTL_MS"] = "60000";  // long: invalidation, not expiry, must make changes visible
    auto [mrc, mout] = test::RunCommand({TICKETD_BINARY, "migrate"}, env);
    REQUIRE_MESSAGE(mrc == 0, mout);
    auto [rc, out] = test::RunCommand({TICKETD_BINARY, "seed"}, env);
    REQUIRE_MESSAGE(rc == 0, out);
    process = std::make_unique<test::TicketdProcess>(std::vector<std::string>{}, env);
    port = process->WaitListening();
    REQUIRE(port != 0);
    REQUIRE(test::WaitReady(port));
    admin = Login("admin@ticketd.local", "ticketd-admin-dev");
    user = Login("user@ticketd.local", "ticketd-user-dev");
  }
  std::string Login(const std::string& email, const std::string& password) {
    auto r = Call(http::verb::post, "/auth/login", "",
                  json::serialize(json::object{{"email", email}, {"password", password}, {"captchaToken", "test-pass"}}));
    REQUIRE_MESSAGE(r.result_int() == 200, r.body());
    return std::string(Body(r).at("accessToken").as_string());
  }
  test::HttpResponse Call(http::verb verb, const std::string& path, const std::string& token, const std::string& body = "",
                          std::map<std::string, std::string> headers = {}) {
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return test::Request(port, verb, "/api/v1" + path, body, headers);
  }
  test::HttpResponse Admin(http::verb verb, const std::string& path, const json::value& body = nullptr) {
    return Call(verb, path, admin, body.is_null() ? "" : json::serialize(body));
  }
  std::string CreateVenue(const std::string& name) {
    auto r = Admin(http::verb::post, "/admin/venues", json::object{{"name", name}, {"address", "Seoul"}});
    REQUIRE_MESSAGE(r.result_int() == 201, r.body());
    return std::string(Body(r).at("venueId").as_string());
  }
  std::string CreateHall(const std::string& venue, const json::value& tmpl, const std::string& name = "Main Hall") {
    auto r = Admin(http::verb::post, "/admin/venues/" + venue + "/halls", json::object{{"name", name}, {"seatTemplate", tmpl}});
    REQUIRE_MESSAGE(r.result_int() == 201, r.body());
    return std::string(Body(r).at("hallId").as_string());
  }
  json::object EventBody(const std::string& venue, const std::string& hall, const std::string& title,
                         const std::string& artist, std::chrono::hours sale_in = -1h) {
    return {{"venueId", venue},
            {"hallId", hall},
            {"title", title},
            {"artist", artist},
            {"description", "d"},
            {"posterUrl", "https://example.com/p.jpg"},
            {"saleStartsAt", In(sale_in)},
            {"saleEndsAt", In(sale_in + 240h)},
            {"startsAt", In(sale_in + 300h)},
            {"endsAt", In(sale_in + 303h)},
            {"prices", json::object{{"VIP", 150000}, {"S", 100000}}}};
  }
  std::string CreateEvent(const json::object& body) {
    auto r = Admin(http::verb::post, "/admin/events", body);
    REQUIRE_MESSAGE(r.result_int() == 201, r.body());
    return std::string(Body(r).at("eventId").as_string());
  }
  test::TempDatabase db;
  std::unique_ptr<test::TicketdProcess> process;
  std::uint16_t port = 0;
  std::string admin;
  std::string user;
};

json::value SmallTemplate() {
  return json::parse(R"({"sections": [{"name": "A", "rows": [{"row": "1", "seats": 20, "grade": "VIP", "disabled": [5, 6]},
                                                              {"row": "2", "seats": 10, "grade": "S"}]}]})");
}

}  // namespace

TEST_CASE("catalog e2e: venue, hall and event creation generates the seats of the template") {
  Catalog c;
  const auto venue = c.CreateVenue("Jamsil Arena");
  const auto hall = c.CreateHall(venue, SmallTemplate());
  auto v = c.Call(http::verb::get, "/venues/" + venue, "");
  REQUIRE(v.result_int() == 200);
  CHECK(Body(v).at("halls").as_array().size() == 1);
  CHECK(Body(v).at("halls").as_array()[0].as_object().at("seatCount").as_int64() == 28);

  auto created = c.Admin(http::verb::post, "/admin/events", c.EventBody(venue, hall, "Spring Tour", "Blue Moon"));
  REQUIRE_MESSAGE(created.result_int() == 201, created.body());
  const auto ev = Body(created);
  CHECK(ev.at("seatCount").as_int64() == 28);
  CHECK(ev.at("status").as_string() == "ON_SALE");
  CHECK(created[http::field::location] == "/api/v1/events/" + std::string(ev.at("eventId").as_string()));
  const std::string id(ev.at("eventId").as_string());

  auto detail = c.Call(http::verb::get, "/events/" + id, "");
  REQUIRE(detail.result_int() == 200);
  const auto d = Body(detail);
  CHECK(d.at("venue").as_object().at("name").as_string() == "Jamsil Arena");
  CHECK(d.at("hall").as_object().at("hallId").as_string() == hall);
  const auto& grades = d.at("grades").as_array();
  REQUIRE(grades.size() == 2);
  CHECK(grades[0].as_object().at("grade").as_string() == "VIP");
  CHECK(grades[0].as_object().at("total").as_int64() == 18);
  CHECK(grades[1].as_object().at("price").as_int64() == 100000);

  // The seat map needs a login; it has every seat with label, grade, price and status.
  CHECK(c.Call(http::verb::get, "/events/" + id + "/seats", "").result_int() == 401);
  auto map = c.Call(http::verb::get, "/events/" + id + "/seats", c.user);
  REQUIRE(map.result_int() == 200);
  const auto m = Body(map);
  const auto& seats = m.at("seats").as_array();
  REQUIRE(seats.size() == 28);
  CHECK(seats[4].as_object().at("label").as_string() == "A-1-7");
  CHECK(seats[4].as_object().at("number").as_int64() == 7);
  CHECK(seats[27].as_object().at("grade").as_string() == "S");
  CHECK(seats[27].as_object().at("price").as_int64() == 100000);
  CHECK(seats[27].as_object().at("status").as_string() == "AVAILABLE");
  CHECK(m.at("grades").as_array()[0].as_object().at("available").as_int64() == 18);

  // A 50,000-seat stadium is generated in one request.
  std::string big = R"({"sections": [)";
  for (int s = 0; s < 50; ++s) {
    big += (s ? "," : "") + std::string(R"({"name": "S)") + std::to_string(s) + R"(", "rows": [)";
    for (int r = 0; r < 20; ++r) big += (r ? "," : "") + std::string(R"({"row": ")") + std::to_string(r + 1) + R"(", "seats": 50, "grade": ")" + (r < 5 ? "VIP" : "S") + "\"}";
    big += "]}";
  }
  big += "]}";
  const auto stadium = c.CreateHall(venue, json::parse(big), "Stadium");
  const auto t0 = std::chrono::steady_clock::now();
  auto huge = c.Admin(http::verb::post, "/admin/events", c.EventBody(venue, stadium, "Stadium Show", "Big Band"));
  const auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE_MESSAGE(huge.result_int() == 201, huge.body());
  CHECK(Body(huge).at("seatCount").as_int64() == 50000);
  MESSAGE("50,000 seats generated in " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
}

TEST_CASE("catalog e2e: bad input — ids, templates, dates, prices, paging and user tokens on admin routes") {
  Catalog c;
  const auto venue = c.CreateVenue("Validation Hall");
  const auto hall = c.CreateHall(venue, SmallTemplate());

  // Unknown and malformed ids.
  CHECK(c.Call(http::verb::get, "/events/not-a-uuid", "").result_int() == 404);
  CHECK(c.Call(http::verb::get, "/events/6f1c0e3a-5b7d-4c1e-9a2b-3c4d5e6f7a8b", "").result_int() == 404);
  CHECK(c.Call(http::verb::get, "/events/6f1c0e3a-5b7d-4c1e-9a2b-3c4d5e6f7a8b/seats", c.user).result_int() == 404);
  CHECK(c.Call(http::verb::get, "/venues/6f1c0e3a-5b7d-4c1e-9a2b-3c4d5e6f7a8b", "").result_int() == 404);

  // Admin routes refuse a user token (403) and no token (401).
  auto forbidden = c.Call(http::verb::post, "/admin/venues", c.user, R"({"name": "x"})");
  CHECK(forbidden.result_int() == 403);
  CHECK(Code(forbidden) == "FORBIDDEN");
  CHECK(c.Call(http::verb::post, "/admin/venues", "", R"({"name": "x"})").result_int() == 401);

  // Invalid template → 422 listing fields; nothing is created.
  auto bad_hall = c.Admin(http::verb::post, "/admin/venues/" + venue + "/halls",
                          json::parse(R"({"name": "Bad", "seatTemplate": {"sections": [{"name": "A", "rows": [{"row": "1", "seats": -3, "grade": "VIP"}]}]}})"));
  CHECK(bad_hall.result_int() == 422);
  CHECK(Code(bad_hall) == "VALIDATION_FAILED");
  CHECK(HasFieldError(bad_hall, "seatTemplate.sections[0].rows[0].seats"));
  CHECK(Body(c.Call(http::verb::get, "/venues/" + venue, "")).at("halls").as_array().size() == 1);
  auto dup_hall = c.Admin(http::verb::post, "/admin/venues/" + venue + "/halls",
                          json::object{{"name", "Main Hall"}, {"seatTemplate", SmallTemplate()}});
  CHECK(dup_hall.result_int() == 409);
  CHECK(Code(dup_hall) == "HALL_NAME_TAKEN");

  // Inverted and overlapping date ranges, negative and missing prices.
  auto body = c.EventBody(venue, hall, "Bad", "Bad");
  body["endsAt"] = body["startsAt"];
  body["saleEndsAt"] = In(1000h);
  body["prices"] = json::object{{"VIP", -1}};
  auto bad = c.Admin(http::verb::post, "/admin/events", body);
  CHECK(bad.result_int() == 422);
  CHECK(HasFieldError(bad, "endsAt"));
  CHECK(HasFieldError(bad, "saleEndsAt"));
  CHECK(HasFieldError(bad, "prices.VIP"));

  auto missing_price = c.EventBody(venue, hall, "Bad", "Bad");
  missing_price["prices"] = json::object{{"VIP", 1000}, {"GOLD", 5}};
  auto mp = c.Admin(http::verb::post, "/admin/events", missing_price);
  CHECK(mp.result_int() == 422);
  CHECK(HasFieldError(mp, "prices.S"));
  CHECK(HasFieldError(mp, "prices.GOLD"));

  auto wrong_hall = c.EventBody(venue, c.CreateHall(c.CreateVenue("Other"), SmallTemplate()), "Bad", "Bad");
  auto wh = c.Admin(http::verb::post, "/admin/events", wrong_hall);
  CHECK(wh.result_int() == 422);
  CHECK(HasFieldError(wh, "hallId"));

  auto types = c.Admin(http::verb::post, "/admin/events", json::object{{"title", 5}, {"role", "x"}});
  CHECK(types.result_int() == 400);
  CHECK(HasFieldError(types, "title"));
  CHECK(HasFieldError(types, "role"));
  CHECK(HasFieldError(types, "venueId"));
  CHECK(c.Call(http::verb::post, "/admin/events", c.admin, "{not json").result_int() == 400);
  auto bad_time = c.EventBody(venue, hall, "Bad", "Bad");
  bad_time["startsAt"] = "2026-13-01T00:00:00Z";
  CHECK(HasFieldError(c.Admin(http::verb::post, "/admin/events", bad_time), "startsAt"));

  // No event was created by any of these.
  auto list = c.Call(http::verb::get, "/events?venueId=" + venue, "");
  CHECK(Body(list).at("total").as_int64() == 0);

  // Paging limits and query validation.
  CHECK(c.Call(http::verb::get, "/events?size=101", "").result_int() == 400);
  CHECK(c.Call(http::verb::get, "/events?page=0", "").result_int() == 400);
  CHECK(c.Call(http::verb::get, "/events?status=SOON", "").result_int() == 400);
  CHECK(c.Call(http::verb::get, "/events?from=yesterday", "").result_int() == 400);
  CHECK(c.Call(http::verb::get, "/events?sort=price", "").result_int() == 400);
  CHECK(c.Call(http::verb::get, "/events?venueId=abc", "").result_int() == 400);
}

TEST_CASE("catalog e2e: list filters, Korean and Latin text search, paging and sorting") {
  Catalog c;
  const auto venue = c.CreateVenue("Search Hall");
  const auto hall = c.CreateHall(venue, SmallTemplate());
  c.CreateEvent(c.EventBody(venue, hall, "아이유 콘서트 서울", "아이유", -1h));
  c.CreateEvent(c.EventBody(venue, hall, "Coldplay Music of the Spheres", "Coldplay", 24h));
  c.CreateEvent(c.EventBody(venue, hall, "Seoul Jazz Festival", "Various Artists", 48h));
  const auto cancelled = c.CreateEvent(c.EventBody(venue, hall, "Cancelled Show", "Nobody", 72h));
  REQUIRE(c.Admin(http::verb::post, "/admin/events/" + cancelled + "/cancel", json::object{{"reason", "illness"}}).result_int() == 200);
  const std::string mine = "&venueId=" + venue;

  auto all = Body(c.Call(http::verb::get, "/events?size=100" + mine, ""));
  CHECK(all.at("total").as_int64() == 4);
  CHECK(all.at("page").as_int64() == 1);
  CHECK(all.at("size").as_int64() == 100);
  // Default sort: startsAt ascending.
  CHECK(all.at("items").as_array()[0].as_object().at("artist").as_string() == "아이유");
  CHECK(all.at("items").as_array()[0].as_object().at("minPrice").as_int64() == 100000);

  auto on_sale = Body(c.Call(http::verb::get, "/events?status=ON_SALE" + mine, ""));
  REQUIRE(on_sale.at("total").as_int64() == 1);
  CHECK(on_sale.at("items").as_array()[0].as_object().at("status").as_string() == "ON_SALE");
  auto upcoming = Body(c.Call(http::verb::get, "/events?status=UPCOMING,CANCELLED" + mine, ""));
  CHECK(upcoming.at("total").as_int64() == 3);

  auto korean = Body(c.Call(http::verb::get, "/events?q=%EC%95%84%EC%9D%B4%EC%9C%A0" + mine, ""));  // 아이유
  REQUIRE(korean.at("total").as_int64() == 1);
  CHECK(korean.at("items").as_array()[0].as_object().at("title").as_string() == "아이유 콘서트 서울");
  auto latin = Body(c.Call(http::verb::get, "/events?q=coldplay" + mine, ""));
  CHECK(latin.at("total").as_int64() == 1);
  auto fuzzy = Body(c.Call(http::verb::get, "/events?q=Coldpaly&sort=relevance" + mine, ""));  // typo: trigram match
  REQUIRE(fuzzy.at("total").as_int64() >= 1);
  CHECK(fuzzy.at("items").as_array()[0].as_object().at("artist").as_string() == "Coldplay");
  auto wildcard = Body(c.Call(http::verb::get, "/events?q=%25" + mine, ""));  // a literal '%', not a wildcard
  CHECK(wildcard.at("total").as_int64() == 0);
  auto artist = Body(c.Call(http::verb::get, "/events?artist=various" + mine, ""));
  CHECK(artist.at("total").as_int64() == 1);

  const auto from = FormatRfc3339(std::chrono::system_clock::now() + 300h + 12h);
  auto window = Body(c.Call(http::verb::get, "/events?from=" + from + mine, ""));
  CHECK(window.at("total").as_int64() == 3);

  auto page2 = Body(c.Call(http::verb::get, "/events?size=3&page=2&sort=-startsAt" + mine, ""));
  CHECK(page2.at("total").as_int64() == 4);
  REQUIRE(page2.at("items").as_array().size() == 1);
  CHECK(page2.at("items").as_array()[0].as_object().at("artist").as_string() == "아이유");
  auto beyond = Body(c.Call(http::verb::get, "/events?page=50" + mine, ""));
  CHECK(beyond.at("items").as_array().empty());
  CHECK(beyond.at("total").as_int64() == 4);

  // The seed's demo events are there too, one on sale.
  auto demo = Body(c.Call(http::verb::get, "/events?status=ON_SALE&q=Aurora", ""));
  CHECK(demo.at("total").as_int64() == 1);
  auto venues = Body(c.Call(http::verb::get, "/venues?size=100", ""));
  CHECK(venues.at("total").as_int64() >= 2);
}

TEST_CASE("catalog e2e: the seat map answers 304 for its ETag, gzips, and changes version with seats") {
  Catalog c;
  const auto venue = c.CreateVenue("Map Hall");
  const auto hall = c.CreateHall(venue, SmallTemplate());
  const auto id = c.CreateEvent(c.EventBody(venue, hall, "Map Show", "Mapper"));
  auto first = c.Call(http::verb::get, "/events/" + id + "/seats", c.user);
  REQUIRE(first.result_int() == 200);
  const std::string etag(first[http::field::etag]);
  CHECK(etag.starts_with("W/\""));
  CHECK(first[http::field::vary] == "Accept-Encoding");
  auto again = c.Call(http::verb::get, "/events/" + id + "/seats", c.user, "", {{"If-None-Match", etag}});
  CHECK(again.result_int() == 304);
  CHECK(again.body().empty());
  CHECK(again[http::field::etag] == etag);
  auto other = c.Call(http::verb::get, "/events/" + id + "/seats", c.user, "", {{"If-None-Match", "W/\"x.1\", " + etag}});
  CHECK(other.result_int() == 304);
  auto stale = c.Call(http::verb::get, "/events/" + id + "/seats", c.user, "", {{"If-None-Match", "W/\"x.1\""}});
  CHECK(stale.result_int() == 200);

  auto gz = c.Call(http::verb::get, "/events/" + id + "/seats", c.user, "", {{"Accept-Encoding", "br, gzip;q=0.8"}});
  REQUIRE(gz.result_int() == 200);
  CHECK(gz[http::field::content_encoding] == "gzip");
  CHECK(gz.body().size() < first.body().size());
  CHECK(gz[http::field::etag] == etag);
  auto identity = c.Call(http::verb::get, "/events/" + id + "/seats", c.user, "", {{"Accept-Encoding", "gzip;q=0"}});
  CHECK(identity[http::field::content_encoding].empty());

  // A sold seat (the reservation module's confirmation, persisted by catalog)
  // shows after a restart, with a new version and ETag.
  const auto body = Body(first);
  const std::string seat(body.at("seats").as_array()[0].as_object().at("seatId").as_string());
  {
    pqxx::connection conn(c.db.url());
    pqxx::work tx(conn);
    tx.exec_params0("UPDATE catalog.seats SET status = 'SOLD', reservation_id = gen_random_uuid() WHERE id = $1", seat);
    tx.commit();
  }
  c.process->Signal(SIGTERM);
  REQUIRE(c.process->Wait(30s) == 0);
  c.process = std::make_unique<test::TicketdProcess>(std::vector<std::string>{}, test::E2eEnv(c.db.url()));
  c.port = c.process->WaitListening();
  REQUIRE(test::WaitReady(c.port));
  auto after = c.Call(http::verb::get, "/events/" + id + "/seats", c.user, "", {{"If-None-Match", etag}});
  REQUIRE(after.result_int() == 200);
  CHECK(after[http::field::etag] != etag);
  const auto a = Body(after);
  CHECK(a.at("seats").as_array()[0].as_object().at("status").as_string() == "SOLD");
  CHECK(a.at("grades").as_array()[0].as_object().at("available").as_int64() == 17);
  CHECK(a.at("version").as_int64() > body.at("version").as_int64());
}

TEST_CASE("catalog e2e: edits are limited once on sale, cancel publishes EventCancelled, delete needs no bookings") {
  Catalog c;
  const auto venue = c.CreateVenue("Rules Hall");
  const auto hall = c.CreateHall(venue, SmallTemplate());
  const auto upcoming = c.CreateEvent(c.EventBody(venue, hall, "Later", "Someone", 24h));
  const auto on_sale = c.CreateEvent(c.EventBody(venue, hall, "Now", "Someone"));

  // Cached detail is invalidated by the change (the TTL here is a minute).
  CHECK(Body(c.Call(http::verb::get, "/events/" + upcoming, "")).at("title").as_string() == "Later");
  auto reprice = c.Admin(http::verb::put, "/admin/events/" + upcoming,
                         json::object{{"title", "Later (new date)"}, {"prices", json::object{{"VIP", 1}, {"S", 2}}}});
  REQUIRE_MESSAGE(reprice.result_int() == 200, reprice.body());
  auto fresh = Body(c.Call(http::verb::get, "/events/" + upcoming, ""));
  CHECK(fresh.at("title").as_string() == "Later (new date)");
  CHECK(fresh.at("grades").as_array()[1].as_object().at("price").as_int64() == 1);
  auto map = Body(c.Call(http::verb::get, "/events/" + upcoming + "/seats", c.user));
  CHECK(map.at("seats").as_array()[0].as_object().at("price").as_int64() == 1);
  auto list = Body(c.Call(http::verb::get, "/events?q=new%20date&venueId=" + venue, ""));
  CHECK(list.at("total").as_int64() == 1);

  // On sale: harmless fields only.
  auto locked = c.Admin(http::verb::put, "/admin/events/" + on_sale, json::object{{"prices", json::object{{"VIP", 1}, {"S", 1}}}});
  CHECK(locked.result_int() == 409);
  CHECK(Code(locked) == "EVENT_ON_SALE");
  CHECK(c.Admin(http::verb::put, "/admin/events/" + on_sale, json::object{{"saleEndsAt", In(2h)}}).result_int() == 409);
  CHECK(c.Admin(http::verb::put, "/admin/events/" + on_sale, json::object{{"description", "Updated"}}).result_int() == 200);
  CHECK(c.Admin(http::verb::put, "/admin/events/" + on_sale, json::object{{"hallId", hall}}).result_int() == 422);
  auto inverted = c.Admin(http::verb::put, "/admin/events/" + upcoming, json::object{{"endsAt", In(1h)}});
  CHECK(inverted.result_int() == 422);

  // Deleting an event on sale is refused; cancel first.
  auto del = c.Admin(http::verb::delete_, "/admin/events/" + on_sale);
  CHECK(del.result_int() == 409);
  CHECK(Code(del) == "EVENT_ON_SALE");
  auto cancel = c.Admin(http::verb::post, "/admin/events/" + on_sale + "/cancel", json::object{{"reason", "weather"}});
  REQUIRE(cancel.result_int() == 200);
  CHECK(Body(cancel).at("status").as_string() == "CANCELLED");
  CHECK(Body(cancel).at("cancelReason").as_string() == "weather");
  CHECK(c.Admin(http::verb::post, "/admin/events/" + on_sale + "/cancel").result_int() == 200);  // idempotent
  CHECK(Body(c.Call(http::verb::get, "/events/" + on_sale, "")).at("status").as_string() == "CANCELLED");
  CHECK(Code(c.Admin(http::verb::put, "/admin/events/" + on_sale, json::object{{"title", "x"}})) == "EVENT_CANCELLED");

  // Exactly one EventCancelled, published to Kafka by the relay.
  pqxx::connection conn(c.db.url());
  bool published = false;
  for (int i = 0; i < 300 && !published; ++i) {
    pqxx::work tx(conn);
    const auto rows = tx.exec_params(
        "SELECT count(*), bool_and(published_at IS NOT NULL), min(envelope->'payload'->>'reason') FROM catalog.outbox "
        "WHERE event_type = 'EventCancelled' AND aggregate_id = $1",
        on_sale);
    REQUIRE(rows[0][0].as<int>() == 1);
    CHECK(rows[0][2].as<std::string>() == "weather");
    published = rows[0][1].as<bool>();
    if (!published) std::this_thread::sleep_for(100ms);
  }
  CHECK(published);

  // A cancelled event without sales can be deleted; one with a sold seat cannot.
  {
    pqxx::work tx(conn);
    tx.exec_params0("UPDATE catalog.events SET sold_total = 1 WHERE id = $1", upcoming);
    tx.commit();
  }
  auto has_bookings = c.Admin(http::verb::delete_, "/admin/events/" + upcoming);
  CHECK(has_bookings.result_int() == 409);
  CHECK(Code(has_bookings) == "EVENT_HAS_BOOKINGS");
  CHECK(c.Admin(http::verb::delete_, "/admin/events/" + on_sale).result_int() == 204);
  CHECK(c.Call(http::verb::get, "/events/" + on_sale, "").result_int() == 404);
  // A venue with events cannot be deleted; an empty one can.
  CHECK(Code(c.Admin(http::verb::delete_, "/admin/venues/" + venue)) == "VENUE_IN_USE");
  CHECK(c.Admin(http::verb::delete_, "/admin/venues/" + c.CreateVenue("Empty")).result_int() == 204);
}
