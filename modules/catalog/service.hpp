#pragma once
// The catalog service: venues, halls, events and seats in schema `catalog`,
// the cached public reads and the live seat maps. Handlers parse requests
// into the inputs below; the service validates the domain rules, touches
// Postgres through the module's own pool, and returns API JSON.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "catalog/cache.hpp"
#include "catalog/inputs.hpp"
#include "catalog/seat_map.hpp"
#include "catalog/seat_template.hpp"
#include "ticketd/catalog/catalog.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/metrics.hpp"

namespace ticketd::catalog {

struct CatalogOptions {
  std::chrono::milliseconds cache_ttl{2000};
  std::size_t cache_max_entries = 10000;
  /// Seat maps loaded at start: events whose sale is open or opens within this.
  std::chrono::hours preload_horizon{48};
  std::string instance_tag;  // random per process when empty
};

class CatalogService final : public CatalogReader, public SeatMapFeed {
 public:
  CatalogService(CatalogOptions options, db::Pool& pool, metrics::Registry* registry);

  // Venues and halls (admin writes, public reads).
  boost::asio::awaitable<boost::json::object> CreateVenue(VenueInput in);
  boost::asio::awaitable<boost::json::object> UpdateVenue(std::string venue_id, VenueInput in);
  boost::asio::awaitable<void> DeleteVenue(std::string venue_id);
  boost::asio::awaitable<boost::json::object> ListVenues(int page, int size);
  boost::asio::awaitable<boost::json::object> GetVenue(std::string venue_id);
  boost::asio::awaitable<boost::json::object> CreateHall(std::string venue_id, HallInput in);
  boost::asio::awaitable<boost::json::object> UpdateHall(std::string venue_id, std::string hall_id, HallInput in);
  boost::asio::awaitable<void> DeleteHall(std::string venue_id, std::string hall_id);
  boost::asio::awaitable<boost::json::object> GetHall(std::string venue_id, std::string hall_id);

  // Events.
  boost::asio::awaitable<boost::json::object> CreateEvent(EventInput in, events::Metadata meta);
  boost::asio::awaitable<boost::json::object> UpdateEvent(std::string event_id, EventInput in);
  boost::asio::awaitable<boost::json::object> CancelEvent(std::string event_id, std::string reason,
                                                          events::Metadata meta);
  boost::asio::awaitable<void> DeleteEvent(std::string event_id);
  boost::asio::awaitable<boost::json::object> GetEvent(std::string event_id);
  boost::asio::awaitable<boost::json::object> ListEvents(EventQuery query);

  /// The live seat map of an event (loaded on first use); null when the event does not exist.
  boost::asio::awaitable<std::shared_ptr<const RenderedMap>> SeatMap(std::string event_id);

  // CatalogReader
  boost::asio::awaitable<std::optional<EventInfo>> FindEvent(std::string event_id) override;
  SeatResolution ResolveSeats(const std::string& event_id, const std::vector<std::string>& seat_ids) override;
  // SeatMapFeed
  void SeatsHeld(const std::string& event_id, const std::string& reservation_id, std::int64_t fence,
                 const std::vector<std::string>& seat_ids, const std::vector<std::string>& released_seat_ids) override;
  void SeatsReleased(const std::string& event_id, const std::string& reservation_id,
                     const std::vector<std::string>& seat_ids) override;

  /// Consumer effects for reservation.events (run in the consumer's transaction):
  /// a confirmed reservation's seats become SOLD; a cancelled confirmed one's AVAILABLE.
  void OnReservationConfirmed(pqxx::work& tx, const events::Envelope& e);
  void OnReservationCancelled(pqxx::work& tx, const events::Envelope& e);
  /// Every instance's memory-only reading of reservation.events (a
  /// BroadcastConsumer): holds, seat changes, expiries, cancellations and
  /// confirmations made on any instance reach this instance's live map.
  /// Idempotent under the owner rules; other event types are ignored.
  void ApplyReservationEvent(const events::Envelope& e);

  /// Loads the seat maps of events on sale or opening soon (blocking; start-up thread).
  void PreloadSync();
  /// Set before Start: seat maps then show held seats as HELD when they load.
  void SetHeldSeatsSource(HeldSeatsSource* source) noexcept { held_source_ = source; }
  [[nodiscard]] bool ready() const noexcept { return ready_.load(); }
  [[nodiscard]] SeatMapIndex& seat_maps() noexcept { return maps_; }

 private:
  struct CachedEvent {
    EventInfo info;
    boost::json::object body;  // without "status"
  };
  struct CachedList {
    std::vector<EventInfo> infos;
    boost::json::array items;  // without "status"
    std::int64_t total = 0;
    int page = 1;
    int size = 20;
  };

  boost::asio::awaitable<std::shared_ptr<const CachedEvent>> LoadEvent(const std::string& event_id);
  std::shared_ptr<EventSeatMap> LoadSeatMapSync(pqxx::work& tx, const std::string& event_id);
  void InvalidateEvent(const std::string& event_id);
  void DropSeatMap(const std::string& event_id);
  void ApplyToMap(const std::string& event_id, const std::function<int(EventSeatMap&)>& change);

  CatalogOptions options_;
  db::Pool& pool_;
  SeatMapIndex maps_;
  SingleFlightCache<CachedEvent> event_cache_;
  SingleFlightCache<CachedList> list_cache_;
  SingleFlightCache<int> seat_map_loads_;  // coalesces loads; the map lives in maps_
  std::atomic<bool> ready_{false};
  HeldSeatsSource* held_source_ = nullptr;
  metrics::Counter* seat_changes_ = nullptr;
};

/// The SQL expression computing the status of catalog.events row alias `e` at now().
const char* StatusSql();

}  // namespace ticketd::catalog

namespace ticketd::catalog {

/// Development seed: a demo venue with a ~3,000-seat hall and three events
/// (one ON_SALE now, two UPCOMING, one with a Korean title). Idempotent: does
/// nothing when the demo venue exists. Returns a human summary.
boost::asio::awaitable<std::string> SeedDemo(CatalogService& service, db::Pool& pool);

}  // namespace ticketd::catalog
