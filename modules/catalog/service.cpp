#include "catalog/service.hpp"

#include <boost/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "ticketd/catalog/events.hpp"
#include "ticketd/core/error.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/log.hpp"
#include "ticketd/core/time.hpp"

namespace ticketd::catalog {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// Microseconds since the epoch of a timestamptz column.
std::string Us(const std::string& column) { return "(extract(epoch from " + column + ") * 1000000)::bigint"; }
// A timestamptz from a microseconds parameter.
std::string Ts(int param) { return "to_timestamp($" + std::to_string(param) + "::bigint / 1000000.0)"; }

[[noreturn]] void NotFound(const std::string& what) { throw ApiError(problems::NotFound(what + " not found")); }

[[noreturn]] void Unprocessable(std::vector<FieldError> errors) {
  std::string detail = errors.size() == 1 ? errors.front().field + ": " + errors.front().message
                                          : std::to_string(errors.size()) + " fields are invalid";
  throw ApiError(problems::ValidationFailed(std::move(detail), std::move(errors), 422));
}

[[noreturn]] void Conflict(const char* code, const char* title, std::string detail) {
  throw ApiError(problems::Make(409, code, title, std::move(detail)));
}

// A nullable text parameter (libpqxx 6 passes a null pointer as SQL NULL).
const char* Opt(const std::optional<std::string>& v) { return v ? v->c_str() : nullptr; }

std::string Str(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }
TimePoint Time(const pqxx::field& f) { return FromMicros(f.as<std::int64_t>()); }

json::object QueueJson(const QueueSettings& q) {
  json::object o;
  if (q.admission_rate_per_second) o["admissionRatePerSecond"] = *q.admission_rate_per_second;
  if (q.max_active) o["maxActive"] = *q.max_active;
  if (q.capacity) o["capacity"] = *q.capacity;
  if (q.method) o["method"] = *q.method;
  if (q.pre_queue_minutes) o["preQueueMinutes"] = *q.pre_queue_minutes;
  return o;
}

QueueSettings QueueFromJson(const std::string& text) {
  QueueSettings q;
  const auto v = json::parse(text);
  const auto& o = v.as_object();
  const auto num = [&o](const char* k) -> std::optional<int> {
    const auto* f = o.if_contains(k);
    if (f == nullptr || !f->is_int64()) return std::nullopt;
    return static_cast<int>(f->as_int64());
  };
  q.admission_rate_per_second = num("admissionRatePerSecond");
  q.max_active = num("maxActive");
  q.capacity = num("capacity");
  q.pre_queue_minutes = num("preQueueMinutes");
  if (const auto* m = o.if_contains("method"); m != nullptr && m->is_string()) q.method = std::string(m->as_string());
  return q;
}

json::object PricesJson(const std::vector<std::pair<std::string, std::int64_t>>& prices) {
  json::object o;
  for (const auto& [grade, price] : prices) o[grade] = price;
  return o;
}

std::string SqlLikeEscape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Seat ids: a UUID (version 8) made of the event id's first 80 bits and the
// seat's ordinal, so a seat map's ids share a prefix (a gzipped map stays
// small) while staying unique (event ids are random v4 UUIDs).
std::string SeatId(const std::string& event_id, int ordinal) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = event_id.substr(0, 24);
  for (auto& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  id[14] = '8';
  std::string tail(12, '0');
  auto n = static_cast<std::uint64_t>(ordinal);
  for (int i = 11; i >= 0 && n > 0; --i, n >>= 4) tail[static_cast<std::size_t>(i)] = kHex[n & 0xf];
  return id + tail;
}

constexpr const char* kEventColumns =
    "e.id, e.title, e.artist, e.description, e.poster_url, "
    "(extract(epoch from e.starts_at) * 1000000)::bigint, (extract(epoch from e.ends_at) * 1000000)::bigint, "
    "(extract(epoch from e.sale_starts_at) * 1000000)::bigint, (extract(epoch from e.sale_ends_at) * 1000000)::bigint, "
    "e.prices::text, e.queue::text, e.seat_count, "
    "(extract(epoch from e.cancelled_at) * 1000000)::bigint, coalesce(e.cancel_reason, ''), "
    "v.id, v.name, v.address, h.id, h.name, "
    "(extract(epoch from e.created_at) * 1000000)::bigint, (extract(epoch from e.updated_at) * 1000000)::bigint";

struct EventRow {
  EventInfo info;
  json::object body;
};

EventRow ReadEvent(const pqxx::row& r) {
  EventRow out;
  auto& i = out.info;
  i.event_id = r[0].as<std::string>();
  i.title = r[1].as<std::string>();
  i.artist = r[2].as<std::string>();
  i.starts_at = Time(r[5]);
  i.ends_at = Time(r[6]);
  i.sale_starts_at = Time(r[7]);
  i.sale_ends_at = Time(r[8]);
  i.queue = QueueFromJson(r[10].as<std::string>());
  i.seat_count = r[11].as<std::int64_t>();
  i.cancelled = !r[12].is_null();
  i.venue_name = r[15].as<std::string>();
  auto& b = out.body;
  b["eventId"] = i.event_id;
  b["title"] = i.title;
  b["artist"] = i.artist;
  b["description"] = r[3].as<std::string>();
  b["posterUrl"] = r[4].is_null() || r[4].as<std::string>().empty() ? json::value(nullptr) : json::value(r[4].as<std::string>());
  b["startsAt"] = FormatRfc3339(i.starts_at);
  b["endsAt"] = FormatRfc3339(i.ends_at);
  b["saleStartsAt"] = FormatRfc3339(i.sale_starts_at);
  b["saleEndsAt"] = FormatRfc3339(i.sale_ends_at);
  b["prices"] = json::parse(r[9].as<std::string>());
  // EventSummary's minPrice/maxPrice (null without prices), on every event answer.
  std::optional<std::int64_t> lo, hi;
  for (const auto& p : b["prices"].as_object()) {
    const auto v = p.value().as_int64();
    lo = lo ? std::min(*lo, v) : v;
    hi = hi ? std::max(*hi, v) : v;
  }
  b["minPrice"] = lo ? json::value(*lo) : json::value(nullptr);
  b["maxPrice"] = hi ? json::value(*hi) : json::value(nullptr);
  b["queue"] = QueueJson(i.queue);
  b["seatCount"] = i.seat_count;
  b["cancelledAt"] = i.cancelled ? json::value(FormatRfc3339(Time(r[12]))) : json::value(nullptr);
  b["cancelReason"] = i.cancelled ? json::value(r[13].as<std::string>()) : json::value(nullptr);
  b["venue"] = json::object{{"venueId", r[14].as<std::string>()}, {"name", i.venue_name}, {"address", r[16].as<std::string>()}};
  b["hall"] = json::object{{"hallId", r[17].as<std::string>()}, {"name", r[18].as<std::string>()}};
  b["createdAt"] = FormatRfc3339(Time(r[19]));
  b["updatedAt"] = FormatRfc3339(Time(r[20]));
  return out;
}

json::object WithStatus(json::object body, const EventInfo& info) {
  body["status"] = ToString(info.StatusAt(std::chrono::system_clock::now()));
  return body;
}

std::chrono::steady_clock::duration UntilNextBoundary(const EventInfo& i, std::chrono::steady_clock::duration cap) {
  // A cached entry never outlives a status change of an event it holds.
  const auto now = std::chrono::system_clock::now();
  auto best = cap;
  for (const auto t : {i.sale_starts_at, i.sale_ends_at, i.ends_at}) {
    if (t > now) best = std::min<std::chrono::steady_clock::duration>(best, std::chrono::duration_cast<std::chrono::steady_clock::duration>(t - now));
  }
  return best;
}

json::object HallJson(const pqxx::row& r, bool with_template) {
  json::object o{{"hallId", r[0].as<std::string>()},
                 {"venueId", r[1].as<std::string>()},
                 {"name", r[2].as<std::string>()},
                 {"seatCount", r[3].as<std::int64_t>()}};
  o["grades"] = json::parse(r[4].as<std::string>());
  if (with_template) o["seatTemplate"] = json::parse(r[5].as<std::string>());
  return o;
}

constexpr const char* kHallColumns = "h.id, h.venue_id, h.name, h.seat_count, to_json(h.grades)::text, h.template::text";

json::object VenueJson(const pqxx::row& r) {
  return {{"venueId", r[0].as<std::string>()}, {"name", r[1].as<std::string>()}, {"address", r[2].as<std::string>()}};
}

void RequireUuid(const std::string& id, const char* what) {
  if (!IsUuid(id)) NotFound(what);
}

}  // namespace

