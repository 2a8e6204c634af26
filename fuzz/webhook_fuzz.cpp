// Standard Webhooks signatures (modules/payment/gateway.cpp). Input lines:
// id, timestamp, signature header, then the body. Never crash; accept only
// what SignWebhook produced; Sign → Verify round-trips.
#include "fuzz_util.hpp"
#include "payment/gateway.hpp"
#include "ticketd/core/crypto.hpp"

using namespace ticketd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string kSecret = "whsec_" + crypto::Base64Encode(std::string(32, 's'));
  constexpr std::int64_t kNow = 1700000000;
  std::string_view text = fuzz::AsText(data, size);
  std::string parts[3];
  for (auto& p : parts) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) return 0;
    p = std::string(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  const std::string body(text);
  const auto& [id, timestamp, header] = parts;
  const bool ok = payment::VerifyWebhook(kSecret, id, timestamp, body, header, kNow);
  if (ok && header.find("v1," + payment::SignWebhook(kSecret, id, timestamp, body).substr(3)) == std::string::npos) {
    fuzz::Fail("accepted a signature SignWebhook did not make");
  }
  if (!id.empty()) {
    const auto ts = std::to_string(kNow);
    const auto sig = payment::SignWebhook(kSecret, id, ts, body);
    if (!payment::VerifyWebhook(kSecret, id, ts, body, header + " " + sig, kNow)) fuzz::Fail("round trip");
  }
  (void)crypto::Base64Decode(header);
  return 0;
}
