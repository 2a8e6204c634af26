// HTTP handlers of the payment module: parse → call PaymentService → answer.
#include "payment/handlers/routes.hpp"

#include <boost/json.hpp>

#include "payment/handlers/decode.hpp"
#include "ticketd/core/ids.hpp"
#include "ticketd/core/query_params.hpp"

namespace ticketd::payment {

namespace json = boost::json;
namespace bh = boost::beast::http;
using http::AuthLevel;
using http::Request;
using http::Response;
using http::Status;
using http::Verb;
using Awaitable = boost::asio::awaitable<Response>;

namespace {

constexpr std::size_t kBodyLimit = 8 * 1024;
constexpr std::size_t kWebhookLimit = 64 * 1024;

const std::string& UserOf(const Request& r) {
  if (!r.principal) throw ApiError(problems::Unauthenticated());
  return r.principal->user_id;
}

void RequireId(const Request& r) {
  if (!IsUuid(r.Param("paymentId"))) throw ApiError(problems::NotFound("Payment not found"));
}

}  // namespace

void AddRoutes(http::Router& router, PaymentService& service) {
  const http::RouteMeta booking{AuthLevel::kUser, "booking", kBodyLimit};
  const http::RouteMeta user{AuthLevel::kUser, "default", kBodyLimit};
  const http::RouteMeta admin{AuthLevel::kAdmin, "default", kBodyLimit};
  const http::RouteMeta webhook{AuthLevel::kSignature, "default", kWebhookLimit};

  router.Add(Verb::post, "/api/v1/payments", booking, [&service](Request& r) -> Awaitable {
    CreateInput in;
    in.user_id = UserOf(r);
    auto start = DecodeStartPayment(r);
    in.reservation_id = std::move(start.reservation_id);
    in.payment_key = std::move(start.payment_key);
    in.payment_token = std::move(start.payment_token);
    auto body = co_await service.Create(std::move(in));
    auto res = http::Json(Status::created, body);
    res.set(bh::field::location, "/api/v1/payments/" + std::string(body.at("paymentId").as_string()));
    co_return res;
  });

  router.Add(Verb::post, "/api/v1/payments/{paymentId}/confirm", booking, [&service](Request& r) -> Awaitable {
    RequireId(r);
    DecodeNoFields(r);
    std::string user_id = UserOf(r);
    std::string id = r.Param("paymentId");
    const auto body = co_await service.Confirm(std::move(user_id), std::move(id));
    co_return http::Json(Status::ok, body);
  });

  router.Add(Verb::get, "/api/v1/payments/{paymentId}", user, [&service](Request& r) -> Awaitable {
    RequireId(r);
    std::string user_id = UserOf(r);
    std::string id = r.Param("paymentId");
    const auto body = co_await service.Get(std::move(user_id), std::move(id));
    co_return http::Json(Status::ok, body);
  });

  router.Add(Verb::get, "/api/v1/payments", user, [&service](Request& r) -> Awaitable {
    const int page = http::QueryInt(r, "page", 1, 1, 1000000);
    const int size = http::QueryInt(r, "size", 20, 1, 100);
    std::string user_id = UserOf(r);
    const auto body = co_await service.List(std::move(user_id), page, size);
    co_return http::Json(Status::ok, body);
  });

  router.Add(Verb::post, "/api/v1/payments/webhooks/portone", webhook, [&service](Request& r) -> Awaitable {
    std::string id(r.Header("webhook-id").value_or(""));
    std::string ts(r.Header("webhook-timestamp").value_or(""));
    std::string sig(r.Header("webhook-signature").value_or(""));
    std::string body = r.raw.body();  // the raw bytes, never re-serialized
    co_await service.Webhook(std::move(id), std::move(ts), std::move(sig), std::move(body));
    co_return http::Json(Status::ok, json::object{{"received", true}});
  });

  router.Add(Verb::post, "/api/v1/admin/payments/{paymentId}/refund", admin, [&service](Request& r) -> Awaitable {
    RequireId(r);
    auto reason = DecodeRefundReason(r);
    std::string id = r.Param("paymentId");
    const auto body = co_await service.AdminRefund(std::move(id), std::move(reason));
    co_return http::Json(Status::ok, body);
  });
}

}  // namespace ticketd::payment