const char* ToString(EventStatus status) {
  switch (status) {
    case EventStatus::kUpcoming:
      return "UPCOMING";
    case EventStatus::kOnSale:
      return "ON_SALE";
    case EventStatus::kSaleEnded:
      return "SALE_ENDED";
    case EventStatus::kEnded:
      return "ENDED";
    case EventStatus::kCancelled:
      return "CANCELLED";
  }
  return "UPCOMING";
}

EventStatus EventInfo::StatusAt(TimePoint now) const {
  if (cancelled) return EventStatus::kCancelled;
  if (now < sale_starts_at) return EventStatus::kUpcoming;
  if (now < sale_ends_at) return EventStatus::kOnSale;
  if (now < ends_at) return EventStatus::kSaleEnded;
  return EventStatus::kEnded;
}

const char* StatusSql() {
  return "(CASE WHEN e.cancelled_at IS NOT NULL THEN 'CANCELLED' WHEN now() < e.sale_starts_at THEN 'UPCOMING' "
         "WHEN now() < e.sale_ends_at THEN 'ON_SALE' WHEN now() < e.ends_at THEN 'SALE_ENDED' ELSE 'ENDED' END)";
}

std::string EventQuery::CacheKey() const {
  std::string key = std::to_string(page) + "|" + std::to_string(size) + "|";
  for (const auto& s : statuses) key += s + ",";
  key += "|" + (from ? std::to_string(ToMicros(*from)) : "") + "|" + (to ? std::to_string(ToMicros(*to)) : "");
  key += "|" + venue_id.value_or("") + "|" + artist.value_or("") + "|" + q.value_or("") + "|" + sort;
  return key;
}

CatalogService::CatalogService(CatalogOptions options, db::Pool& pool, metrics::Registry* registry)
    : options_(std::move(options)),
      pool_(pool),
      maps_(options_.instance_tag.empty() ? NewUuid().substr(0, 8) : options_.instance_tag),
      event_cache_(options_.cache_max_entries),
      list_cache_(options_.cache_max_entries),
      seat_map_loads_(options_.cache_max_entries) {
  if (registry != nullptr) {
    seat_changes_ = &registry->GetCounter("ticketd_catalog_seat_changes_total", "Seat status changes applied to live seat maps");
  }
}

// ---------------------------------------------------------------- venues, halls

boost::asio::awaitable<json::object> CatalogService::CreateVenue(VenueInput in) {
  const std::string id = NewUuid();
  co_await pool_.Transact([&](pqxx::work& tx) {
    tx.exec_params0("INSERT INTO catalog.venues (id, name, address) VALUES ($1, $2, $3)", id, in.name, in.address);
  });
  co_return json::object{{"venueId", id}, {"name", in.name}, {"address", in.address}, {"halls", json::array{}}};
}

boost::asio::awaitable<json::object> CatalogService::UpdateVenue(std::string venue_id, VenueInput in) {
  RequireUuid(venue_id, "Venue");
  const auto n = co_await pool_.Transact([&](pqxx::work& tx) {
    return tx.exec_params("UPDATE catalog.venues SET name = $2, address = $3, updated_at = now() WHERE id = $1",
                          venue_id, in.name, in.address)
        .affected_rows();
  });
  if (n == 0) NotFound("Venue");
  list_cache_.Clear();
  event_cache_.Clear();
  co_return co_await GetVenue(std::move(venue_id));
}

boost::asio::awaitable<void> CatalogService::DeleteVenue(std::string venue_id) {
  RequireUuid(venue_id, "Venue");
  const int outcome = co_await pool_.Transact([&](pqxx::work& tx) {
    if (tx.exec_params("SELECT 1 FROM catalog.venues WHERE id = $1 FOR UPDATE", venue_id).empty()) return 0;
    if (!tx.exec_params("SELECT 1 FROM catalog.events WHERE venue_id = $1 LIMIT 1", venue_id).empty()) return 1;
    tx.exec_params0("DELETE FROM catalog.venues WHERE id = $1", venue_id);
    return 2;
  });
  if (outcome == 0) NotFound("Venue");
  if (outcome == 1) Conflict("VENUE_IN_USE", "Venue in use", "The venue has events; delete or move them first");
}

