#include "app/docs.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <string>

namespace ticketd::app {

namespace {

constexpr std::string_view kStyle = R"css(
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.8}
main{max-width:1100px;margin:0 auto;padding:20px 28px}h2{margin:28px 0 8px;font-size:18px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
details{background:#fff;border:1px solid #d8dce3;border-radius:6px;margin:6px 0}summary{cursor:pointer;padding:8px 12px;display:flex;gap:12px;align-items:baseline}
.m{font:600 12px monospace;padding:2px 7px;border-radius:4px;color:#fff;min-width:52px;text-align:center}
.get{background:#2f7d32}.post{background:#1565c0}.put{background:#8e6b00}.patch{background:#6a1b9a}.delete{background:#c62828}
.p{font-family:monospace}.s{color:#566}.a{margin-left:auto;font-size:12px;color:#566}.body{padding:4px 16px 12px;white-space:pre-wrap}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #d8dce3;padding:3px 8px;text-align:left;font-size:13px;vertical-align:top}
#filter{width:100%;padding:8px;font-size:15px;border:1px solid #c3c8d0;border-radius:6px;box-sizing:border-box}
)css";

constexpr std::string_view kScript = R"js(
"use strict";
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
};
const authOf = (op, doc) => {
  const sec = op.security !== undefined ? op.security : (doc.security || []);
  if (!sec.length || sec.every(s => Object.keys(s).length === 0)) return "public";
  return sec.map(s => Object.keys(s).join("+")).join(" | ");
};
fetch("/api/v1/openapi.json").then(r => r.json()).then(doc => {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("lead").textContent = "OpenAPI " + doc.openapi + " \u2014 raw document: /api/v1/openapi.json";
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push({path, method, op});
    }
  }
  const root = document.getElementById("ops");
  const render = (needle) => {
    root.replaceChildren();
    for (const [tag, ops] of groups) {
      const shown = ops.filter(o => !needle || (o.method + " " + o.path + " " + (o.op.summary || "")).toLowerCase().includes(needle));
      if (!shown.length) continue;
      root.append(el("h2", {}, tag));
      for (const {path, method, op} of shown) {
        const body = el("div", {class: "body"});
        if (op.description) body.append(op.description + "\n");
        const params = (op.parameters || []).filter(p => p.name);
        if (params.length) {
          const t = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "required"), el("th", {}, "description")));
          for (const p of params) t.append(el("tr", {}, el("td", {}, p.name), el("td", {}, p.in || ""), el("td", {}, p.required ? "yes" : "no"), el("td", {}, p.description || "")));
          body.append(t);
        }
        const rt = el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "description")));
        for (const [code, res] of Object.entries(op.responses || {})) rt.append(el("tr", {}, el("td", {}, code), el("td", {}, (res && res.description) || (res && res.$ref) || "")));
        body.append(rt);
        root.append(el("details", {}, el("summary", {}, el("span", {class: "m " + method}, method.toUpperCase()),
          el("span", {class: "p"}, path), el("span", {class: "s"}, op.summary || ""), el("span", {class: "a"}, authOf(op, doc))), body));
      }
    }
  };
  render("");
  document.getElementById("filter").addEventListener("input", e => render(e.target.value.trim().toLowerCase()));
}).catch(err => { document.getElementById("ops").textContent = "Could not load /api/v1/openapi.json: " + err; });
)js";

std::string Sha256Base64(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char out[64] = {};
  const int n = EVP_EncodeBlock(out, digest, SHA256_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

std::string Page() {
  std::string html = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                     "<title>ticketd API</title><style>";
  html += kStyle;
  html += "</style></head><body><header><h1 id=\"title\">ticketd API</h1><p id=\"lead\">Loading…</p></header>"
          "<main><input id=\"filter\" placeholder=\"Filter: method, path or summary\" aria-label=\"filter\">"
          "<div id=\"ops\"></div></main><script>";
  html += kScript;
  html += "</script></body></html>\n";
  return html;
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
    static const std::string kCsp = "default-src 'none'; script-src 'sha256-" + Sha256Base64(kScript) +
                                    "'; style-src 'sha256-" + Sha256Base64(kStyle) +
                                    "'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
    http::Response res{http::Status::ok, 11};
    res.set(http::beast_http::field::content_type, "text/html; charset=utf-8");
    res.set(http::beast_http::field::cache_control, "public, max-age=300");
    res.set("Content-Security-Policy", kCsp);
    res.body() = kPage;
    res.prepare_payload();
    co_return res;
  });
}

}  // namespace ticketd::app
