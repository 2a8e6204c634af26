#pragma once
// Outbound HTTP/1.1 client for the adapters that call outside services
// (reCAPTCHA siteverify, PortOne). Coroutine API on the caller's executor, one
// connection per request (`Connection: close`), TLS with certificate and host
// name verification always on, one total deadline per request.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ticketd/core/error.hpp"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace ticketd::http {

struct ClientOptions {
  /// Budget for the whole exchange: DNS, connect, TLS handshake, write, read.
  std::chrono::milliseconds timeout{10000};
  /// Extra trusted CA certificates (PEM file), in addition to the system
  /// trust store. Empty: the system trust store only.
  std::string ca_file;
  /// `User-Agent` sent unless the request sets its own.
  std::string user_agent = "ticketd";
  /// Largest accepted response body in bytes (after de-chunking). Response
  /// headers are limited separately to 64 KiB.
  std::size_t max_response_bytes = 1 << 20;
};

struct ClientResponse {
  int status = 0;
  /// Lower-cased header names; repeated headers are joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;

  /// Header value by lower-case name, if present.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view lower_name) const;
};

/// A parsed absolute http(s) URL.
struct Url {
  std::string scheme;  // "http" or "https" (lower-cased)
  std::string host;    // lower-cased; an IPv6 literal without its brackets
  std::string port;    // explicit, or "80"/"443" by scheme
  std::string target;  // path + query ("/" when absent); a fragment is dropped
};

/// Parses `http://host[:port][/path][?query][#fragment]` (also `https`, any
/// case; IPv6 literals as `[::1]`). Nullopt for other schemes, user info,
/// an empty host, a bad port or characters that cannot appear in a URL.
std::optional<Url> ParseUrl(std::string_view url);

/// Sends requests to outside services.
///
/// Contract of Send:
///  - Returns every response that was received completely, whatever its
///    status (non-2xx included): interpreting the status is the caller's job.
///  - Throws DependencyUnavailable(dependency = URL host, reason) when no
///    complete response was obtained:
///      DNS failure, connect failure, I/O error, timeout  → retryable
///      TLS certificate verification failure (unknown issuer, expired, host
///      name mismatch, ...)                               → not retryable
///      other TLS handshake failure                       → retryable
///      response over max_response_bytes / the header limit, or a response
///      that is not valid HTTP/1.1                        → not retryable
///    A response cut short by the peer (EOF mid-message) is an I/O error.
///  - Throws std::invalid_argument for a URL ParseUrl rejects or a header
///    name/value containing CR, LF or NUL (caller bugs, not dependency faults).
///  - Never blocks the calling thread; everything runs on the awaiting
///    coroutine's executor, and the whole exchange, DNS included, ends within
///    `timeout` (plus scheduling delay). A TLS close_notify is attempted
///    after the response, bounded by a short cap and never reported.
///  - Sets Host, User-Agent (unless given), Content-Length and
///    `Connection: close`; `headers` are added in order (repeats allowed).
///
/// Thread-safety: Send may be called concurrently from any number of
/// coroutines and threads; the TLS context is created once in the
/// constructor and only read afterwards. The client must outlive every Send
/// in progress.
class HttpClient {
 public:
  /// Throws std::runtime_error when `options.ca_file` cannot be loaded.
  explicit HttpClient(ClientOptions options);
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Sends one request on a new connection. See the class comment for errors.
  /// `url` is taken by value so the coroutine never refers to a caller's
  /// temporary.
  boost::asio::awaitable<ClientResponse> Send(boost::beast::http::verb method, std::string url,
                                              std::vector<std::pair<std::string, std::string>> headers = {},
                                              std::string body = {}) const;

  [[nodiscard]] const ClientOptions& options() const noexcept { return options_; }

 private:
  void WarmTrustStore();
  ClientOptions options_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace ticketd::http