boost::asio::awaitable<json::object> CatalogService::ListVenues(int page, int size) {
  co_return co_await pool_.Transact([&](pqxx::work& tx) {
    json::array items;
    const auto rows = tx.exec_params("SELECT id, name, address FROM catalog.venues ORDER BY name, id LIMIT $1 OFFSET $2",
                                     size, static_cast<std::int64_t>(page - 1) * size);
    std::vector<std::string> ids;
    for (const auto& r : rows) {
      auto v = VenueJson(r);
      v["halls"] = json::array{};
      ids.push_back(r[0].as<std::string>());
      items.push_back(std::move(v));
    }
    if (!ids.empty()) {
      std::string list = "{";
      for (std::size_t i = 0; i < ids.size(); ++i) list += (i ? "," : "") + ids[i];
      list += "}";
      const auto halls = tx.exec_params(std::string("SELECT ") + kHallColumns +
                                            " FROM catalog.halls h WHERE h.venue_id = ANY($1::uuid[]) ORDER BY h.name, h.id",
                                        list);
      for (const auto& h : halls) {
        const auto vid = h[1].as<std::string>();
        for (auto& item : items) {
          if (item.as_object().at("venueId").as_string() == vid) item.as_object()["halls"].as_array().push_back(HallJson(h, false));
        }
      }
    }
    const auto total = tx.exec1("SELECT count(*) FROM catalog.venues")[0].as<std::int64_t>();
    return json::object{{"items", std::move(items)}, {"page", page}, {"size", size}, {"total", total}};
  });
}

boost::asio::awaitable<json::object> CatalogService::GetVenue(std::string venue_id) {
  RequireUuid(venue_id, "Venue");
  auto venue = co_await pool_.Transact([&](pqxx::work& tx) -> std::optional<json::object> {
    const auto rows = tx.exec_params("SELECT id, name, address FROM catalog.venues WHERE id = $1", venue_id);
    if (rows.empty()) return std::nullopt;
    auto v = VenueJson(rows[0]);
    json::array halls;
    for (const auto& h : tx.exec_params(std::string("SELECT ") + kHallColumns +
                                            " FROM catalog.halls h WHERE h.venue_id = $1 ORDER BY h.name, h.id",
                                        venue_id)) {
      halls.push_back(HallJson(h, false));
    }
    v["halls"] = std::move(halls);
    return v;
  });
  if (!venue) NotFound("Venue");
  co_return std::move(*venue);
}

boost::asio::awaitable<json::object> CatalogService::CreateHall(std::string venue_id, HallInput in) {
  RequireUuid(venue_id, "Venue");
  const std::string id = NewUuid();
  const auto seat_count = CountSeats(in.seat_template);
  json::array grades;
  for (const auto& g : GradesOf(in.seat_template)) grades.push_back(json::string(g));
  const std::string grades_literal = json::serialize(grades);
  const std::string template_text = json::serialize(ToJson(in.seat_template));
  const int outcome = co_await pool_.Transact([&](pqxx::work& tx) {
    if (tx.exec_params("SELECT 1 FROM catalog.venues WHERE id = $1 FOR SHARE", venue_id).empty()) return 0;
    if (!tx.exec_params("SELECT 1 FROM catalog.halls WHERE venue_id = $1 AND name = $2", venue_id, in.name).empty()) return 1;
    tx.exec_params0(
        "INSERT INTO catalog.halls (id, venue_id, name, template, seat_count, grades) "
        "VALUES ($1, $2, $3, $4::jsonb, $5, ARRAY(SELECT jsonb_array_elements_text($6::jsonb)))",
        id, venue_id, in.name, template_text, seat_count, grades_literal);
    return 2;
  });
  if (outcome == 0) NotFound("Venue");
  if (outcome == 1) Conflict("HALL_NAME_TAKEN", "Hall name taken", "The venue already has a hall named " + in.name);
  std::string hall_id = id;
  co_return co_await GetHall(std::move(venue_id), std::move(hall_id));
}

boost::asio::awaitable<json::object> CatalogService::UpdateHall(std::string venue_id, std::string hall_id, HallInput in) {
  RequireUuid(venue_id, "Venue");
  RequireUuid(hall_id, "Hall");
  const auto seat_count = CountSeats(in.seat_template);
  json::array grades;
  for (const auto& g : GradesOf(in.seat_template)) grades.push_back(json::string(g));
  const std::string grades_literal = json::serialize(grades);
  const std::string template_text = json::serialize(ToJson(in.seat_template));
  // Events keep the seats generated when they were created: a template change
  // applies to events created afterwards.
  const int outcome = co_await pool_.Transact([&](pqxx::work& tx) {
    if (tx.exec_params("SELECT 1 FROM catalog.halls WHERE id = $1 AND venue_id = $2 FOR UPDATE", hall_id, venue_id).empty()) {
      return 0;
    }
    if (!tx.exec_params("SELECT 1 FROM catalog.halls WHERE venue_id = $1 AND name = $2 AND id <> $3", venue_id, in.name,
                        hall_id)
             .empty()) {
      return 1;
    }
    tx.exec_params0(
        "UPDATE catalog.halls SET name = $3, template = $4::jsonb, seat_count = $5, "
        "grades = ARRAY(SELECT jsonb_array_elements_text($6::jsonb)), updated_at = now() WHERE id = $1 AND venue_id = $2",
        hall_id, venue_id, in.name, template_text, seat_count, grades_literal);
    return 2;
  });
  if (outcome == 0) NotFound("Hall");
  if (outcome == 1) Conflict("HALL_NAME_TAKEN", "Hall name taken", "The venue already has a hall named " + in.name);
  event_cache_.Clear();
  list_cache_.Clear();
  co_return co_await GetHall(std::move(venue_id), std::move(hall_id));
}

