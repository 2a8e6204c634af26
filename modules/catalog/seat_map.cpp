#include "catalog/seat_map.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include "ticketd/core/gzip.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "ticketd/core/time.hpp"

namespace ticketd::catalog {

namespace {

std::string Quoted(const std::string& s) { return boost::json::serialize(boost::json::string(s)); }

}  // namespace

const char* ToString(SeatStatus status) {
  switch (status) {
    case SeatStatus::kAvailable:
      return "AVAILABLE";
    case SeatStatus::kHeld:
      return "HELD";
    case SeatStatus::kSold:
      return "SOLD";
  }
  return "AVAILABLE";
}

const std::string& RenderedMap::Gzipped() const {
  std::call_once(gz_once_, [this] { gz_ = Gzip(body); });
  return gz_;
}

EventSeatMap::EventSeatMap(std::string event_id, std::vector<SeatRecord> seats, std::int64_t version_base,
                           std::string instance_tag)
    : event_id_(std::move(event_id)),
      instance_tag_(std::move(instance_tag)),
      seats_(std::move(seats)),
      version_(version_base) {
  fragments_.reserve(seats_.size());
  grade_of_.reserve(seats_.size());
  status_.reserve(seats_.size());
  claimants_.resize(seats_.size());
  by_id_.reserve(seats_.size());
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    auto& s = seats_[i];
    std::string f;
    f.reserve(160);
    f += R"({"seatId":)";
    f += Quoted(s.seat_id);
    f += R"(,"label":)";
    f += Quoted(s.label);
    f += R"(,"section":)";
    f += Quoted(s.section);
    f += R"(,"row":)";
    f += Quoted(s.row);
    f += R"(,"number":)";
    f += std::to_string(s.number);
    f += R"(,"grade":)";
    f += Quoted(s.grade);
    f += R"(,"price":)";
    f += std::to_string(s.price);
    f += R"(,"status":")";
    fragments_.push_back(std::move(f));
    std::uint16_t g = 0;
    while (g < grades_.size() && grades_[g].grade != s.grade) ++g;
    if (g == grades_.size()) grades_.push_back({s.grade, s.price, 0, 0});
    grades_[g].total += 1;
    grade_of_.push_back(g);
    status_.push_back(s.status);
    if (s.status == SeatStatus::kSold) {
      // Sold as persisted: a sold claim of its reservation (a later refund ends it).
      auto& mark = marks_[s.reservation_id];
      mark.sold = true;
      mark.seats.push_back(i);
      claimants_[i].push_back(s.reservation_id);
    }
    if (s.status == SeatStatus::kAvailable) grades_[g].available += 1;
    by_id_.emplace(s.seat_id, i);
  }
}

int EventSeatMap::ApplyHold(const std::string& reservation_id, std::int64_t fence, const std::vector<std::string>& held,
                            const std::vector<std::string>& /*released*/) {
  std::lock_guard lock(mu_);
  auto& mark = marks_[reservation_id];
  // Stale: a newer state of this reservation is shown (a later seat change, its sale or its end).
  if (mark.ended || mark.sold || fence < mark.fence) return 0;
  mark.fence = fence;
  return ClaimLocked(reservation_id, mark, IndexesLocked(held));
}

int EventSeatMap::ApplySell(const std::string& reservation_id, const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  auto& mark = marks_[reservation_id];
  if (mark.ended) return 0;
  mark.sold = true;
  return ClaimLocked(reservation_id, mark, IndexesLocked(ids));
}

int EventSeatMap::ApplyEnd(const std::string& reservation_id, const std::vector<std::string>& /*ids*/) {
  std::lock_guard lock(mu_);
  auto& mark = marks_[reservation_id];
  mark.ended = true;
  mark.sold = false;
  return ClaimLocked(reservation_id, mark, {});
}

std::vector<std::uint32_t> EventSeatMap::IndexesLocked(const std::vector<std::string>& ids) const {
  std::vector<std::uint32_t> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    const auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;  // not a seat of this event: ignored
    if (std::find(out.begin(), out.end(), it->second) == out.end()) out.push_back(it->second);
  }
  return out;
}

SeatStatus EventSeatMap::StatusFromClaimsLocked(std::uint32_t seat) const {
  SeatStatus status = SeatStatus::kAvailable;
  for (const auto& r : claimants_[seat]) {
    const auto it = marks_.find(r);
    if (it != marks_.end() && it->second.sold) return SeatStatus::kSold;
    status = SeatStatus::kHeld;
  }
  return status;
}

