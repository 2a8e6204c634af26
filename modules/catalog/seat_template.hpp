#pragma once
// A hall's seat template (API.md "Hall seat template"): sections → rows →
// seats 1..n with a grade per row, optional grade ranges per row and disabled
// seat numbers. Parsed and validated in full (every problem reported with its
// JSON path), then expanded into the seats an event generates.

#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "ticketd/core/error.hpp"

namespace ticketd::catalog {

inline constexpr std::int64_t kMaxSeatsPerHall = 100000;
inline constexpr int kMaxSeatsPerRow = 1000;

struct GradeRange {
  int from = 0;
  int to = 0;
  std::string grade;
};

struct TemplateRow {
  std::string row;
  int seats = 0;
  std::string grade;
  std::vector<GradeRange> grade_ranges;
  std::vector<int> disabled;
};

struct TemplateSection {
  std::string name;
  std::vector<TemplateRow> rows;
};

struct SeatTemplate {
  std::vector<TemplateSection> sections;
};

struct GeneratedSeat {
  std::string section;
  std::string row;
  int number = 0;
  std::string label;  // "{section}-{row}-{number}"
  std::string grade;
};

/// Parses and validates; on failure `errors` holds every problem (field paths
/// relative to `prefix`, e.g. "seatTemplate.sections[0].rows[2].seats").
SeatTemplate ParseSeatTemplate(const boost::json::value& value, const std::string& prefix,
                               std::vector<FieldError>& errors);

/// Every seat in template order (disabled numbers skipped).
std::vector<GeneratedSeat> ExpandSeats(const SeatTemplate& t);
/// Seat count without expanding.
std::int64_t CountSeats(const SeatTemplate& t);
/// The distinct grades in first-use order.
std::vector<std::string> GradesOf(const SeatTemplate& t);

boost::json::value ToJson(const SeatTemplate& t);

/// Grade names: 1..20 characters of letters, digits, '_' or '+'.
bool IsValidGradeName(const std::string& grade);

}  // namespace ticketd::catalog
