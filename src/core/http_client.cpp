#include "ticketd/core/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <system_error>

namespace ticketd::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr std::chrono::milliseconds kShutdownCap{250};

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), Lower);
  return out;
}

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool IsRegName(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
  });
}

bool IsToken(std::string_view name) {
  constexpr std::string_view kTokenPunct = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return IsAlnum(c) || kTokenPunct.find(c) != std::string_view::npos;
  });
}

bool IsFieldValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IsIpLiteral(const std::string& host) {
  error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

// Host header: bracketed IPv6 literal, port only when not the scheme default.
std::string HostHeader(const Url& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  const bool default_port = (url.scheme == "http" && url.port == "80") || (url.scheme == "https" && url.port == "443");
  return default_port ? host : host + ":" + url.port;
}

const boost::system::error_category& HttpErrorCategory() {
  return bhttp::make_error_code(bhttp::error::end_of_stream).category();
}

// Failure reporting for one request; every message names host:port and the
// step, never the path or query (they may carry secrets).
class Call {
 public:
  Call(const Url& url, std::chrono::milliseconds timeout)
      : url_(url), timeout_(timeout), deadline_(Clock::now() + timeout) {}

  [[nodiscard]] Clock::time_point deadline() const { return deadline_; }
  [[nodiscard]] bool Expired() const { return Clock::now() >= deadline_; }
  [[nodiscard]] Clock::duration Remaining() const { return std::max(Clock::duration::zero(), deadline_ - Clock::now()); }

  [[noreturn]] void Fail(std::string_view step, std::string_view detail, bool retryable) const {
    throw DependencyUnavailable(url_.host, fmt::format("{}:{}: {}: {}", url_.host, url_.port, step, detail), retryable);
  }

  // An I/O error: a timeout when the budget is spent, else the error itself.
  [[noreturn]] void FailIo(std::string_view step, const error_code& ec) const {
    if (ec == beast::error::timeout || Expired()) {
      Fail(step, fmt::format("timed out after {} ms", timeout_.count()), true);
    }
    Fail(step, ec.message(), true);
  }

 private:
  const Url& url_;
  std::chrono::milliseconds timeout_;
  Clock::time_point deadline_;
};

// Asio cannot cancel a getaddrinfo() already running on its resolver thread,
// so the coroutine waits on a timer that the resolve handler cancels, and
// walks away at the deadline; the shared state keeps the resolver alive until
// its handler runs. Everything here runs on one strand: on a multi-threaded
// executor the handler could otherwise cancel the timer before the wait on it
// began, leaving the caller waiting out its whole budget.
struct ResolveState {
  explicit ResolveState(const asio::any_io_executor& executor) : resolver(executor), timer(executor) {}
  tcp::resolver resolver;
  asio::steady_timer timer;
  bool done = false;
  error_code ec;
  tcp::resolver::results_type results;
};

asio::awaitable<tcp::resolver::results_type> ResolveOnStrand(const Url& url, const Call& call) {
  auto state = std::make_shared<ResolveState>(co_await asio::this_coro::executor);
  state->timer.expires_at(call.deadline());
  state->resolver.async_resolve(url.host, url.port, [state](error_code ec, tcp::resolver::results_type results) {
    state->done = true;
    state->ec = ec;
    state->results = std::move(results);
    state->timer.cancel();
  });
  error_code wait_ec;
  co_await state->timer.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
  if (!state->done) {
    state->resolver.cancel();
    call.FailIo("resolve", call.Expired() ? error_code(beast::error::timeout) : wait_ec);
  }
  if (state->ec) call.Fail("resolve", state->ec.message(), true);
  co_return std::move(state->results);
}

asio::awaitable<tcp::resolver::results_type> Resolve(const Url& url, const Call& call) {
  const asio::any_io_executor strand = asio::make_strand(co_await asio::this_coro::executor);
  auto on_strand = ResolveOnStrand(url, call);
  auto resolved = asio::co_spawn(strand, std::move(on_strand), asio::use_awaitable);
  co_return co_await std::move(resolved);
}

// Certificate problems are reported by the verify result; the host name check
// runs in our callback, so it records its own X509 error for the message.
auto HostNameVerifier(const std::string& host) {
  const int mismatch = IsIpLiteral(host) ? X509_V_ERR_IP_ADDRESS_MISMATCH : X509_V_ERR_HOSTNAME_MISMATCH;
  return [verify = ssl::host_name_verification(host), mismatch](bool preverified, ssl::verify_context& ctx) {
    const bool ok = verify(preverified, ctx);
    if (preverified && !ok) X509_STORE_CTX_set_error(ctx.native_handle(), mismatch);
    return ok;
  };
}

[[noreturn]] void FailHandshake(const Call& call, SSL* ssl, const error_code& ec) {
  const long verify_result = SSL_get_verify_result(ssl);
  if (verify_result != X509_V_OK) {
    call.Fail("TLS certificate verification", X509_verify_cert_error_string(verify_result), false);
  }
  if (ec.category() == asio::error::get_ssl_category() && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                                                              SSL_R_CERTIFICATE_VERIFY_FAILED) {
    call.Fail("TLS certificate verification", ec.message(), false);
  }
  call.FailIo("TLS handshake", ec);
}

template <typename Stream>
asio::awaitable<ClientResponse> Exchange(Stream& stream, const Call& call, bhttp::request<bhttp::string_body>& request,
                                         std::size_t max_body) {
  auto& tcp_layer = beast::get_lowest_layer(stream);
  error_code ec;

  tcp_layer.expires_at(call.deadline());
  co_await bhttp::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) call.FailIo("write request", ec);

  beast::flat_buffer buffer;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  for (;;) {
    parser.emplace();
    parser->body_limit(max_body);
    parser->header_limit(static_cast<std::uint32_t>(kHeaderLimit));
    if (request.method() == bhttp::verb::head) parser->skip(true);
    tcp_layer.expires_at(call.deadline());
    co_await bhttp::async_read(stream, buffer, *parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      call.Fail("read response", fmt::format("response too large ({}; body limit {} bytes)", ec.message(), max_body),
                false);
    }
    if (ec && ec.category() == HttpErrorCategory() && ec != bhttp::error::end_of_stream &&
        ec != bhttp::error::partial_message) {
      call.Fail("read response", "malformed response: " + ec.message(), false);
    }
    if (ec) call.FailIo("read response", ec);
    const int status = parser->get().result_int();
    // Interim responses (100 Continue, 103 Early Hints) precede the real one.
    if (status < 100 || status >= 200 || status == 101) break;
  }

  auto message = parser->release();
  ClientResponse response;
  response.status = message.result_int();
  for (const auto& field : message) {
    auto [it, inserted] = response.headers.try_emplace(Lowered(field.name_string()), field.value());
    if (!inserted) it->second.append(", ").append(field.value());
  }
  response.body = std::move(message.body());
  co_return response;
}

