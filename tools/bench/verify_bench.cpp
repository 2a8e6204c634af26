// Access-token verification throughput through AuthService::Verify (the
// edge's hot path: signature, claims, denylist), on one thread and on all.
// Usage: ticketd_verify_bench [seconds=3]   Prints one JSON object.
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>
#include <vector>

#include "auth/jwt.hpp"
#include "auth/module.hpp"
#include "ticketd/core/log.hpp"

using namespace ticketd;

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::stod(argv[1]) : 3.0;
  log::SetLevel(log::Level::kError);
  auth::AuthOptions o;
  o.jwt_secret = "bench-jwt-secret-0123456789abcdef0123456789";
  o.data_key = std::string(32, 'd');
  o.index_key = std::string(32, 'i');
  db::PoolOptions pool;
  pool.name = "auth";
  pool.conninfo = "postgresql://nobody@127.0.0.1:1/none";  // never used by Verify
  pool.size = 1;
  auth::AuthModule module(o, pool, nullptr);
  const auto& verifier = module.verifier();

  auth::JwtSigner signer({o.jwt_key_id, o.jwt_secret}, {}, o.issuer, o.audience);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string token = signer.Sign({o.issuer, o.audience, "5b0c2a9e-1d4f-4c1e-9a57-0d2b7c6e8f10", "USER",
                                         "0b6f2d8e-7a51-4e39-b0c4-3f9d1a2e5c77", now, now + 3600});
  if (!verifier.Verify(token)) {
    std::cerr << "token does not verify\n";
    return 1;
  }
  auto run = [&](int threads) {
    std::atomic<bool> stop{false};
    std::atomic<long long> total{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        long long n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          for (int i = 0; i < 1000; ++i) n += verifier.Verify(token).has_value() ? 1 : 0;
        }
        total += n;
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& w : workers) w.join();
    return static_cast<double>(total.load()) / seconds;
  };
  const double one = run(1);
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const double all = run(cores);
  std::cout << boost::json::serialize(boost::json::object{{"token_bytes", token.size()},
                                                          {"verifications_per_second_1_thread", std::round(one)},
                                                          {"threads", cores},
                                                          {"verifications_per_second_all_threads", std::round(all)}})
            << "\n";
  return 0;
}
