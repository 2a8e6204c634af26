// Every route's request decoder (modules/*/handlers/decode.cpp), as the
// server runs it: the edge's input check, then the decoder of one route.
// Input layout: byte 0 picks the decoder, byte 1 the headers (X-Queue-Token,
// Idempotency-Key present or not, valid or not), the rest is the body (or,
// for the query decoders, the query string).
// Invariants: only ApiError 4xx escapes; what a decoder accepts keeps the
// route's promises (valid text within its bounds, lower-cased UUIDs, distinct
// seats within the limit, ordered times, prices and queue settings in range).
#include <boost/json.hpp>

#include <set>

#include "auth/handlers/decode.hpp"
#include "catalog/handlers/decode.hpp"
#include "fuzz_util.hpp"
#include "payment/handlers/decode.hpp"
#include "queue/handlers/decode.hpp"
#include "reservation/handlers/decode.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/input.hpp"

using namespace ticketd;

namespace {

constexpr int kMaxSeats = 4;

void Text(const std::string& s, std::size_t max, bool line_breaks = true) {
  if (s.size() > max) fuzz::Fail("accepted text over its bound");
  if (http::TextProblem(s, line_breaks)) fuzz::Fail("accepted invalid text");
}

void Text(const std::optional<std::string>& s, std::size_t max, bool line_breaks = true) {
  if (s) Text(*s, max, line_breaks);
}

void LowerUuid(const std::string& s) {
  if (!IsUuid(s)) fuzz::Fail("accepted a non-UUID id");
  for (const char c : s) {
    if (c >= 'A' && c <= 'Z') fuzz::Fail("accepted id not lower-cased");
  }
}

void Seats(const std::vector<std::string>& seats) {
  if (seats.empty() || seats.size() > kMaxSeats) fuzz::Fail("seat count outside 1..max");
  std::set<std::string> seen;
  for (const auto& s : seats) {
    LowerUuid(s);
    if (!seen.insert(s).second) fuzz::Fail("duplicate seat accepted");
  }
}

void Range(const std::optional<int>& v, int lo, int hi) {
  if (v && (*v < lo || *v > hi)) fuzz::Fail("accepted number out of range");
}

void CheckEvent(const catalog::EventInput& in, bool create) {
  if (create && !(in.venue_id && in.hall_id && in.title && in.artist && in.starts_at && in.ends_at &&
                  in.sale_starts_at && in.sale_ends_at && in.prices)) {
    fuzz::Fail("create accepted without a required field");
  }
  Text(in.title, 200);
  Text(in.artist, 200);
  Text(in.description, 10000);
  Text(in.poster_url, 2000);
  if (in.title && in.title->find_first_not_of(" \t") == std::string::npos) fuzz::Fail("blank title accepted");
  if (in.starts_at && in.ends_at && !(*in.starts_at < *in.ends_at)) fuzz::Fail("show ends before it starts");
  if (in.sale_starts_at && in.sale_ends_at && !(*in.sale_starts_at < *in.sale_ends_at)) fuzz::Fail("sale window inverted");
  if (in.prices) {
    if (in.prices->empty() || in.prices->size() > 50) fuzz::Fail("price list size");
    for (const auto& [grade, price] : *in.prices) {
      if (!catalog::IsValidGradeName(grade)) fuzz::Fail("unknown grade accepted");
      if (price < 0 || price > 100'000'000) fuzz::Fail("price out of range");
    }
  }
  if (in.queue) {
    Range(in.queue->admission_rate_per_second, 1, 100000);
    Range(in.queue->max_active, 1, catalog::kMaxActiveLimit);
    Range(in.queue->capacity, 1, 10000000);
    Range(in.queue->pre_queue_minutes, 0, 1440);
    if (in.queue->method && *in.queue->method != "fifo" && *in.queue->method != "random") fuzz::Fail("queue method");
  }
}

void Decode(int which, const http::Request& r) {
  switch (which) {
    case 0: {
      const auto in = auth::DecodeRegister(r);
      Text(in.email, 320);
      Text(in.name, 200);
      Text(in.phone, 40);
      if (in.terms.size() > 20) fuzz::Fail("too many terms");
      for (const auto& t : in.terms) {
        Text(t.type, 1 << 20);
        Text(t.version, 1 << 20);
      }
      return;
    }
    case 1: {
      const auto p = auth::DecodeIdentityVerification(r);
      Text(p.name, 200);
      for (const char c : p.phone) {
        if (c < '0' || c > '9') fuzz::Fail("phone not normalized to digits");
      }
      if (p.phone.size() < 9 || p.phone.size() > 15) fuzz::Fail("phone length");
      if (p.birth_date.size() != 10) fuzz::Fail("birth date shape");
      return;
    }
    case 2: {
      const auto in = auth::DecodeLogin(r);
      Text(in.email, 320);
      Text(in.captcha_token, 4096);
      return;
    }
    case 3:
      Text(auth::DecodeRefresh(r), 512);
      return;
    case 4:
      Text(auth::DecodeLogout(r).refresh_token, 512);
      return;
    case 5: {
      const auto in = auth::DecodeProfilePatch(r);
      Text(in.name, 200);
      Text(in.phone, 40);
      return;
    }
    case 6:
      (void)auth::DecodePasswordChange(r);
      return;
    case 7:
      CheckEvent(catalog::DecodeEvent(r, true), true);
      return;
    case 8:
      CheckEvent(catalog::DecodeEvent(r, false), false);
      return;
    case 9: {
      const auto in = catalog::DecodeVenue(r);
      Text(in.name, 200);
      Text(in.address, 500);
      return;
    }
    case 10: {
      const auto in = catalog::DecodeHall(r);
      Text(in.name, 200);
      if (catalog::CountSeats(in.seat_template) > catalog::kMaxSeatsPerHall) fuzz::Fail("hall over the seat limit");
      return;
    }
    case 11:
      Text(catalog::DecodeCancelReason(r), catalog::kMaxReason);
      return;
    case 12: {
      const auto in = payment::DecodeStartPayment(r);
      LowerUuid(in.reservation_id);
      LowerUuid(in.payment_key);
      if (in.payment_token.empty()) fuzz::Fail("payment without a token");
      return;
    }
    case 13:
      payment::DecodeNoFields(r);
      if (!r.raw.body().empty()) {
        const auto body = r.JsonBody();
        if (!body.empty()) fuzz::Fail("fields accepted where none are");
      }
      return;
    case 14:
      Text(payment::DecodeRefundReason(r), 500);
      return;
    case 15: {
      const auto p = queue::DecodeSettingsPatch(r);
      Range(p.admission_rate_per_second, 1, 100000);
      Range(p.max_active, 1, catalog::kMaxActiveLimit);
      Range(p.capacity, 1, 10000000);
      Range(p.token_ttl_seconds, 10, 86400);
      Range(p.pre_queue_minutes, 0, 1440);
      if (p.method && *p.method != "fifo" && *p.method != "random") fuzz::Fail("queue method");
      return;
    }
    case 16: {
      const auto in = reservation::DecodeHold(r, kMaxSeats);
      LowerUuid(in.event_id);
      Seats(in.seat_ids);
      if (in.idempotency_key.empty() || in.queue_token.empty()) fuzz::Fail("hold without its headers");
      return;
    }
    case 17:
      Seats(reservation::DecodeSeatChange(r, kMaxSeats));
      return;
    case 18: {
      const auto key = reservation::DecodeCancel(r);
      for (const unsigned char c : key) {
        if (c < 0x21 || c > 0x7e) fuzz::Fail("idempotency key not printable ASCII");
      }
      return;
    }
    default:
      break;
  }
}

constexpr int kBodyDecoders = 19;

// The query decoders: the fuzz input is the query string.
void DecodeQuery(int which, const http::Request& r) {
  if (which == 0) {
    const auto q = catalog::DecodeEventQuery(r);
    if (q.page < 1 || q.size < 1 || q.size > catalog::kMaxPageSize) fuzz::Fail("paging out of range");
    Text(q.artist, 200, false);
    Text(q.q, 200, false);
    if (q.venue_id && !IsUuid(*q.venue_id)) fuzz::Fail("venue filter not a UUID");
    if (q.from && q.to && !(*q.from < *q.to)) fuzz::Fail("time filter inverted");
    if (q.sort == "relevance" && !q.q) fuzz::Fail("relevance without q");
  } else {
    const auto q = reservation::DecodeListQuery(r);
    if (q.page < 1 || q.size < 1 || q.size > 100) fuzz::Fail("paging out of range");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const int pick = data[0] % (kBodyDecoders + 2);
  const std::uint8_t flags = data[1];
  const auto rest = fuzz::AsText(data + 2, size - 2);
  http::Request r;
  const bool query = pick >= kBodyDecoders;
  if (query) {
    r.raw.method(http::Verb::get);
    r.raw.target(std::string(pick == kBodyDecoders ? "/api/v1/events?" : "/api/v1/reservations?") + std::string(rest));
  } else {
    r.raw.method(http::Verb::post);
    r.raw.target("/api/v1/route");
    if ((flags & 3) != 0) {
      r.raw.set(http::beast_http::field::content_type,
                (flags & 3) == 1 ? "application/json" : (flags & 3) == 2 ? "application/json; charset=utf-8" : "text/plain");
    }
    r.raw.body().assign(rest);
  }
  static const char* kTokens[] = {"qr_x", "", "qp_\x01", "qr_\xe9"};
  static const char* kKeys[] = {"8d3f5b8e-1c2a-4f7e-9a6b-2d4c6e8f0a1b", "", "key with space",
                                "0123456789012345678901234567890123456789012345678901234567890123456789"
                                "0123456789012345678901234567890123456789012345678901234567890123456789"
                                "0123456789012345678901234567890123456789012345678901234567890123456789"
                                "0123456789012345678901234567890123456789012345678901234567890123456789"};
  if ((flags & 4) != 0) r.raw.set("X-Queue-Token", kTokens[(flags >> 4) & 3]);
  if ((flags & 8) != 0) r.raw.set("Idempotency-Key", kKeys[(flags >> 6) & 3]);
  try {
    http::CheckInput(r);
  } catch (const ApiError& e) {
    if (e.problem().status < 400 || e.problem().status > 499) fuzz::Fail("edge refusal is not 4xx");
    return 0;
  }
  try {
    if (query) {
      DecodeQuery(pick - kBodyDecoders, r);
    } else {
      Decode(pick, r);
    }
  } catch (const ApiError& e) {
    const int s = e.problem().status;
    if (s != 400 && s != 403 && s != 415 && s != 422) fuzz::Fail("decoder refusal is not 400/403/415/422");
    for (const auto& f : e.problem().errors) {
      if (!http::IsValidUtf8(f.field)) fuzz::Fail("field name echoed is not UTF-8");
    }
  }
  return 0;
}
