#include "app/ops.hpp"

#include <boost/json.hpp>

namespace ticketd::app {

namespace json = boost::json;

void AddOpsRoutes(http::Router& router, std::vector<ReadinessCheck> checks, metrics::Registry& registry) {
  const http::RouteMeta ops{http::AuthLevel::kPublic, "ops", 0};
  router.Add(http::Verb::get, "/healthz", ops, [](http::Request&) -> boost::asio::awaitable<http::Response> {
    co_return http::Json(http::Status::ok, json::object{{"status", "ok"}});
  });
  router.Add(http::Verb::get, "/readyz", ops,
             [checks = std::move(checks)](http::Request&) -> boost::asio::awaitable<http::Response> {
               json::object results;
               bool ready = true;
               for (const auto& c : checks) {
                 std::optional<std::string> failure;
                 try {
                   failure = co_await c.check();
                 } catch (const std::exception& e) {
                   failure = e.what();
                 }
                 results[c.name] = failure ? json::value(*failure) : json::value("ok");
                 ready = ready && !failure;
               }
               auto res = http::Json(ready ? http::Status::ok : http::Status::service_unavailable,
                                     json::object{{"status", ready ? "ready" : "unavailable"}, {"checks", results}});
               if (!ready) res.set(http::beast_http::field::retry_after, "1");
               res.set(http::beast_http::field::cache_control, "no-store");
               co_return res;
             });
  router.Add(http::Verb::get, "/metrics", ops, [&registry](http::Request&) -> boost::asio::awaitable<http::Response> {
    http::Response res{http::Status::ok, 11};
    res.set(http::beast_http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = registry.Render();
    res.prepare_payload();
    co_return res;
  });
}

}  // namespace ticketd::app