boost::asio::awaitable<void> CatalogService::DeleteHall(std::string venue_id, std::string hall_id) {
  RequireUuid(venue_id, "Venue");
  RequireUuid(hall_id, "Hall");
  const int outcome = co_await pool_.Transact([&](pqxx::work& tx) {
    if (tx.exec_params("SELECT 1 FROM catalog.halls WHERE id = $1 AND venue_id = $2 FOR UPDATE", hall_id, venue_id).empty()) {
      return 0;
    }
    if (!tx.exec_params("SELECT 1 FROM catalog.events WHERE hall_id = $1 LIMIT 1", hall_id).empty()) return 1;
    tx.exec_params0("DELETE FROM catalog.halls WHERE id = $1", hall_id);
    return 2;
  });
  if (outcome == 0) NotFound("Hall");
  if (outcome == 1) Conflict("HALL_IN_USE", "Hall in use", "The hall has events; delete them first");
}

boost::asio::awaitable<json::object> CatalogService::GetHall(std::string venue_id, std::string hall_id) {
  RequireUuid(venue_id, "Venue");
  RequireUuid(hall_id, "Hall");
  auto hall = co_await pool_.Transact([&](pqxx::work& tx) -> std::optional<json::object> {
    const auto rows = tx.exec_params(std::string("SELECT ") + kHallColumns +
                                         " FROM catalog.halls h WHERE h.id = $1 AND h.venue_id = $2",
                                     hall_id, venue_id);
    if (rows.empty()) return std::nullopt;
    return HallJson(rows[0], true);
  });
  if (!hall) NotFound("Hall");
  co_return std::move(*hall);
}

// ---------------------------------------------------------------- events

boost::asio::awaitable<json::object> CatalogService::CreateEvent(EventInput in, events::Metadata meta) {
  const std::string id = NewUuid();
  const std::string venue_id = *in.venue_id;
  const std::string hall_id = *in.hall_id;
  std::vector<FieldError> errors;
  if (!IsUuid(venue_id)) errors.push_back({"venueId", "must be a UUID"});
  if (!IsUuid(hall_id)) errors.push_back({"hallId", "must be a UUID"});
  if (!errors.empty()) Unprocessable(std::move(errors));
  const std::string prices_text = json::serialize(PricesJson(*in.prices));
  const std::string queue_text = json::serialize(QueueJson(in.queue.value_or(QueueSettings{})));
  (void)meta;
  const auto count = co_await pool_.Transact([&](pqxx::work& tx) -> std::int64_t {
    const auto hall = tx.exec_params("SELECT venue_id, template::text FROM catalog.halls WHERE id = $1 FOR SHARE", hall_id);
    std::vector<FieldError> errs;
    if (hall.empty() || hall[0][0].as<std::string>() != venue_id) {
      if (tx.exec_params("SELECT 1 FROM catalog.venues WHERE id = $1", venue_id).empty()) {
        errs.push_back({"venueId", "no such venue"});
      } else {
        errs.push_back({"hallId", "no such hall in this venue"});
      }
      Unprocessable(std::move(errs));
    }
    std::vector<FieldError> parse_errors;
    const auto tmpl = ParseSeatTemplate(json::parse(hall[0][1].as<std::string>()), "seatTemplate", parse_errors);
    if (!parse_errors.empty()) throw std::runtime_error("stored hall template is invalid");
    const auto seats = ExpandSeats(tmpl);
    std::set<std::string> grades;
    for (const auto& s : seats) grades.insert(s.grade);
    for (const auto& g : grades) {
      const bool priced = std::any_of(in.prices->begin(), in.prices->end(), [&g](const auto& p) { return p.first == g; });
      if (!priced) errs.push_back({"prices." + g, "the hall has " + g + " seats: a price is required"});
    }
    for (const auto& [g, price] : *in.prices) {
      if (!grades.contains(g)) errs.push_back({"prices." + g, "the hall has no seats of grade " + g});
    }
    if (!errs.empty()) Unprocessable(std::move(errs));
    tx.exec_params0(std::string("INSERT INTO catalog.events (id, venue_id, hall_id, title, artist, description, poster_url, "
                                "starts_at, ends_at, sale_starts_at, sale_ends_at, prices, queue, seat_count) "
                                "VALUES ($1, $2, $3, $4, $5, $6, $7, ") +
                        Ts(8) + ", " + Ts(9) + ", " + Ts(10) + ", " + Ts(11) + ", $12::jsonb, $13::jsonb, $14)",
                    id, venue_id, hall_id, *in.title, *in.artist, in.description.value_or(""), in.poster_url.value_or(""),
                    ToMicros(*in.starts_at), ToMicros(*in.ends_at), ToMicros(*in.sale_starts_at),
                    ToMicros(*in.sale_ends_at), prices_text, queue_text, static_cast<std::int64_t>(seats.size()));
    // All seats in one statement: the rows travel as one JSON document and
    // Postgres expands them (50,000 seats in well under a second).
    json::array rows;
    rows.reserve(seats.size());
    for (std::size_t i = 0; i < seats.size(); ++i) {
      const auto& s = seats[i];
      rows.push_back(json::array{SeatId(id, static_cast<int>(i + 1)), static_cast<std::int64_t>(i + 1), s.section, s.row,
                                 s.number, s.label, s.grade});
    }
    tx.exec_params0(
        "INSERT INTO catalog.seats (id, event_id, ordinal, section, row_label, number, label, grade, price) "
        "SELECT (r->>0)::uuid, $1, (r->>1)::int, r->>2, r->>3, (r->>4)::int, r->>5, r->>6, ($3::jsonb->>(r->>6))::bigint "
        "FROM jsonb_array_elements($2::jsonb) AS r",
        id, json::serialize(rows), prices_text);
    return static_cast<std::int64_t>(seats.size());
  });
  list_cache_.Clear();
  std::string created_id = id;
  auto detail = co_await GetEvent(std::move(created_id));
  detail["seatCount"] = count;
  co_return detail;
}

