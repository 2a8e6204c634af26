#include <doctest/doctest.h>

#include <boost/asio.hpp>

#include <pqxx/pqxx>

#include <atomic>
#include <latch>
#include <thread>

#include "support/pg.hpp"
#include "support/run_sync.hpp"
#include "ticketd/core/db.hpp"
#include "ticketd/core/metrics.hpp"

using namespace ticketd;
namespace asio = boost::asio;

namespace {

db::PoolOptions Options(const std::string& url, int size = 2) {
  db::PoolOptions o;
  o.name = "test";
  o.conninfo = url;
  o.size = size;
  o.statement_timeout_ms = 2000;
  o.connect_timeout_ms = 1000;
  return o;
}

}  // namespace

TEST_CASE("db pool: coroutine Transact runs off the I/O thread and resumes on it") {
  test::TempDatabase db;
  metrics::Registry registry;
  db::Pool pool(Options(db.url()), &registry);
  const auto io_thread = std::this_thread::get_id();
  const auto [value, db_thread, resumed_on] = test::RunSync([&]() -> asio::awaitable<std::tuple<int, std::thread::id, std::thread::id>> {
    std::thread::id worker;
    const int v = co_await pool.Transact([&](pqxx::work& tx) {
      worker = std::this_thread::get_id();
      return tx.exec1("SELECT 41 + 1")[0].as<int>();
    });
    co_return std::tuple{v, worker, std::this_thread::get_id()};
  }());
  CHECK(value == 42);
  CHECK(db_thread != io_thread);
  CHECK(resumed_on == io_thread);
  CHECK(registry.Render().find("ticketd_db_pool_size{pool=\"test\"} 2") != std::string::npos);
}