// Takes the connected stream by reference: a by-value parameter whose move may
// throw makes GCC 12 flag the inlined coroutine-frame allocation
// (-Wmismatched-new-delete false positive with BOOST_ASIO_SEPARATE_COMPILATION).
asio::awaitable<ClientResponse> ExchangeTls(beast::tcp_stream& tcp_stream, ssl::context& tls, const Url& url,
                                            const Call& call, bhttp::request<bhttp::string_body>& request,
                                            std::size_t max_body) {
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), tls);
  // SNI carries host names only (RFC 6066); IP literals are verified against
  // the certificate's IP addresses instead.
  if (!IsIpLiteral(url.host) && SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()) != 1) {
    call.Fail("TLS setup", "cannot set SNI", false);
  }
  stream.set_verify_callback(HostNameVerifier(url.host));
  error_code ec;
  beast::get_lowest_layer(stream).expires_at(call.deadline());
  co_await stream.async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) FailHandshake(call, stream.native_handle(), ec);

  auto response = co_await Exchange(stream, call, request, max_body);

  // Best-effort close_notify; the response is complete whatever happens here.
  beast::get_lowest_layer(stream).expires_after(std::min<Clock::duration>(kShutdownCap, call.Remaining()));
  co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  co_return response;
}

// A validated request, ready to send.
struct Prepared {
  Url url;
  bhttp::request<bhttp::string_body> request;
};