boost::asio::awaitable<json::object> CatalogService::UpdateEvent(std::string event_id, EventInput in) {
  RequireUuid(event_id, "Event");
  const std::string prices_text = in.prices ? json::serialize(PricesJson(*in.prices)) : std::string();
  const std::string queue_text = in.queue ? json::serialize(QueueJson(*in.queue)) : std::string();
  co_await pool_.Transact([&](pqxx::work& tx) {
    const auto rows = tx.exec_params(std::string("SELECT ") + StatusSql() + ", " + Us("e.starts_at") + ", " +
                                         Us("e.ends_at") + ", " + Us("e.sale_starts_at") + ", " + Us("e.sale_ends_at") +
                                         " FROM catalog.events e WHERE e.id = $1 FOR UPDATE",
                                     event_id);
    if (rows.empty()) NotFound("Event");
    const auto status = rows[0][0].as<std::string>();
    if (status == "CANCELLED") Conflict("EVENT_CANCELLED", "Event cancelled", "A cancelled event cannot be edited");
    if (in.venue_id || in.hall_id) {
      Unprocessable({{in.venue_id ? "venueId" : "hallId",
                      "the venue and hall of an event cannot change (its seats exist); create a new event"}});
    }
    const bool started = status != "UPCOMING";
    if (started) {
      std::vector<std::string> locked;
      if (in.starts_at) locked.push_back("startsAt");
      if (in.ends_at) locked.push_back("endsAt");
      if (in.sale_starts_at) locked.push_back("saleStartsAt");
      if (in.sale_ends_at) locked.push_back("saleEndsAt");
      if (in.prices) locked.push_back("prices");
      if (in.queue) locked.push_back("queue");
      if (!locked.empty()) {
        std::string names;
        for (const auto& l : locked) names += (names.empty() ? "" : ", ") + l;
        Conflict("EVENT_ON_SALE", "Sales have started",
                 "Once sales have started only title, artist, description and posterUrl can change (not " + names + ")");
      }
    }
    // Times: validate the resulting window, not just the fields sent.
    const auto starts = in.starts_at.value_or(Time(rows[0][1]));
    const auto ends = in.ends_at.value_or(Time(rows[0][2]));
    const auto sale_starts = in.sale_starts_at.value_or(Time(rows[0][3]));
    const auto sale_ends = in.sale_ends_at.value_or(Time(rows[0][4]));
    std::vector<FieldError> errs;
    if (!(starts < ends)) errs.push_back({"endsAt", "must be after startsAt"});
    if (!(sale_starts < sale_ends)) errs.push_back({"saleEndsAt", "must be after saleStartsAt"});
    if (sale_ends > starts) errs.push_back({"saleEndsAt", "must not be after startsAt"});
    if (in.prices) {
      std::set<std::string> grades;
      for (const auto& r : tx.exec_params("SELECT DISTINCT grade FROM catalog.seats WHERE event_id = $1", event_id)) {
        grades.insert(r[0].as<std::string>());
      }
      for (const auto& g : grades) {
        const bool priced = std::any_of(in.prices->begin(), in.prices->end(), [&g](const auto& p) { return p.first == g; });
        if (!priced) errs.push_back({"prices." + g, "the event has " + g + " seats: a price is required"});
      }
      for (const auto& [g, price] : *in.prices) {
        if (!grades.contains(g)) errs.push_back({"prices." + g, "the event has no seats of grade " + g});
      }
    }
    if (!errs.empty()) Unprocessable(std::move(errs));
    tx.exec_params0(std::string("UPDATE catalog.events SET title = coalesce($2, title), artist = coalesce($3, artist), "
                                "description = coalesce($4, description), poster_url = coalesce($5, poster_url), "
                                "starts_at = ") +
                        Ts(6) + ", ends_at = " + Ts(7) + ", sale_starts_at = " + Ts(8) + ", sale_ends_at = " + Ts(9) +
                        ", prices = coalesce(NULLIF($10, '')::jsonb, prices), queue = coalesce(NULLIF($11, '')::jsonb, queue), "
                        "updated_at = now() WHERE id = $1",
                    event_id, Opt(in.title), Opt(in.artist), Opt(in.description), Opt(in.poster_url), ToMicros(starts), ToMicros(ends),
                    ToMicros(sale_starts), ToMicros(sale_ends), prices_text, queue_text);
    if (in.prices) {
      // Only before sales start (checked above): no seat has been sold at its old price.
      tx.exec_params0("UPDATE catalog.seats SET price = ($2::jsonb->>grade)::bigint, updated_at = now() "
                      "WHERE event_id = $1 AND status = 'AVAILABLE'",
                      event_id, prices_text);
    }
  });
  InvalidateEvent(event_id);
  if (in.prices) DropSeatMap(event_id);  // reload with the new prices
  co_return co_await GetEvent(std::move(event_id));
}

boost::asio::awaitable<json::object> CatalogService::CancelEvent(std::string event_id, std::string reason,
                                                                 events::Metadata meta) {
  RequireUuid(event_id, "Event");
  const bool found = co_await pool_.Transact([&](pqxx::work& tx) {
    const auto rows = tx.exec_params("SELECT title, cancelled_at IS NOT NULL FROM catalog.events WHERE id = $1 FOR UPDATE",
                                     event_id);
    if (rows.empty()) return false;
    if (rows[0][1].as<bool>()) return true;  // already cancelled: idempotent, no second event
    const auto at = tx.exec_params1(
        "UPDATE catalog.events SET cancelled_at = now(), cancel_reason = $2, updated_at = now() WHERE id = $1 "
        "RETURNING (extract(epoch from cancelled_at) * 1000000)::bigint",
        event_id, reason);
    json::object payload{{"eventId", event_id},
                         {"title", rows[0][0].as<std::string>()},
                         {"reason", reason},
                         {"cancelledAt", FormatRfc3339(Time(at[0]))}};
    auto envelope = events::Make(std::string(domain::kEventCancelled), std::string(domain::kAggregateType), event_id,
                                 std::move(payload), meta);
    events::AppendToOutbox(tx, "catalog", domain::kTopic, envelope);
    return true;
  });
  if (!found) NotFound("Event");
  InvalidateEvent(event_id);
  co_return co_await GetEvent(std::move(event_id));
}

boost::asio::awaitable<void> CatalogService::DeleteEvent(std::string event_id) {
  RequireUuid(event_id, "Event");
  const int outcome = co_await pool_.Transact([&](pqxx::work& tx) {
    const auto rows = tx.exec_params(std::string("SELECT ") + StatusSql() +
                                         ", e.sold_total, EXISTS (SELECT 1 FROM catalog.seats s WHERE s.event_id = e.id "
                                         "AND s.status = 'SOLD') FROM catalog.events e WHERE e.id = $1 FOR UPDATE",
                                     event_id);
    if (rows.empty()) return 0;
    if (rows[0][1].as<std::int64_t>() > 0 || rows[0][2].as<bool>()) return 1;
    if (rows[0][0].as<std::string>() == "ON_SALE") return 2;
    tx.exec_params0("DELETE FROM catalog.events WHERE id = $1", event_id);
    return 3;
  });
  if (outcome == 0) NotFound("Event");
  if (outcome == 1) Conflict("EVENT_HAS_BOOKINGS", "Event has bookings", "Seats of this event have been sold; cancel it instead");
  if (outcome == 2) Conflict("EVENT_ON_SALE", "Sales are open", "Cancel the event (or wait for the sale to end) before deleting it");
  InvalidateEvent(event_id);
  DropSeatMap(event_id);
}