int EventSeatMap::ClaimLocked(const std::string& reservation_id, Mark& mark, std::vector<std::uint32_t> seats) {
  std::vector<std::uint32_t> touched = mark.seats;
  for (const auto i : mark.seats) std::erase(claimants_[i], reservation_id);
  for (const auto i : seats) {
    claimants_[i].push_back(reservation_id);
    touched.push_back(i);
  }
  mark.seats = std::move(seats);
  int changed = 0;
  for (const auto i : touched) {
    const SeatStatus before = status_[i];
    const SeatStatus after = StatusFromClaimsLocked(i);
    if (after == before) continue;
    status_[i] = after;
    auto& g = grades_[grade_of_[i]];
    if (before == SeatStatus::kAvailable) g.available -= 1;
    if (after == SeatStatus::kAvailable) g.available += 1;
    ++changed;
  }
  if (changed > 0) ++version_;
  return changed;
}

std::shared_ptr<const RenderedMap> EventSeatMap::Render() {
  std::lock_guard lock(mu_);
  if (rendered_ && rendered_->version == version_) return rendered_;
  auto r = std::make_shared<RenderedMap>();
  r->version = version_;
  r->etag = "W/\"" + instance_tag_ + "." + std::to_string(version_) + "\"";
  std::size_t size = 256 + grades_.size() * 96;
  for (const auto& f : fragments_) size += f.size() + 12;
  r->body.reserve(size);
  r->body += R"({"eventId":)";
  r->body += Quoted(event_id_);
  r->body += R"(,"version":)";
  r->body += std::to_string(version_);
  r->body += R"(,"grades":[)";
  for (std::size_t g = 0; g < grades_.size(); ++g) {
    if (g > 0) r->body += ',';
    r->body += R"({"grade":)";
    r->body += Quoted(grades_[g].grade);
    r->body += R"(,"price":)";
    r->body += std::to_string(grades_[g].price);
    r->body += R"(,"total":)";
    r->body += std::to_string(grades_[g].total);
    r->body += R"(,"available":)";
    r->body += std::to_string(grades_[g].available);
    r->body += '}';
  }
  r->body += R"(],"seats":[)";
  for (std::size_t i = 0; i < fragments_.size(); ++i) {
    if (i > 0) r->body += ',';
    r->body += fragments_[i];
    r->body += ToString(status_[i]);
    r->body += "\"}";
  }
  r->body += "]}";
  rendered_ = std::move(r);
  return rendered_;
}

SeatResolution EventSeatMap::Resolve(const std::vector<std::string>& ids) const {
  SeatResolution out;
  out.event_found = true;
  std::lock_guard lock(mu_);
  for (const auto& id : ids) {
    const auto it = by_id_.find(id);
    if (it == by_id_.end()) {
      out.unknown_seat_ids.push_back(id);
      continue;
    }
    const auto& s = seats_[it->second];
    out.seats.push_back({s.seat_id, s.label, s.grade, s.price, status_[it->second]});
  }
  return out;
}

std::vector<GradeCount> EventSeatMap::Grades() const {
  std::lock_guard lock(mu_);
  return grades_;
}

std::int64_t EventSeatMap::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

SeatStatus EventSeatMap::StatusOf(const std::string& seat_id) const {
  std::lock_guard lock(mu_);
  const auto it = by_id_.find(seat_id);
  return it == by_id_.end() ? SeatStatus::kAvailable : status_[it->second];
}

std::shared_ptr<EventSeatMap> SeatMapIndex::Find(const std::string& event_id) const {
  std::shared_lock lock(mu_);
  const auto it = maps_.find(event_id);
  return it == maps_.end() ? nullptr : it->second;
}

std::shared_ptr<EventSeatMap> SeatMapIndex::Install(const std::string& event_id, std::vector<SeatRecord> seats) {
  const auto base = ToMicros(std::chrono::system_clock::now());
  auto map = std::make_shared<EventSeatMap>(event_id, std::move(seats), base, instance_tag_);
  std::unique_lock lock(mu_);
  return maps_.emplace(event_id, map).first->second;
}

void SeatMapIndex::Erase(const std::string& event_id) {
  std::unique_lock lock(mu_);
  maps_.erase(event_id);
}

std::size_t SeatMapIndex::size() const {
  std::shared_lock lock(mu_);
  return maps_.size();
}

}  // namespace ticketd::catalog
