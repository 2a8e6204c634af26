// Outbox relay benchmark on the embedded Kafka cluster and a real Postgres:
//   1. drain: N events already in the outbox → time until all are published (events/s)
//   2. latency: events committed at a steady rate → time from commit to the
//      consumer's effect (P50/P99/max)
// Usage: ticketd_relay_bench <postgres-url-of-an-empty-database> [drain_events] [rate_per_s] [seconds]
// Prints one JSON object.
#include <boost/json.hpp>

#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "core/event_consumer.hpp"
#include "core/kafka.hpp"
#include "core/outbox_relay.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/events.hpp"
#include "ticketd/core/log.hpp"
#include "ticketd/core/migrate.hpp"

using namespace ticketd;
using namespace std::chrono_literals;

namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

long long Count(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  return pqxx::nontransaction(c).exec1(sql)[0].as<long long>();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: ticketd_relay_bench <postgres-url> [drain_events=50000] [rate=1000] [seconds=10]\n";
    return 2;
  }
  const std::string url = argv[1];
  const int drain_events = argc > 2 ? std::stoi(argv[2]) : 50000;
  const int rate = argc > 3 ? std::stoi(argv[3]) : 1000;
  const int seconds = argc > 4 ? std::stoi(argv[4]) : 10;
  log::SetLevel(log::Level::kWarn);

  db::Migrate(url,
              {db::MakeMigration("bench", 1, "outbox", events::OutboxDdl("bench")),
               db::MakeMigration("sink", 1, "inbox", events::OutboxDdl("sink"))},
              "");
  const std::string bench_role = db::WithCredentials(url, db::ModuleRole("bench"), "");
  const std::string sink_role = db::WithCredentials(url, db::ModuleRole("sink"), "");
  kafka::Options ko;
  kafka::Cluster cluster(ko);
  cluster.EnsureTopics({"bench.events", "dlq.bench"});
  kafka::Producer producer(cluster, "relay");
  db::PoolOptions po;
  po.name = "bench";
  po.conninfo = bench_role;
  po.size = 4;
  db::Pool writer(po, nullptr);

  // 1. Drain rate.
  for (int done = 0; done < drain_events;) {
    const int n = std::min(1000, drain_events - done);
    writer.TransactSync([&](pqxx::work& tx) {
      for (int i = 0; i < n; ++i) {
        events::AppendToOutbox(tx, "bench", "bench.events",
                               events::Make("Benched", "Thing", "agg-" + std::to_string((done + i) % 1000), {{"i", done + i}}));
      }
    });
    done += n;
  }
  events::RelayOptions ro;
  ro.schema = "bench";
  ro.conninfo = bench_role;
  ro.batch_size = 1000;
  ro.poll_interval = 100ms;
  const auto drain_start = std::chrono::steady_clock::now();
  double drain_seconds = 0;
  {
    events::OutboxRelay relay(ro, producer, nullptr);
    relay.Start();
    while (Count(url, "SELECT count(*) FROM bench.outbox WHERE published_at IS NULL") > 0) std::this_thread::sleep_for(20ms);
    drain_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_start).count();
  }

  // 2. Commit → consumer effect latency at a steady rate.
  po.name = "sink";
  po.conninfo = sink_role;
  db::Pool sink(po, nullptr);
  std::mutex mu;
  std::vector<double> latencies;
  events::ConsumerOptions co;
  co.group_id = "ticketd.sink";
  co.schema = "sink";
  co.topics = {"bench.events"};
  events::EventConsumer consumer(co, cluster, sink, producer, nullptr);
  std::atomic<long long> seen{0};
  consumer.On("Latency", 1, [&](pqxx::work&, const events::Envelope& e) {
    const double committed = e.payload.at("committedAt").as_double();
    std::lock_guard lock(mu);
    latencies.push_back(NowSeconds() - committed);
    ++seen;
  });
  consumer.On("Benched", 1, [](pqxx::work&, const events::Envelope&) {});
  events::OutboxRelay relay(ro, producer, nullptr);
  relay.Start();
  consumer.Start();
  // Let the group settle and the drain backlog pass through the consumer first.
  while (Count(url, "SELECT count(*) FROM sink.processed_events") < drain_events) std::this_thread::sleep_for(100ms);
  const int total = rate * seconds;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < total; ++i) {
    const auto due = start + std::chrono::microseconds(static_cast<long long>(1e6 * i / rate));
    std::this_thread::sleep_until(due);
    writer.TransactSync([&](pqxx::work& tx) {
      events::AppendToOutbox(tx, "bench", "bench.events",
                             events::Make("Latency", "Thing", "lat-" + std::to_string(i % 100), {{"committedAt", NowSeconds()}}));
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (seen.load() < total && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  consumer.Stop();
  relay.Stop();

  boost::json::object out{
      {"drain", {{"events", drain_events}, {"seconds", drain_seconds}, {"events_per_second", drain_events / drain_seconds}}},
      {"latency",
       {{"rate_per_second", rate},
        {"events", total},
        {"received", seen.load()},
        {"p50_ms", Percentile(latencies, 0.50) * 1000},
        {"p99_ms", Percentile(latencies, 0.99) * 1000},
        {"max_ms", Percentile(latencies, 1.0) * 1000}}}};
  std::cout << boost::json::serialize(out) << "\n";
  return seen.load() == total ? 0 : 1;
}