boost::asio::awaitable<std::shared_ptr<const CatalogService::CachedEvent>> CatalogService::LoadEvent(
    const std::string& event_id) {
  auto loader = [this, event_id]() -> boost::asio::awaitable<SingleFlightCache<CachedEvent>::Loaded> {
    auto entry = co_await pool_.Transact([&](pqxx::work& tx) -> std::shared_ptr<const CachedEvent> {
      const auto rows = tx.exec_params(std::string("SELECT ") + kEventColumns +
                                           " FROM catalog.events e JOIN catalog.venues v ON v.id = e.venue_id "
                                           "JOIN catalog.halls h ON h.id = e.hall_id WHERE e.id = $1",
                                       event_id);
      if (rows.empty()) return nullptr;
      auto row = ReadEvent(rows[0]);
      json::array grades;
      for (const auto& g : tx.exec_params("SELECT grade, max(price), count(*) FROM catalog.seats WHERE event_id = $1 "
                                          "GROUP BY grade ORDER BY max(price) DESC, grade",
                                          event_id)) {
        grades.push_back(json::object{{"grade", g[0].as<std::string>()},
                                      {"price", g[1].as<std::int64_t>()},
                                      {"total", g[2].as<std::int64_t>()}});
      }
      row.body["grades"] = std::move(grades);
      return std::make_shared<const CachedEvent>(CachedEvent{std::move(row.info), std::move(row.body)});
    });
    // Unknown ids are cached too (briefly): a flood of requests for a missing
    // event must not reach Postgres each time.
    const auto ttl = entry ? UntilNextBoundary(entry->info, options_.cache_ttl) : std::chrono::steady_clock::duration(options_.cache_ttl);
    co_return SingleFlightCache<CachedEvent>::Loaded{entry ? entry : std::make_shared<const CachedEvent>(), ttl};
  };
  std::string key = event_id;
  SingleFlightCache<CachedEvent>::Loader fn = std::move(loader);
  auto cached = co_await event_cache_.Get(std::move(key), std::move(fn));
  if (cached->info.event_id.empty()) co_return nullptr;
  co_return cached;
}

boost::asio::awaitable<json::object> CatalogService::GetEvent(std::string event_id) {
  RequireUuid(event_id, "Event");
  const auto cached = co_await LoadEvent(event_id);
  if (!cached) NotFound("Event");
  co_return WithStatus(cached->body, cached->info);
}

boost::asio::awaitable<std::optional<EventInfo>> CatalogService::FindEvent(std::string event_id) {
  if (!IsUuid(event_id)) co_return std::nullopt;
  const auto cached = co_await LoadEvent(event_id);
  if (!cached) co_return std::nullopt;
  // Callers about to hold seats next call ResolveSeats, which answers from
  // memory: make sure an event on sale has its map loaded (asynchronously,
  // single flight) so that never has to block.
  if (cached->info.StatusAt(std::chrono::system_clock::now()) == EventStatus::kOnSale && !maps_.Find(event_id)) {
    std::string id = event_id;
    co_await SeatMap(std::move(id));
  }
  co_return cached->info;
}

boost::asio::awaitable<json::object> CatalogService::ListEvents(EventQuery query) {
  const std::string key = query.CacheKey();
  auto loader = [this, query]() -> boost::asio::awaitable<SingleFlightCache<CachedList>::Loaded> {
    auto list = co_await pool_.Transact([&](pqxx::work& tx) {
      std::string statuses;
      for (const auto& s : query.statuses) statuses += (statuses.empty() ? "" : ",") + s;
      const std::string where =
          std::string(" FROM catalog.events e JOIN catalog.venues v ON v.id = e.venue_id "
                      "JOIN catalog.halls h ON h.id = e.hall_id WHERE ($1 = '' OR ") +
          StatusSql() +
          " = ANY(string_to_array($1, ','))) "
          "AND (NULLIF($2, '')::bigint IS NULL OR e.starts_at >= to_timestamp(NULLIF($2, '')::bigint / 1000000.0)) "
          "AND (NULLIF($3, '')::bigint IS NULL OR e.starts_at < to_timestamp(NULLIF($3, '')::bigint / 1000000.0)) "
          "AND (NULLIF($4, '')::uuid IS NULL OR e.venue_id = NULLIF($4, '')::uuid) "
          "AND ($5 = '' OR e.artist ILIKE '%' || $5 || '%') "
          "AND ($6 = '' OR (e.title || ' ' || e.artist) ILIKE '%' || $6 || '%' "
          "     OR (length($7) >= 3 AND $7 OPERATOR(catalog.<%) (e.title || ' ' || e.artist)))";
      std::string order;
      const bool desc = !query.sort.empty() && query.sort[0] == '-';
      const std::string field = desc ? query.sort.substr(1) : query.sort;
      const std::string dir = desc ? " DESC" : " ASC";
      if (field == "saleStartsAt") {
        order = "e.sale_starts_at" + dir;
      } else if (field == "title") {
        order = "e.title" + dir;
      } else if (field == "createdAt") {
        order = "e.created_at" + dir;
      } else if (field == "relevance") {
        order = "catalog.word_similarity($7, e.title || ' ' || e.artist) DESC, e.starts_at ASC";
      } else {
        order = "e.starts_at" + dir;
      }
      const std::string from = query.from ? std::to_string(ToMicros(*query.from)) : "";
      const std::string to = query.to ? std::to_string(ToMicros(*query.to)) : "";
      const std::string venue = query.venue_id.value_or("");
      const std::string artist = query.artist ? SqlLikeEscape(*query.artist) : "";
      const std::string q = query.q ? SqlLikeEscape(*query.q) : "";
      const std::string q_raw = query.q.value_or("");
      // Typos still find a word ("Coldpaly" → "Coldplay"): word similarity,
      // more tolerant than pg_trgm's default 0.6.
      tx.exec0("SET LOCAL pg_trgm.word_similarity_threshold = 0.3");
      const auto rows = tx.exec_params(std::string("SELECT ") + kEventColumns + where + " ORDER BY " + order +
                                           ", e.id LIMIT $8 OFFSET $9",
                                       statuses, from, to, venue, artist, q, q_raw, query.size,
                                       static_cast<std::int64_t>(query.page - 1) * query.size);
      CachedList out;
      out.page = query.page;
      out.size = query.size;
      std::vector<std::string> ids;
      for (const auto& r : rows) {
        auto row = ReadEvent(r);
        json::object item;
        for (const char* k : {"eventId", "title", "artist", "posterUrl", "startsAt", "endsAt", "saleStartsAt",
                              "saleEndsAt", "seatCount", "venue", "hall", "prices"}) {
          item[k] = row.body[k];
        }
        std::int64_t lo = -1, hi = -1;
        for (const auto& p : row.body["prices"].as_object()) {
          const auto v = p.value().as_int64();
          lo = lo < 0 ? v : std::min(lo, v);
          hi = std::max(hi, v);
        }
        item["minPrice"] = lo < 0 ? json::value(nullptr) : json::value(lo);
        item["maxPrice"] = hi < 0 ? json::value(nullptr) : json::value(hi);
        out.infos.push_back(std::move(row.info));
        out.items.push_back(std::move(item));
      }
      out.total = tx.exec_params1("SELECT count(*)" + where, statuses, from, to, venue, artist, q, q_raw)[0].as<std::int64_t>();
      return out;
    });
    auto ttl = std::chrono::steady_clock::duration(options_.cache_ttl);
    for (const auto& i : list.infos) ttl = UntilNextBoundary(i, ttl);
    co_return SingleFlightCache<CachedList>::Loaded{std::make_shared<const CachedList>(std::move(list)), ttl};
  };
  SingleFlightCache<CachedList>::Loader fn = std::move(loader);
  std::string cache_key = key;
  const auto cached = co_await list_cache_.Get(std::move(cache_key), std::move(fn));
  json::array items;
  items.reserve(cached->items.size());
  for (std::size_t i = 0; i < cached->items.size(); ++i) {
    items.push_back(WithStatus(cached->items[i].as_object(), cached->infos[i]));
  }
  co_return json::object{{"items", std::move(items)}, {"page", cached->page}, {"size", cached->size}, {"total", cached->total}};
}

