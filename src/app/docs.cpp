#include "app/docs.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ticketd/core/crypto.hpp"
#include "ticketd/core/error.hpp"
#include "ticketd/core/gzip.hpp"
#include "app/edge.hpp"

namespace ticketd::app {

namespace {

// Swagger UI, not a page of our own: it is the viewer frontend developers
// know, and it renders what ours did not (request and response schemas with
// examples, parameters given by $ref, referenced responses, try-it-out). The
// bundle is vendored at a pinned version (third_party/swagger-ui, checked
// against the npm package by the browser test) and embedded in the binary, so
// /docs works offline; everything loads from this origin, nothing inline.
constexpr std::string_view kInitializer = R"js("use strict";
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    filter: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    defaultModelExpandDepth: 3,
    displayRequestDuration: true,
    showCommonExtensions: false,
    validatorUrl: null,
    queryConfigEnabled: false,
    persistAuthorization: false
  });
});
)js";

constexpr std::string_view kInitializerName = "swagger-initializer.js";
constexpr std::string_view kJavaScript = "text/javascript; charset=utf-8";

/// One file under /docs/: a vendored Swagger UI file or our initializer, with
/// its ETag and, made once on first use, its gzip.
struct Served {
  std::string_view name;
  std::string_view content_type;
  std::string_view bytes;
  std::string etag;
  std::once_flag gzip_once;
  std::string gzip;
};

std::vector<std::unique_ptr<Served>>& ServedFiles() {
  static std::vector<std::unique_ptr<Served>> files = [] {
    std::vector<std::unique_ptr<Served>> out;
    for (const auto& asset : DocsAssets()) {
      auto s = std::make_unique<Served>();
      s->name = asset.name;
      s->content_type = asset.content_type;
      s->bytes = asset.bytes;
      s->etag = "\"" + std::string(asset.sha256.substr(0, 32)) + "\"";
      out.push_back(std::move(s));
    }
    auto init = std::make_unique<Served>();
    init->name = kInitializerName;
    init->content_type = kJavaScript;
    init->bytes = kInitializer;
    init->etag = "\"" + crypto::Sha256Hex(kInitializer).substr(0, 32) + "\"";
    out.push_back(std::move(init));
    return out;
  }();
  return files;
}

Served* FindServed(std::string_view name) {
  for (auto& s : ServedFiles()) {
    if (s->name == name) return s.get();
  }
  return nullptr;
}

/// `?v=` of each asset's URL: a new Swagger UI is a new URL, so the assets can
/// be cached as immutable.
std::string AssetUrl(std::string_view name) {
  const Served* s = FindServed(name);
  return "/docs/" + std::string(name) + "?v=" + (s ? s->etag.substr(1, 12) : std::string("0"));
}

std::string Page() {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
         "<title>ticketd API</title><link rel=\"icon\" type=\"image/png\" href=\"" +
         AssetUrl("favicon-32x32.png") + "\"><link rel=\"stylesheet\" href=\"" + AssetUrl("swagger-ui.css") +
         "\"></head><body><noscript>This page needs JavaScript; the raw document is at "
         "<a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</noscript><div id=\"swagger-ui\"></div>"
         "<script src=\"" +
         AssetUrl("swagger-ui-bundle.js") + "\"></script><script src=\"" + AssetUrl(kInitializerName) +
         "\"></script></body></html>\n";
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.find('*') != std::string_view::npos) return true;
  return if_none_match.find(etag) != std::string_view::npos;
}

}  // namespace

void AddDocsRoutes(http::Router& router) {
  const http::RouteMeta docs{http::AuthLevel::kPublic, "read", std::size_t{0}};
  router.Add(http::Verb::get, "/api/v1/openapi.json", docs, [](http::Request&) -> boost::asio::awaitable<http::Response> {
    http::Response res{http::Status::ok, 11};
    res.set(http::beast_http::field::content_type, "application/json");
    res.set(http::beast_http::field::cache_control, "public, max-age=300");
    res.body() = std::string(OpenApiJson());
    res.prepare_payload();
    co_return res;
  });
  router.Add(http::Verb::get, "/docs", docs, [](http::Request&) -> boost::asio::awaitable<http::Response> {
    static const std::string kPage = Page();
    // Swagger UI sets styles through the CSSOM (allowed) and draws its icons
    // from data: URIs in its stylesheet; try-it-out calls this origin.
    static const std::string kCsp =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
    http::Response res{http::Status::ok, 11};
    res.set(http::beast_http::field::content_type, "text/html; charset=utf-8");
    res.set(http::beast_http::field::cache_control, "no-cache");
    res.set("Content-Security-Policy", kCsp);
    res.body() = kPage;
    res.prepare_payload();
    co_return res;
  });
  router.Add(http::Verb::get, "/docs/{asset}", docs, [](http::Request& r) -> boost::asio::awaitable<http::Response> {
    Served* s = FindServed(r.Param("asset"));
    if (s == nullptr) {
      std::string names;
      for (const auto& f : ServedFiles()) names += (names.empty() ? "" : ", ") + std::string(f->name);
      throw ApiError(problems::NotFound("No docs asset '" + r.Param("asset") + "' (there are: " + names + ")"));
    }
    http::Response res{http::Status::ok, 11};
    res.set(http::beast_http::field::cache_control, "public, max-age=31536000, immutable");
    res.set(http::beast_http::field::etag, s->etag);
    res.set(http::beast_http::field::vary, "Accept-Encoding");
    if (const auto inm = r.Header("If-None-Match"); inm && EtagMatches(*inm, s->etag)) {
      res.result(http::Status::not_modified);
      co_return res;
    }
    res.set(http::beast_http::field::content_type, s->content_type);
    const auto accept = r.Header("Accept-Encoding");
    if (s->content_type.starts_with("text/") && accept && AcceptsGzip(*accept)) {
      std::call_once(s->gzip_once, [s] { s->gzip = Gzip(s->bytes, 9); });
      res.set(http::beast_http::field::content_encoding, "gzip");
      res.body() = s->gzip;
    } else {
      res.body() = std::string(s->bytes);
    }
    res.prepare_payload();
    co_return res;
  });
}

}  // namespace ticketd::app
