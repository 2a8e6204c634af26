#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ticketd/core/http_client.hpp"

using namespace ticketd;
using namespace ticketd::http;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;
using Headers = std::vector<std::pair<std::string, std::string>>;

// ---- test servers -----------------------------------------------------------

// Accepts on 127.0.0.1:<ephemeral> and runs `session` per connection on its
// own io_context thread.
class TestServer {
 public:
  using Session = std::function<asio::awaitable<void>(tcp::socket)>;

  explicit TestServer(Session session) : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, AcceptLoop(acceptor_, std::move(session)), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestServer() {
    io_.stop();
    thread_.join();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string Url(std::string_view scheme, std::string_view host, std::string_view target) const {
    return std::string(scheme) + "://" + std::string(host) + ":" + std::to_string(port_) + std::string(target);
  }

 private:
  static asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor, Session session) {
    for (;;) {
      error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(acceptor.get_executor(), session(std::move(socket)), asio::detached);
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// Answers one request: echoes method, target, Host, User-Agent, Connection and
// X-Test in headers and the body as body. `/status/<n>` answers with status n,
// `/big/<n>` and `/chunked/<n>` with n bytes (Content-Length or chunked).
template <typename Stream>
asio::awaitable<void> Respond(Stream& stream) {
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> req;
  error_code ec;
  co_await bhttp::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  const std::string target(req.target());
  bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
  if (target.starts_with("/status/")) {
    res.result(static_cast<unsigned>(std::stoi(target.substr(8))));
  }
  if (target.starts_with("/big/") || target.starts_with("/chunked/")) {
    res.body().assign(std::stoul(target.substr(target.find('/', 1) + 1)), 'x');
  } else {
    res.body() = req.body();
  }
  res.set("X-Echo-Method", req.method_string());
  res.set("X-Echo-Target", target);
  res.set("X-Echo-Host", req[bhttp::field::host]);
  res.set("X-Echo-User-Agent", req[bhttp::field::user_agent]);
  res.set("X-Echo-Connection", req[bhttp::field::connection]);
  res.set("X-Echo-Test", req["X-Test"]);
  res.insert("Set-Cookie", "a=1");
  res.insert("Set-Cookie", "b=2");
  res.keep_alive(false);
  res.prepare_payload();
  if (target.starts_with("/chunked/")) res.chunked(true);
  co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> EchoSession(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(10));
  co_await Respond(stream);
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> TlsSession(tcp::socket socket, std::shared_ptr<ssl::context> tls) {
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  error_code ec;
  co_await stream.async_handshake(ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  co_await Respond(stream);
  co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
}

// Accepts and never answers.
asio::awaitable<void> SilentSession(tcp::socket socket) {
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(std::chrono::seconds(30));
  error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Reads the request head, writes `raw` and closes.
asio::awaitable<void> RawSession(tcp::socket socket, std::string raw) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(10));
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> req;
  error_code ec;
  co_await bhttp::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
  co_await asio::async_write(stream, asio::buffer(raw), asio::redirect_error(asio::use_awaitable, ec));
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// ---- test PKI (OpenSSL 3) ---------------------------------------------------

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(ext != nullptr);
  REQUIRE(X509_add_ext(cert, ext, -1) == 1);
  X509_EXTENSION_free(ext);
}

// A CA certificate when `issuer` is null (self-signed), else a server
// certificate for `san` signed by issuer/issuer_key.
Cert MakeCert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key, const char* san) {
  static long serial = 1;
  Cert cert(X509_new());
  REQUIRE(cert != nullptr);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  REQUIRE(X509_set_pubkey(cert.get(), key) == 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("ticketd tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  REQUIRE(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1);
  AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer == nullptr) {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    AddExtension(cert.get(), signer, NID_subject_alt_name, san);
  }
  REQUIRE(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0);
  return cert;
}

void WritePem(const std::filesystem::path& path, X509* cert, EVP_PKEY* key) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  REQUIRE(file != nullptr);
  const bool ok = cert != nullptr ? PEM_write_X509(file, cert) == 1
                                  : PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(file);
  REQUIRE(ok);
}

// Files in a temp dir: ca.pem, and for the server certificates
// {localhost,other}.pem + their shared key server-key.pem.
struct Pki {
  std::filesystem::path dir;

  Pki() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ticketd-http-client-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    Key ca_key(EVP_EC_gen("P-256"));
    Key server_key(EVP_EC_gen("P-256"));
    REQUIRE(ca_key != nullptr);
    REQUIRE(server_key != nullptr);
    Cert ca = MakeCert(ca_key.get(), "ticketd test CA", nullptr, ca_key.get(), nullptr);
    Cert localhost = MakeCert(server_key.get(), "localhost", ca.get(), ca_key.get(), "DNS:localhost,IP:127.0.0.1");
    Cert other = MakeCert(server_key.get(), "other.example", ca.get(), ca_key.get(), "DNS:other.example");
    WritePem(dir / "ca.pem", ca.get(), nullptr);
    WritePem(dir / "localhost.pem", localhost.get(), nullptr);
    WritePem(dir / "other.pem", other.get(), nullptr);
    WritePem(dir / "server-key.pem", nullptr, server_key.get());
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  Pki(const Pki&) = delete;
  Pki& operator=(const Pki&) = delete;

  [[nodiscard]] std::string CaFile() const { return (dir / "ca.pem").string(); }
};

const Pki& TestPki() {
  static const Pki pki;
  return pki;
}

TestServer::Session TlsServerSession(const std::string& cert_name) {
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  tls->use_certificate_chain_file((TestPki().dir / (cert_name + ".pem")).string());
  tls->use_private_key_file((TestPki().dir / "server-key.pem").string(), ssl::context::pem);
  return [tls](tcp::socket socket) { return TlsSession(std::move(socket), tls); };
}

// ---- client helpers ---------------------------------------------------------

ClientResponse Fetch(const HttpClient& client, bhttp::verb method, std::string url, Headers headers = {},
                     std::string body = {}) {
  asio::io_context io;
  auto result = asio::co_spawn(io, client.Send(method, std::move(url), std::move(headers), std::move(body)),
                               asio::use_future);
  io.run();
  return result.get();
}

ClientResponse Get(const HttpClient& client, std::string url) { return Fetch(client, bhttp::verb::get, std::move(url)); }

// The DependencyUnavailable a GET throws (fails the test when none).
DependencyUnavailable GetFailure(const HttpClient& client, std::string url) {
  try {
    const auto response = Get(client, std::move(url));
    FAIL("expected DependencyUnavailable, got status " << response.status);
  } catch (const DependencyUnavailable& e) {
    return e;
  }
  return DependencyUnavailable("", "");
}

ClientOptions Options(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000), std::string ca_file = {}) {
  ClientOptions options;
  options.timeout = timeout;
  options.ca_file = std::move(ca_file);
  return options;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

TEST_CASE("http client: ParseUrl") {
  auto url = ParseUrl("https://www.google.com/recaptcha/api/siteverify");
  REQUIRE(url);
  CHECK(url->scheme == "https");
  CHECK(url->host == "www.google.com");
  CHECK(url->port == "443");
  CHECK(url->target == "/recaptcha/api/siteverify");

  url = ParseUrl("HTTP://Sandbox.Local:8080");
  REQUIRE(url);
  CHECK(url->scheme == "http");
  CHECK(url->host == "sandbox.local");
  CHECK(url->port == "8080");
  CHECK(url->target == "/");

  url = ParseUrl("https://api.portone.io/payments/p-1?storeId=s%201&x=2#frag");
  REQUIRE(url);
  CHECK(url->port == "443");
  CHECK(url->target == "/payments/p-1?storeId=s%201&x=2");

  url = ParseUrl("http://example.com?q=1");
  REQUIRE(url);
  CHECK(url->target == "/?q=1");

  url = ParseUrl("http://[::1]:9000/v1");
  REQUIRE(url);
  CHECK(url->host == "::1");
  CHECK(url->port == "9000");
  CHECK(url->target == "/v1");
  url = ParseUrl("https://[2001:DB8::1]");
  REQUIRE(url);
  CHECK(url->host == "2001:db8::1");
  CHECK(url->port == "443");

  CHECK_FALSE(ParseUrl("ftp://example.com/file"));
  CHECK_FALSE(ParseUrl("garbage"));
  CHECK_FALSE(ParseUrl(""));
  CHECK_FALSE(ParseUrl("https://"));
  CHECK_FALSE(ParseUrl("https:///path"));
  CHECK_FALSE(ParseUrl("http://user:pw@example.com/"));
  CHECK_FALSE(ParseUrl("http://example.com:0/"));
  CHECK_FALSE(ParseUrl("http://example.com:65536/"));
  CHECK_FALSE(ParseUrl("http://example.com:8o/"));
  CHECK_FALSE(ParseUrl("http://[::1/"));
  CHECK_FALSE(ParseUrl("http://[not-an-ip]/"));
  CHECK_FALSE(ParseUrl("http://exa mple.com/"));
  CHECK_FALSE(ParseUrl("http://example.com/a b"));
  CHECK_FALSE(ParseUrl("http://example.com/\r\nX-Injected: 1"));
}

TEST_CASE("http client: plain HTTP exchange with lower-cased headers, non-2xx returned") {
  TestServer server(EchoSession);
  const HttpClient client(Options());

  const auto response = Fetch(client, bhttp::verb::post, server.Url("http", "127.0.0.1", "/v1/echo?x=1"),
                              {{"X-Test", "hello"}, {"Content-Type", "application/json"}}, R"({"a":1})");
  CHECK(response.status == 200);
  CHECK(response.body == R"({"a":1})");
  CHECK(response.headers.at("x-echo-method") == "POST");
  CHECK(response.headers.at("x-echo-target") == "/v1/echo?x=1");
  CHECK(response.headers.at("x-echo-host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(response.headers.at("x-echo-user-agent") == "ticketd");
  CHECK(response.headers.at("x-echo-connection") == "close");
  CHECK(response.headers.at("x-echo-test") == "hello");
  CHECK(response.headers.at("set-cookie") == "a=1, b=2");
  CHECK(response.Header("content-length").value() == "7");
  CHECK_FALSE(response.Header("X-Echo-Method").has_value());

  const auto not_found = Get(client, server.Url("http", "127.0.0.1", "/status/404"));
  CHECK(not_found.status == 404);
  const auto unavailable = Fetch(client, bhttp::verb::get, server.Url("http", "localhost", "/status/503"),
                                 {{"User-Agent", "custom/1.0"}});
  CHECK(unavailable.status == 503);
  CHECK(unavailable.headers.at("x-echo-user-agent") == "custom/1.0");
  CHECK(unavailable.headers.at("x-echo-method") == "GET");
}

TEST_CASE("http client: caller bugs are invalid_argument") {
  const HttpClient client(Options());
  CHECK_THROWS_AS(Get(client, "ftp://example.com/"), std::invalid_argument);
  CHECK_THROWS_AS(Fetch(client, bhttp::verb::get, "http://127.0.0.1:1/", {{"X-Bad", "a\r\nX-Injected: 1"}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(Fetch(client, bhttp::verb::get, "http://127.0.0.1:1/", {{"Bad Name", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(HttpClient(Options(std::chrono::milliseconds(0))), std::invalid_argument);
  CHECK_THROWS_AS(HttpClient(Options(std::chrono::milliseconds(1000), "/nonexistent/ca.pem")), std::runtime_error);
}

TEST_CASE("http client: a silent server times out within the budget, retryable") {
  TestServer server(SilentSession);
  const HttpClient client(Options(std::chrono::milliseconds(300)));
  for (const std::string scheme : {"http", "https"}) {
    CAPTURE(scheme);
    const auto started = std::chrono::steady_clock::now();
    const auto failure = GetFailure(client, server.Url(scheme, "127.0.0.1", "/"));
    const auto elapsed = std::chrono::steady_clock::now() - started;
    CHECK(elapsed >= std::chrono::milliseconds(250));
    CHECK(elapsed < std::chrono::milliseconds(5000));  // the budget, not the server's 30 s
    CHECK(failure.IsRetryable());
    CHECK(failure.dependency() == "127.0.0.1");
    CHECK(Contains(failure.reason(), "timed out after 300 ms"));
  }
}

TEST_CASE("http client: connection refused and DNS failure are DependencyUnavailable") {
  std::uint16_t closed_port = 0;
  {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = acceptor.local_endpoint().port();
  }
  const HttpClient client(Options(std::chrono::milliseconds(3000)));
  const auto refused = GetFailure(client, "http://127.0.0.1:" + std::to_string(closed_port) + "/");
  CHECK(refused.IsRetryable());
  CHECK(Contains(refused.reason(), "connect"));

  const auto unknown = GetFailure(client, "https://does-not-exist.invalid/");
  CHECK(unknown.dependency() == "does-not-exist.invalid");
  CHECK(Contains(unknown.reason(), "resolve"));
}

TEST_CASE("http client: HTTPS verifies the chain and the host name") {
  SUBCASE("trusted CA and matching name") {
    TestServer server(TlsServerSession("localhost"));
    const HttpClient client(Options(std::chrono::milliseconds(5000), TestPki().CaFile()));
    const auto response = Fetch(client, bhttp::verb::put, server.Url("https", "localhost", "/secure"), {}, "tls body");
    CHECK(response.status == 200);
    CHECK(response.body == "tls body");
    CHECK(response.headers.at("x-echo-host") == "localhost:" + std::to_string(server.port()));
    // An IP literal is checked against the certificate's IP SAN (no SNI).
    CHECK(Get(client, server.Url("https", "127.0.0.1", "/ip")).status == 200);
  }
  SUBCASE("unknown issuer without ca_file is not retryable") {
    TestServer server(TlsServerSession("localhost"));
    const HttpClient client(Options());
    const auto failure = GetFailure(client, server.Url("https", "localhost", "/"));
    CHECK_FALSE(failure.IsRetryable());
    CHECK(Contains(failure.reason(), "certificate"));
    CHECK(Contains(failure.reason(), "issuer"));
  }
  SUBCASE("certificate for another host name is rejected") {
    TestServer server(TlsServerSession("other"));
    const HttpClient client(Options(std::chrono::milliseconds(5000), TestPki().CaFile()));
    const auto failure = GetFailure(client, server.Url("https", "localhost", "/"));
    CHECK_FALSE(failure.IsRetryable());
    CHECK(Contains(failure.reason(), "mismatch"));
    const auto by_ip = GetFailure(client, server.Url("https", "127.0.0.1", "/"));
    CHECK_FALSE(by_ip.IsRetryable());
    CHECK(Contains(by_ip.reason(), "mismatch"));
  }
  SUBCASE("plain HTTP server behind an https URL fails the handshake") {
    TestServer server(EchoSession);
    const HttpClient client(Options(std::chrono::milliseconds(2000), TestPki().CaFile()));
    const auto failure = GetFailure(client, server.Url("https", "localhost", "/"));
    CHECK(Contains(failure.reason(), "TLS"));
  }
}

TEST_CASE("http client: concurrent HTTPS requests share one client") {
  TestServer server(TlsServerSession("localhost"));
  const HttpClient client(Options(std::chrono::milliseconds(10000), TestPki().CaFile()));
  asio::io_context io;
  std::vector<std::future<ClientResponse>> results;
  for (int i = 0; i < 16; ++i) {
    results.push_back(asio::co_spawn(io,
                                     client.Send(bhttp::verb::post, server.Url("https", "localhost", "/n"), {},
                                                 "request " + std::to_string(i)),
                                     asio::use_future));
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&io] { io.run(); });
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < 16; ++i) {
    const auto response = results[static_cast<std::size_t>(i)].get();
    CHECK(response.status == 200);
    CHECK(response.body == "request " + std::to_string(i));
  }
}

// The resolve step waits on a timer that the resolver's handler cancels; on a
// multi-threaded executor that handler once ran before the wait began, and the
// request then sat out its whole budget and failed as a connect timeout. Many
// concurrent requests by host name make that interleaving likely; none may
// fail.
TEST_CASE("http client: concurrent requests by host name on many threads never wait out the budget") {
  TestServer server(EchoSession);
  const HttpClient client(Options(std::chrono::milliseconds(20000)));
  constexpr int kRequests = 400;
  asio::io_context io;
  std::vector<std::future<ClientResponse>> results;
  results.reserve(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    results.push_back(asio::co_spawn(
        io, client.Send(bhttp::verb::post, server.Url("http", "localhost", "/n"), {}, "r" + std::to_string(i)),
        asio::use_future));
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&io] { io.run(); });
  for (auto& thread : threads) thread.join();
  int failures = 0;
  for (int i = 0; i < kRequests; ++i) {
    try {
      const auto response = results[static_cast<std::size_t>(i)].get();
      CHECK(response.body == "r" + std::to_string(i));
    } catch (const DependencyUnavailable& e) {
      ++failures;
      MESSAGE(e.what());
    }
  }
  CHECK(failures == 0);
}

TEST_CASE("http client: oversized and malformed responses") {
  TestServer server(EchoSession);
  ClientOptions options = Options();
  options.max_response_bytes = 1024;
  const HttpClient client(options);

  CHECK(Get(client, server.Url("http", "127.0.0.1", "/big/1024")).body.size() == 1024);
  CHECK(Get(client, server.Url("http", "127.0.0.1", "/chunked/1024")).body.size() == 1024);
  for (const std::string target : {"/big/1025", "/chunked/4096"}) {
    CAPTURE(target);
    const auto failure = GetFailure(client, server.Url("http", "127.0.0.1", target));
    CHECK_FALSE(failure.IsRetryable());
    CHECK(Contains(failure.reason(), "too large"));
  }

  TestServer garbage([](tcp::socket socket) { return RawSession(std::move(socket), "SMTP ready\r\n\r\n"); });
  const auto malformed = GetFailure(client, garbage.Url("http", "127.0.0.1", "/"));
  CHECK_FALSE(malformed.IsRetryable());
  CHECK(Contains(malformed.reason(), "malformed"));

  TestServer truncated([](tcp::socket socket) {
    return RawSession(std::move(socket), "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
  });
  const auto cut = GetFailure(client, truncated.Url("http", "127.0.0.1", "/"));
  CHECK(cut.IsRetryable());
}