TEST_CASE("db pool: an exception rolls the transaction back") {
  test::TempDatabase db;
  db::Pool pool(Options(db.url()), nullptr);
  pool.TransactSync([](pqxx::work& tx) { tx.exec0("CREATE TABLE t (v int)"); });
  CHECK_THROWS_AS(pool.TransactSync([](pqxx::work& tx) {
    tx.exec0("INSERT INTO t VALUES (1)");
    throw std::runtime_error("boom");
  }),
                  std::runtime_error);
  CHECK(pool.TransactSync([](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM t")[0].as<int>(); }) == 0);
}

TEST_CASE("db pool: serialization failures (40001) are retried") {
  test::TempDatabase db;
  db::Pool pool(Options(db.url(), 2), nullptr);
  pool.TransactSync([](pqxx::work& tx) { tx.exec0("CREATE TABLE s (v int)"); });
  std::atomic<int> attempts{0};
  std::latch both_read(2);
  auto job = [&](int value) {
    pool.TransactSync([&, value](pqxx::work& tx) {
      const int attempt = attempts.fetch_add(1);
      tx.exec0("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
      const int sum = tx.exec1("SELECT coalesce(sum(v), 0) FROM s")[0].as<int>();
      if (attempt < 2) both_read.arrive_and_wait();  // both first attempts read before either writes
      tx.exec0("INSERT INTO s VALUES (" + std::to_string(sum + value) + ")");
    });
  };
  std::thread a(job, 1);
  std::thread b(job, 10);
  a.join();
  b.join();
  CHECK(attempts.load() == 3);
  CHECK(pool.TransactSync([](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM s")[0].as<int>(); }) == 2);
}

TEST_CASE("db pool: statement timeout is a dependency failure, not a hang") {
  test::TempDatabase db;
  auto o = Options(db.url(), 1);
  o.statement_timeout_ms = 200;
  db::Pool pool(o, nullptr);
  CHECK_THROWS_AS(pool.RunSync([](pqxx::connection& c) { pqxx::nontransaction(c).exec("SELECT pg_sleep(3)"); }),
                  DependencyUnavailable);
  CHECK(pool.RunSync([](pqxx::connection& c) { return pqxx::nontransaction(c).exec1("SELECT 1")[0].as<int>(); }) == 1);
}

TEST_CASE("db pool: a full queue is refused at once") {
  test::TempDatabase db;
  auto o = Options(db.url(), 1);
  o.max_queue = 1;
  db::Pool pool(o, nullptr);
  std::latch started(1);
  std::latch release(1);
  std::thread slow([&] {
    pool.RunSync([&](pqxx::connection&) {
      started.count_down();
      release.wait();  // the only connection stays busy until the check below is done
    });
  });
  started.wait();
  std::thread queued([&] { pool.RunSync([](pqxx::connection&) {}); });
  // Polled, not slept: the queued job must be in the queue before the check.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (pool.QueueDepth() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(pool.QueueDepth() == 1);
  CHECK_THROWS_AS(pool.RunSync([](pqxx::connection&) {}), DependencyUnavailable);
  release.count_down();
  slow.join();
  queued.join();
}

TEST_CASE("db pool: a killed connection is replaced") {
  test::TempDatabase db;
  db::Pool pool(Options(db.url(), 1), nullptr);
  const int pid = pool.RunSync([](pqxx::connection& c) { return pqxx::nontransaction(c).exec1("SELECT pg_backend_pid()")[0].as<int>(); });
  {
    pqxx::connection admin(db.url());
    pqxx::nontransaction(admin).exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int failures = 0;
  int new_pid = 0;
  for (int i = 0; i < 3 && new_pid == 0; ++i) {
    try {
      new_pid = pool.RunSync([](pqxx::connection& c) { return pqxx::nontransaction(c).exec1("SELECT pg_backend_pid()")[0].as<int>(); });
    } catch (const DependencyUnavailable&) {
      ++failures;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  }
  CHECK(failures <= 1);
  CHECK(new_pid != 0);
  CHECK(new_pid != pid);
}

TEST_CASE("db pool: an unreachable server fails fast with DependencyUnavailable") {
  db::PoolOptions o = Options("postgresql://postgres@127.0.0.1:1/none", 1);
  db::Pool pool(o, nullptr);
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(pool.RunSync([](pqxx::connection&) {}), DependencyUnavailable);
  CHECK_THROWS_AS(pool.RunSync([](pqxx::connection&) {}), DependencyUnavailable);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("db pool: conninfo is rebuilt with module credentials") {
  const auto s = db::WithCredentials("postgresql://owner:pw@db.example:6543/ticketd?sslmode=require", "ticketd_auth", "p'w");
  CHECK(s.find("user='ticketd_auth'") != std::string::npos);
  CHECK(s.find("password='p\\'w'") != std::string::npos);
  CHECK(s.find("host='db.example'") != std::string::npos);
  CHECK(s.find("port='6543'") != std::string::npos);
  CHECK(s.find("sslmode='require'") != std::string::npos);
  CHECK(s.find("owner") == std::string::npos);
  CHECK_THROWS_AS(db::WithCredentials("postgresql://[broken", "u", ""), std::invalid_argument);
}

TEST_CASE("db pool: AfterCommit statements run after a commit, never after a rollback, and a failing one leaves the connection usable") {
  test::TempDatabase db;
  db::Pool pool(Options(db.url(), 1), nullptr);
  pqxx::connection listener(db.url());
  struct Receiver final : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    void operator()(const std::string&, int) override {}
  } receiver(listener, "after_commit_test");
  // Waits up to 10 s for the first notification, then 1 s for any more.
  auto received = [&listener] {
    int n = listener.await_notification(10, 0);
    while (n > 0 && listener.await_notification(1, 0) > 0) ++n;
    return n;
  };

  pool.TransactSync([](pqxx::work& tx) {
    tx.exec0("CREATE TABLE t (v int)");
    db::AfterCommit("NOTIFY after_commit_test");
    db::AfterCommit("NOTIFY after_commit_test");  // the same statement queued twice runs once
  });
  CHECK(received() == 1);

  CHECK_THROWS(pool.TransactSync([](pqxx::work& tx) {
    tx.exec0("INSERT INTO t VALUES (1)");
    db::AfterCommit("NOTIFY after_commit_test");
    throw std::runtime_error("roll back");
  }));
  // A failing statement in the batch: logged, and its transaction block is
  // closed, so the next transaction on the (only) connection works.
  pool.TransactSync([](pqxx::work& tx) {
    tx.exec0("INSERT INTO t VALUES (2)");
    db::AfterCommit("SELECT 1 / 0");
  });
  pool.TransactSync([](pqxx::work& tx) {
    tx.exec0("INSERT INTO t VALUES (3)");
    db::AfterCommit("NOTIFY after_commit_test");
  });
  CHECK(received() == 1);
  CHECK(pool.TransactSync([](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM t")[0].as<int>(); }) == 2);
}
