#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>

#include "catalog/service.hpp"
#include "ticketd/core/time.hpp"

namespace ticketd::catalog {

namespace json = boost::json;

namespace {

constexpr const char* kDemoVenue = "Seoul Olympic Hall (demo)";

SeatTemplate DemoTemplate() {
  // 6 sections × 20 rows × 25 seats = 3,000 seats; grade by row.
  SeatTemplate t;
  for (const char* name : {"A", "B", "C", "D", "E", "F"}) {
    TemplateSection s;
    s.name = name;
    for (int row = 1; row <= 20; ++row) {
      const char* grade = row <= 4 ? "VIP" : row <= 10 ? "R" : row <= 16 ? "S" : "A";
      s.rows.push_back({std::to_string(row), 25, grade, {}, {}});
    }
    t.sections.push_back(std::move(s));
  }
  return t;
}

EventInput DemoEvent(const std::string& venue_id, const std::string& hall_id, std::string title, std::string artist,
                     std::chrono::hours sale_opens_in, std::optional<QueueSettings> queue) {
  using namespace std::chrono_literals;
  const auto now = std::chrono::system_clock::now();
  EventInput in;
  in.venue_id = venue_id;
  in.hall_id = hall_id;
  in.title = std::move(title);
  in.artist = std::move(artist);
  in.description = "Demo event created by `ticketd seed`.";
  in.poster_url = "https://ticketd.dev/posters/demo.jpg";
  in.sale_starts_at = now + sale_opens_in;
  in.sale_ends_at = now + sale_opens_in + 24h * 7;
  in.starts_at = now + sale_opens_in + 24h * 8;
  in.ends_at = *in.starts_at + 3h;
  in.prices = std::vector<std::pair<std::string, std::int64_t>>{{"VIP", 198000}, {"R", 165000}, {"S", 132000}, {"A", 99000}};
  in.queue = std::move(queue);
  return in;
}

}  // namespace

boost::asio::awaitable<std::string> SeedDemo(CatalogService& service, db::Pool& pool) {
  // Idempotent piece by piece: a run interrupted half-way completes on the next.
  struct Existing {
    std::string venue_id;
    std::string hall_id;
    std::vector<std::string> titles;
  };
  const auto existing = co_await pool.Transact([](pqxx::work& tx) {
    Existing e;
    const auto v = tx.exec_params("SELECT id FROM catalog.venues WHERE name = $1", kDemoVenue);
    if (v.empty()) return e;
    e.venue_id = v[0][0].as<std::string>();
    const auto h = tx.exec_params("SELECT id FROM catalog.halls WHERE venue_id = $1 AND name = 'Main Hall'", e.venue_id);
    if (!h.empty()) e.hall_id = h[0][0].as<std::string>();
    for (const auto& r : tx.exec_params("SELECT title FROM catalog.events WHERE venue_id = $1", e.venue_id)) {
      e.titles.push_back(r[0].as<std::string>());
    }
    return e;
  });
  std::string venue_id = existing.venue_id;
  if (venue_id.empty()) {
    VenueInput venue{kDemoVenue, "424 Olympic-ro, Songpa-gu, Seoul"};
    const auto v = co_await service.CreateVenue(std::move(venue));
    venue_id = std::string(v.at("venueId").as_string());
  }
  std::string hall_id = existing.hall_id;
  if (hall_id.empty()) {
    HallInput hall{"Main Hall", DemoTemplate()};
    std::string hall_venue = venue_id;
    const auto h = co_await service.CreateHall(std::move(hall_venue), std::move(hall));
    hall_id = std::string(h.at("hallId").as_string());
  }
  using namespace std::chrono_literals;
  struct Demo {
    std::string title;
    std::string artist;
    std::chrono::hours sale_opens_in;
    std::optional<QueueSettings> queue;
    const char* note;
  };
  QueueSettings fifo;
  fifo.method = "fifo";
  QueueSettings random;
  random.method = "random";
  random.pre_queue_minutes = 30;
  std::vector<Demo> demos{{"Aurora Live in Seoul", "Aurora", -1h, fifo, "ON_SALE"},
                          {"Han River Jazz Night", "Seoul Jazz Collective", 48h, random, "UPCOMING"},
                          {"새해 콘서트 2027", "서울 필하모닉", 24h * 20, std::nullopt, "UPCOMING"}};
  std::string summary = "demo venue " + venue_id + ", hall " + hall_id + "; events:";
  for (auto& d : demos) {
    if (std::find(existing.titles.begin(), existing.titles.end(), d.title) != existing.titles.end()) continue;
    auto in = DemoEvent(venue_id, hall_id, d.title, d.artist, d.sale_opens_in, d.queue);
    events::Metadata meta;
    const auto e = co_await service.CreateEvent(std::move(in), std::move(meta));
    summary += " " + std::string(e.at("eventId").as_string()) + " (" + d.note + ")";
  }
  co_return summary;
}

}  // namespace ticketd::catalog
