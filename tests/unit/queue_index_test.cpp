// The waiting room's in-memory index: order statistics, idempotent apply,
// stale-change protection, memory per waiting user, the estimate window.
#include <doctest/doctest.h>

#include <malloc.h>

#include <random>
#include <vector>

#include "queue/index.hpp"

using namespace ticketd::queue;

namespace {

UserKey Key(std::uint64_t n) { return UserKey{0x1234000000004000ULL | (n << 20), 0x8000000000000000ULL | n}; }

}  // namespace

TEST_CASE("queue index: user keys round-trip canonical UUIDs") {
  const auto k = ParseUserKey("0F1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
  REQUIRE(k.has_value());
  CHECK(ToString(*k) == "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
  CHECK_FALSE(ParseUserKey("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f").has_value());
  CHECK_FALSE(ParseUserKey("0f1e2d3c04b5a-4968-8776-a5b4c3d2e1f0").has_value());
  CHECK_FALSE(ParseUserKey("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1fg").has_value());
}

TEST_CASE("queue index: positions are prefix counts of waiting entries in sequence order") {
  RoomIndex index;
  // Sparse, out-of-order sequence numbers (a global sequence shared by events).
  const std::vector<std::int64_t> seqs = {1000, 1003, 1001, 5000, 999, 70000};
  std::int64_t change = 1;
  for (std::size_t i = 0; i < seqs.size(); ++i) index.Apply(Key(i), seqs[i], EntryStatus::kWaiting, change++);
  CHECK(index.waiting() == 6);
  CHECK(index.Find(Key(4))->position == 1);  // 999
  CHECK(index.Find(Key(0))->position == 2);  // 1000
  CHECK(index.Find(Key(2))->position == 3);  // 1001
  CHECK(index.Find(Key(1))->position == 4);  // 1003
  CHECK(index.Find(Key(3))->position == 5);  // 5000
  CHECK(index.Find(Key(5))->position == 6);  // 70000

  // Admission: no longer waiting, nobody behind moves past anyone.
  index.Apply(Key(4), 999, EntryStatus::kAdmitted, change++);
  CHECK(index.Find(Key(4))->status == EntryStatus::kAdmitted);
  CHECK(index.Find(Key(4))->position == 0);
  CHECK(index.Find(Key(0))->position == 1);
  CHECK(index.admitted() == 1);
  // Leaving removes from the order.
  index.Apply(Key(2), 1001, EntryStatus::kLeft, change++);
  CHECK_FALSE(index.Find(Key(2)).has_value());
  CHECK(index.Find(Key(1))->position == 2);
  CHECK(index.waiting() == 4);
  // Idempotent.
  index.Apply(Key(1), 1003, EntryStatus::kWaiting, change);
  CHECK(index.waiting() == 4);
  CHECK(index.Find(Key(1))->position == 2);
}

TEST_CASE("queue index: an older change never overwrites a newer one") {
  RoomIndex index;
  index.Apply(Key(1), 10, EntryStatus::kWaiting, 5);
  index.Apply(Key(1), 10, EntryStatus::kLeft, 7);
  // A sync read taken before the leave arrives late: ignored.
  CHECK_FALSE(index.Apply(Key(1), 10, EntryStatus::kWaiting, 6));
  CHECK_FALSE(index.Find(Key(1)).has_value());
  CHECK(index.waiting() == 0);
  // Re-entering later (a newer change) counts again.
  CHECK(index.Apply(Key(1), 42, EntryStatus::kWaiting, 9));
  CHECK(index.Find(Key(1))->position == 1);
}

TEST_CASE("queue index: matches a brute-force order under random operations") {
  RoomIndex index;
  std::map<std::uint64_t, std::pair<std::int64_t, bool>> model;  // user → (seq, waiting)
  std::mt19937_64 rng(7);
  std::int64_t next_seq = 1;
  std::int64_t change = 1;
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t u = rng() % 500;
    const int op = static_cast<int>(rng() % 3);
    if (op == 0) {
      if (!model.contains(u) || !model[u].second) {
        const std::int64_t seq = next_seq += static_cast<std::int64_t>(rng() % 40);  // gaps: other events
        model[u] = {seq, true};
        index.Apply(Key(u), seq, EntryStatus::kWaiting, change++);
      }
    } else if (op == 1 && model.contains(u) && model[u].second) {
      model[u].second = false;
      index.Apply(Key(u), model[u].first, EntryStatus::kDropped, change++);
    } else if (op == 2 && model.contains(u) && model[u].second) {
      model[u].second = false;
      index.Apply(Key(u), model[u].first, EntryStatus::kAdmitted, change++);
      index.Apply(Key(u), model[u].first, EntryStatus::kUsed, change++);
    }
    if (step % 997 == 0) {
      for (const auto& [user, state] : model) {
        if (!state.second) continue;
        std::int64_t expected = 0;
        for (const auto& [other, s] : model) expected += (s.second && s.first <= state.first) ? 1 : 0;
        REQUIRE(index.Find(Key(user))->position == expected);
      }
    }
  }
}

TEST_CASE("queue index: memory per waiting user stays under 200 bytes") {
  constexpr int kUsers = 100000;
  // Small chunks (uordblks) and mmapped big ones (hblkhd: the Fenwick array, the bucket array).
  const auto heap = [] {
    const auto m = mallinfo2();
    return m.uordblks + m.hblkhd;
  };
  const auto before = heap();
  std::size_t estimated = 0;
  {
    RoomIndex index;
    // Interleaved with 9 other events: this event sees every 10th sequence number.
    for (int i = 0; i < kUsers; ++i) index.Apply(Key(static_cast<std::uint64_t>(i)), 1000000 + 10LL * i, EntryStatus::kWaiting, i + 1);
    const auto after = heap();
    const double measured = static_cast<double>(after - before) / kUsers;
    estimated = index.MemoryBytes() / kUsers;
    MESSAGE("measured heap bytes per waiting user: " << measured << " (index estimate " << estimated << ")");
    CHECK(measured < 200.0);
    CHECK(index.Find(Key(kUsers - 1))->position == kUsers);
  }
  CHECK(estimated < 200);
}

TEST_CASE("queue index: observed admission rate over a sliding window") {
  RateWindow w;
  CHECK_FALSE(w.Rate(1000, 60).has_value());
  for (std::int64_t s = 941; s <= 1000; ++s) w.Record(s, 10);
  CHECK(*w.Rate(1000, 60) == doctest::Approx(10.0));
  // Only the last 5 seconds had admissions: their real rate, not diluted by the window.
  RateWindow recent;
  for (std::int64_t s = 996; s <= 1000; ++s) recent.Record(s, 4);
  CHECK(*recent.Rate(1000, 60) == doctest::Approx(4.0));
  // Admissions stopped 30 s ago: the rate falls.
  CHECK(*w.Rate(1030, 60) < 10.0);
  CHECK(w.CountSince(991) == 100);
}

TEST_CASE("queue index: the poll interval grows with the position") {
  CHECK(NextPollSeconds(1) == 1);
  CHECK(NextPollSeconds(1000) == 1);
  CHECK(NextPollSeconds(1001) == 5);
  CHECK(NextPollSeconds(10000) == 10);
  CHECK(NextPollSeconds(50000) == 30);
  CHECK(NextPollSeconds(500000) == 60);
}