void CatalogService::InvalidateEvent(const std::string& event_id) {
  event_cache_.Invalidate(event_id);
  list_cache_.Clear();
}

// ---------------------------------------------------------------- seat maps

std::shared_ptr<EventSeatMap> CatalogService::LoadSeatMapSync(pqxx::work& tx, const std::string& event_id) {
  const auto rows = tx.exec_params(
      "SELECT id, label, section, row_label, number, grade, price, status, coalesce(reservation_id::text, '') "
      "FROM catalog.seats WHERE event_id = $1 ORDER BY ordinal",
      event_id);
  if (rows.empty()) return nullptr;
  std::vector<SeatRecord> seats;
  seats.reserve(rows.size());
  for (const auto& r : rows) {
    seats.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                     r[4].as<int>(), r[5].as<std::string>(), r[6].as<std::int64_t>(),
                     r[7].as<std::string>() == "SOLD" ? SeatStatus::kSold : SeatStatus::kAvailable, Str(r[8])});
  }
  auto map = maps_.Install(event_id, std::move(seats));
  if (held_source_ != nullptr) {
    // Holds live in reservation: without them a freshly loaded map would show
    // held seats AVAILABLE (the database would still refuse them).
    // Through the per-reservation marks: a hold event applied to the new map
    // while this was read (the reservation ended, or changed its seats) is
    // newer than the read and wins; the read must not put its seats back.
    std::map<std::pair<std::string, std::int64_t>, std::vector<std::string>> holds;
    for (auto& h : held_source_->ActiveHoldsSync(event_id)) holds[{h.reservation_id, h.fence}].push_back(std::move(h.seat_id));
    for (const auto& [key, seat_ids] : holds) map->ApplyHold(key.first, key.second, seat_ids, {});
  }
  return map;
}

boost::asio::awaitable<std::shared_ptr<const RenderedMap>> CatalogService::SeatMap(std::string event_id) {
  if (!IsUuid(event_id)) co_return nullptr;
  auto map = maps_.Find(event_id);
  if (!map) {
    auto loader = [this, event_id]() -> boost::asio::awaitable<SingleFlightCache<int>::Loaded> {
      co_await pool_.Transact([&](pqxx::work& tx) { LoadSeatMapSync(tx, event_id); });
      co_return SingleFlightCache<int>::Loaded{std::make_shared<const int>(0), std::chrono::steady_clock::duration(options_.cache_ttl)};
    };
    // A load remembered from before the map was dropped (DropSeatMap racing
    // this request) loads nothing: forget it and load once more.
    for (int attempt = 0; attempt < 2 && !map; ++attempt) {
      if (attempt > 0) seat_map_loads_.Invalidate(event_id);
      SingleFlightCache<int>::Loader fn = loader;
      std::string key = event_id;
      co_await seat_map_loads_.Get(std::move(key), std::move(fn));
      map = maps_.Find(event_id);
    }
    if (!map) co_return nullptr;
  }
  co_return map->Render();
}

SeatResolution CatalogService::ResolveSeats(const std::string& event_id, const std::vector<std::string>& seat_ids) {
  auto map = maps_.Find(event_id);
  if (!map && IsUuid(event_id)) {
    // Not loaded yet (a reservation before anyone looked at the map): load now.
    try {
      map = pool_.TransactSync([&](pqxx::work& tx) { return LoadSeatMapSync(tx, event_id); });
    } catch (const std::exception& e) {
      log::Warn("catalog: cannot load seat map", {{"event_id", event_id}, {"error", e.what()}});
      throw;
    }
  }
  if (!map) return SeatResolution{};
  return map->Resolve(seat_ids);
}

void CatalogService::DropSeatMap(const std::string& event_id) {
  // The map and the memory that it was loaded: the next request loads it anew.
  maps_.Erase(event_id);
  seat_map_loads_.Invalidate(event_id);
}

