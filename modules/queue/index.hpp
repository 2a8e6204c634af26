#pragma once
// The in-memory waiting-room index of one event: who is in it (16-byte user
// keys → sequence number and status) and an order-statistics structure (a
// Fenwick tree over sequence numbers) counting WAITING entries, so a user's
// exact position is a prefix sum: O(log n), no database round trip.
//
// Derived state only: rebuilt from queue.entries on start and kept current by
// applying rows (Apply is idempotent: it sets the row's current state).
// Not thread-safe: the service guards each room with its own mutex.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ticketd::queue {

struct UserKey {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  friend bool operator==(const UserKey&, const UserKey&) = default;
};
struct UserKeyHash {
  std::size_t operator()(const UserKey& k) const noexcept {
    // UUIDv4 bits are random already; mix both halves.
    return static_cast<std::size_t>(k.hi * 0x9E3779B97F4A7C15ULL ^ k.lo);
  }
};
/// Parses a canonical UUID (either case); nullopt otherwise.
std::optional<UserKey> ParseUserKey(std::string_view uuid);
/// Canonical lower-case form.
std::string ToString(const UserKey& key);

enum class EntryStatus : std::uint8_t { kWaiting, kAdmitted, kUsed, kLeft, kExpired, kDropped, kCleared };
std::string_view ToString(EntryStatus status);
std::optional<EntryStatus> ParseEntryStatus(std::string_view text);
[[nodiscard]] inline bool IsLive(EntryStatus s) { return s == EntryStatus::kWaiting || s == EntryStatus::kAdmitted; }

/// Counts over sequence numbers [base, base + size): add/remove and prefix
/// counts in O(log n). Grows (and re-bases) by rebuilding.
class Fenwick {
 public:
  void Clear();
  /// Makes room for `seq` given the current members (for a rebuild).
  [[nodiscard]] bool Covers(std::int64_t seq) const { return !tree_.empty() && seq >= base_ && seq - base_ < Size(); }
  void Reset(std::int64_t base, std::int64_t size);
  void Add(std::int64_t seq, int delta);
  /// Members with sequence number <= seq.
  [[nodiscard]] std::int64_t Prefix(std::int64_t seq) const;
  [[nodiscard]] std::int64_t base() const { return base_; }
  [[nodiscard]] std::int64_t Size() const { return static_cast<std::int64_t>(tree_.size()); }
  [[nodiscard]] std::size_t MemoryBytes() const { return tree_.capacity() * sizeof(std::int32_t); }

 private:
  std::int64_t base_ = 0;
  std::vector<std::int32_t> tree_;  // 1-based internally
};

class RoomIndex {
 public:
  struct Place {
    EntryStatus status = EntryStatus::kWaiting;
    std::int64_t seq = 0;
    std::int64_t position = 0;  // 1-based among WAITING; 0 when not WAITING
  };

  /// Sets `user`'s current state (idempotent) as of `change_id` (the row's
  /// queue.entries.change_id); an older change than the one applied last is
  /// ignored (returns false). Non-live statuses remove the user from the
  /// order (a tombstone remembers the change id until PurgeTombstones).
  bool Apply(const UserKey& user, std::int64_t seq, EntryStatus status, std::int64_t change_id);
  /// Forgets tombstones created before `before`.
  void PurgeTombstones(std::chrono::steady_clock::time_point before);
  [[nodiscard]] std::optional<Place> Find(const UserKey& user) const;
  [[nodiscard]] std::int64_t waiting() const { return waiting_; }
  [[nodiscard]] std::int64_t admitted() const { return admitted_; }
  /// Live (WAITING or ADMITTED) entries.
  [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(waiting_ + admitted_); }
  /// Approximate heap bytes held (hash map nodes and buckets, Fenwick array).
  [[nodiscard]] std::size_t MemoryBytes() const;
  void Clear();

 private:
  struct Slot {
    std::int64_t seq;
    std::int64_t change;
    EntryStatus status;
  };
  void Insert(std::int64_t seq);
  void Rebuild(std::int64_t must_cover);

  std::unordered_map<UserKey, Slot, UserKeyHash> entries_;
  Fenwick waiting_tree_;
  std::deque<std::pair<UserKey, std::chrono::steady_clock::time_point>> tombstones_;
  std::int64_t waiting_ = 0;
  std::int64_t admitted_ = 0;
};

/// Admissions observed in a sliding window (per second buckets), for the
/// estimated wait. Not thread-safe.
class RateWindow {
 public:
  void Record(std::int64_t unix_second, std::int64_t count);
  /// Admissions per second over the last `window` seconds before `now`
  /// (counting from the first admission seen inside it); nullopt when none.
  [[nodiscard]] std::optional<double> Rate(std::int64_t now_unix_second, std::int64_t window) const;
  [[nodiscard]] std::int64_t CountSince(std::int64_t unix_second) const;

 private:
  std::deque<std::pair<std::int64_t, std::int64_t>> buckets_;  // (second, count), ascending
};

/// Seconds until the next poll for a position (1 s near the front … 60 s far back).
int NextPollSeconds(std::int64_t position);

}  // namespace ticketd::queue
