// The hall seat template (modules/catalog/seat_template.cpp): parse and
// validate any JSON; an accepted template expands to exactly CountSeats seats
// within the hall limit, each with a label of valid text.
#include <boost/json.hpp>

#include "catalog/seat_template.hpp"
#include "fuzz_util.hpp"
#include "ticketd/core/input.hpp"

using namespace ticketd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::system::error_code ec;
  const auto v = boost::json::parse(fuzz::AsText(data, size), ec);
  if (ec) return 0;
  std::vector<FieldError> errors;
  const auto t = catalog::ParseSeatTemplate(v, "seatTemplate", errors);
  if (!errors.empty()) return 0;
  const auto count = catalog::CountSeats(t);
  if (count < 0 || count > catalog::kMaxSeatsPerHall) fuzz::Fail("seat count out of range");
  const auto seats = catalog::ExpandSeats(t);
  if (static_cast<std::int64_t>(seats.size()) != count) fuzz::Fail("ExpandSeats != CountSeats");
  for (const auto& s : seats) {
    if (s.number < 1 || s.number > catalog::kMaxSeatsPerRow) fuzz::Fail("seat number out of range");
    if (!http::IsValidUtf8(s.label)) fuzz::Fail("seat label not UTF-8");
  }
  return 0;
}