void CatalogService::SeatsHeld(const std::string& event_id, const std::string& reservation_id, std::int64_t fence,
                               const std::vector<std::string>& seat_ids,
                               const std::vector<std::string>& released_seat_ids) {
  ApplyToMap(event_id, [&](EventSeatMap& map) { return map.ApplyHold(reservation_id, fence, seat_ids, released_seat_ids); });
}

void CatalogService::SeatsReleased(const std::string& event_id, const std::string& reservation_id,
                                   const std::vector<std::string>& seat_ids) {
  ApplyToMap(event_id, [&](EventSeatMap& map) { return map.ApplyEnd(reservation_id, seat_ids); });
}

void CatalogService::ApplyToMap(const std::string& event_id, const std::function<int(EventSeatMap&)>& change) {
  // Maps that are not loaded read the current state when they load.
  if (auto map = maps_.Find(event_id)) {
    const int n = change(*map);
    if (seat_changes_ != nullptr && n > 0) seat_changes_->Inc(n);
  }
}

namespace {

std::vector<std::string> SeatIdsOf(const events::Envelope& e) {
  std::vector<std::string> ids;
  const auto* arr = e.payload.if_contains("seatIds");
  if (arr == nullptr || !arr->is_array()) throw std::invalid_argument("payload.seatIds missing");
  for (const auto& v : arr->as_array()) ids.emplace_back(v.as_string());
  return ids;
}

std::string PayloadString(const events::Envelope& e, const char* key) {
  const auto* v = e.payload.if_contains(key);
  if (v == nullptr || !v->is_string()) throw std::invalid_argument(std::string("payload.") + key + " missing");
  return std::string(v->as_string());
}

std::string UuidArray(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!IsUuid(ids[i])) throw std::invalid_argument("seat id is not a UUID: " + ids[i]);
    out += (i ? "," : "") + ids[i];
  }
  return out + "}";
}

}  // namespace

void CatalogService::OnReservationConfirmed(pqxx::work& tx, const events::Envelope& e) {
  const auto event_id = PayloadString(e, "eventId");
  const auto reservation_id = PayloadString(e, "reservationId");
  const auto seat_ids = SeatIdsOf(e);
  const auto sold = tx.exec_params(
                          "UPDATE catalog.seats SET status = 'SOLD', reservation_id = $3, updated_at = now() "
                          "WHERE event_id = $1 AND id = ANY($2::uuid[]) AND status = 'AVAILABLE'",
                          event_id, UuidArray(seat_ids), reservation_id)
                        .affected_rows();
  const auto conflicting = tx.exec_params1(
                               "SELECT count(*) FROM catalog.seats WHERE event_id = $1 AND id = ANY($2::uuid[]) "
                               "AND status = 'SOLD' AND reservation_id <> $3",
                               event_id, UuidArray(seat_ids), reservation_id)[0]
                               .as<std::int64_t>();
  if (conflicting > 0) {
    // Reservation guarantees one owner per seat; reaching here is a bug elsewhere. Loud, never silent.
    log::Error("catalog: confirmed seats already sold to another reservation",
               {{"event_id", event_id}, {"reservation_id", reservation_id}, {"seats", conflicting}});
  }
  if (sold > 0) {
    tx.exec_params0("UPDATE catalog.events SET sold_total = sold_total + $2 WHERE id = $1", event_id,
                    static_cast<std::int64_t>(sold));
  }
  ApplyToMap(event_id, [&](EventSeatMap& map) { return map.ApplySell(reservation_id, seat_ids); });
}

void CatalogService::OnReservationCancelled(pqxx::work& tx, const events::Envelope& e) {
  const auto event_id = PayloadString(e, "eventId");
  const auto reservation_id = PayloadString(e, "reservationId");
  const auto seat_ids = SeatIdsOf(e);
  tx.exec_params0(
      "UPDATE catalog.seats SET status = 'AVAILABLE', reservation_id = NULL, updated_at = now() "
      "WHERE event_id = $1 AND id = ANY($2::uuid[]) AND status = 'SOLD' AND reservation_id = $3",
      event_id, UuidArray(seat_ids), reservation_id);
  SeatsReleased(event_id, reservation_id, seat_ids);
}

void CatalogService::ApplyReservationEvent(const events::Envelope& e) {
  const auto event_id = PayloadString(e, "eventId");
  const auto reservation_id = PayloadString(e, "reservationId");
  if (e.event_type == "ReservationHeld") {
    std::vector<std::string> released_ids;
    if (const auto* released = e.payload.if_contains("releasedSeatIds"); released != nullptr && released->is_array()) {
      for (const auto& v : released->as_array()) released_ids.emplace_back(v.as_string());
    }
    const auto* fence = e.payload.if_contains("fence");
    const std::int64_t f = fence != nullptr && fence->is_int64() ? fence->as_int64() : 0;
    SeatsHeld(event_id, reservation_id, f, SeatIdsOf(e), released_ids);
  } else if (e.event_type == "ReservationExpired" || e.event_type == "ReservationCancelled") {
    SeatsReleased(event_id, reservation_id, SeatIdsOf(e));
  } else if (e.event_type == "ReservationConfirmed") {
    const auto ids = SeatIdsOf(e);
    ApplyToMap(event_id, [&](EventSeatMap& map) { return map.ApplySell(reservation_id, ids); });
  }
}

void CatalogService::PreloadSync() {
  const auto horizon = static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(options_.preload_horizon).count());
  const auto ids = pool_.TransactSync([&](pqxx::work& tx) {
    std::vector<std::string> out;
    for (const auto& r : tx.exec_params("SELECT id FROM catalog.events WHERE cancelled_at IS NULL AND sale_ends_at > now() "
                                        "AND sale_starts_at < now() + make_interval(secs => $1) ORDER BY sale_starts_at",
                                        horizon)) {
      out.push_back(r[0].as<std::string>());
    }
    return out;
  });
  for (const auto& id : ids) {
    pool_.TransactSync([&](pqxx::work& tx) { LoadSeatMapSync(tx, id); });
  }
  ready_ = true;
  log::Info("catalog: seat maps loaded", {{"events", static_cast<std::int64_t>(ids.size())}});
}

}  // namespace ticketd::catalog