Prepared Prepare(bhttp::verb method, std::string_view url,
                 const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
                 const std::string& user_agent) {
  auto parsed = ParseUrl(url);
  if (!parsed) throw std::invalid_argument("http client: unsupported URL");
  bhttp::request<bhttp::string_body> request{method, parsed->target, 11};
  for (const auto& [name, value] : headers) {
    if (!IsToken(name) || !IsFieldValue(value)) throw std::invalid_argument("http client: invalid header " + name);
    request.insert(name, value);
  }
  request.set(bhttp::field::host, HostHeader(*parsed));
  if (request.find(bhttp::field::user_agent) == request.end() && !user_agent.empty()) {
    request.set(bhttp::field::user_agent, user_agent);
  }
  request.body() = std::move(body);
  request.keep_alive(false);
  request.prepare_payload();
  return {std::move(*parsed), std::move(request)};
}

asio::awaitable<ClientResponse> Perform(Prepared prepared, const ClientOptions& options, ssl::context& tls) {
  const Url& url = prepared.url;
  const Call call(url, options.timeout);
  const auto endpoints = co_await Resolve(url, call);

  beast::tcp_stream tcp_stream(co_await asio::this_coro::executor);
  error_code ec;
  tcp_stream.expires_at(call.deadline());
  co_await tcp_stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) call.FailIo("connect", ec);

  if (url.scheme == "http") {
    auto response = co_await Exchange(tcp_stream, call, prepared.request, options.max_response_bytes);
    tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return response;
  }
  co_return co_await ExchangeTls(tcp_stream, tls, url, call, prepared.request, options.max_response_bytes);
}

}  // namespace

std::optional<std::string_view> ClientResponse::Header(std::string_view lower_name) const {
  const auto it = headers.find(std::string(lower_name));
  if (it == headers.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::optional<Url> ParseUrl(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  Url out;
  out.scheme = Lowered(url.substr(0, scheme_end));
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  std::string_view rest = url.substr(scheme_end + 3);

  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;

  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string literal(authority.substr(1, close - 1));
    error_code ec;
    (void)asio::ip::make_address_v6(literal, ec);
    if (ec || literal.find('%') != std::string::npos) return std::nullopt;
    out.host = Lowered(literal);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    out.host = Lowered(authority.substr(0, colon));
    if (!IsRegName(out.host)) return std::nullopt;
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }

  if (port.empty()) {
    out.port = out.scheme == "https" ? "443" : "80";
  } else {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) return std::nullopt;
    out.port = std::to_string(value);
  }

  target = target.substr(0, target.find('#'));
  if (std::any_of(target.begin(), target.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f; })) {
    return std::nullopt;
  }
  out.target = target.starts_with('/') ? std::string(target) : "/" + std::string(target);
  return out;
}

HttpClient::HttpClient(ClientOptions options)
    : options_(std::move(options)), tls_(std::make_unique<ssl::context>(ssl::context::tls_client)) {
  if (options_.timeout <= std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("http client: timeout must be positive");
  }
  SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
  tls_->set_verify_mode(ssl::verify_peer);
  error_code ec;
  tls_->set_default_verify_paths(ec);
  if (ec) throw std::runtime_error("http client: cannot load the system trust store: " + ec.message());
  if (!options_.ca_file.empty()) {
    tls_->load_verify_file(options_.ca_file, ec);
    if (ec) throw std::runtime_error("http client: cannot load CA file " + options_.ca_file + ": " + ec.message());
  }
  WarmTrustStore();
}

// OpenSSL 3.0 fills a certificate's extension cache (key identifiers, purpose
// flags) on first use behind a check of a plain, non-atomic flag. With one
// SSL_CTX shared by handshakes on several threads, two handshakes verifying
// against the same trusted CA race on that first fill (ThreadSanitizer sees
// the one writing the CA's key identifier while the other compares it). Fill
// every trusted certificate's cache here, on the constructing thread, before
// any handshake can run; afterwards handshakes only read it.
void HttpClient::WarmTrustStore() {
  X509_STORE* store = SSL_CTX_get_cert_store(tls_->native_handle());
  if (store == nullptr) return;
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i)); cert != nullptr) {
      X509_check_purpose(cert, -1, 0);
    }
  }
}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

asio::awaitable<ClientResponse> HttpClient::Send(bhttp::verb method, std::string url,
                                                 std::vector<std::pair<std::string, std::string>> headers,
                                                 std::string body) const {
  return Perform(Prepare(method, url, headers, std::move(body), options_.user_agent), options_, *tls_);
}

}  // namespace ticketd::http
