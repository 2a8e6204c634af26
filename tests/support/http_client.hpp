#pragma once
// Loopback HTTP for tests: a blocking Beast client and a raw socket for
// malformed requests.

#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace ticketd::test {

using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

/// One request on a new connection. Throws on connection failure.
HttpResponse Request(std::uint16_t port, boost::beast::http::verb method, const std::string& target,
                     const std::string& body = {}, const std::map<std::string, std::string>& headers = {});

/// Sends `raw` bytes and returns everything the server sends until it closes
/// the connection or `timeout` passes.
std::string RawExchange(std::uint16_t port, const std::string& raw,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

/// True when the server closes an idle connection that has sent `raw`
/// within `within`.
bool ClosedWithin(std::uint16_t port, const std::string& raw, std::chrono::milliseconds within);

/// Polls /readyz until it answers 200 (readiness legitimately lags the
/// "listening" line: migrations, Kafka, denylist). True when it did in time.
bool WaitReady(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace ticketd::test
