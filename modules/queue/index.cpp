#include "queue/index.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

namespace ticketd::queue {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::array<std::string_view, 7> kStatusNames = {"WAITING", "ADMITTED", "USED", "LEFT",
                                                          "EXPIRED", "DROPPED",  "CLEARED"};

}  // namespace

std::optional<UserKey> ParseUserKey(std::string_view uuid) {
  if (uuid.size() != 36) return std::nullopt;
  std::uint64_t parts[2] = {0, 0};
  int nibbles = 0;
  for (std::size_t i = 0; i < uuid.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (uuid[i] != '-') return std::nullopt;
      continue;
    }
    const int v = HexValue(uuid[i]);
    if (v < 0) return std::nullopt;
    auto& part = parts[nibbles / 16];
    part = (part << 4) | static_cast<std::uint64_t>(v);
    ++nibbles;
  }
  return UserKey{parts[0], parts[1]};
}

std::string ToString(const UserKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    const std::uint64_t part = i < 16 ? key.hi : key.lo;
    const int shift = (15 - (i % 16)) * 4;
    out.push_back(kHex[(part >> shift) & 0xF]);
  }
  return out;
}

std::string_view ToString(EntryStatus status) { return kStatusNames.at(static_cast<std::size_t>(status)); }

std::optional<EntryStatus> ParseEntryStatus(std::string_view text) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == text) return static_cast<EntryStatus>(i);
  }
  return std::nullopt;
}

// ---- Fenwick ----

void Fenwick::Clear() {
  tree_.clear();
  tree_.shrink_to_fit();
  base_ = 0;
}

void Fenwick::Reset(std::int64_t base, std::int64_t size) {
  base_ = base;
  tree_.assign(static_cast<std::size_t>(size) + 1, 0);
}

void Fenwick::Add(std::int64_t seq, int delta) {
  if (!Covers(seq)) throw std::logic_error("fenwick: sequence number out of range");
  const auto n = static_cast<std::int64_t>(tree_.size());
  for (std::int64_t i = seq - base_ + 1; i < n; i += i & -i) tree_[static_cast<std::size_t>(i)] += delta;
}

std::int64_t Fenwick::Prefix(std::int64_t seq) const {
  if (tree_.empty() || seq < base_) return 0;
  std::int64_t i = std::min<std::int64_t>(seq - base_ + 1, static_cast<std::int64_t>(tree_.size()) - 1);
  std::int64_t sum = 0;
  for (; i > 0; i -= i & -i) sum += tree_[static_cast<std::size_t>(i)];
  return sum;
}

// ---- RoomIndex ----

void RoomIndex::Rebuild(std::int64_t must_cover) {
  std::int64_t lo = must_cover;
  std::int64_t hi = must_cover;
  for (const auto& [key, slot] : entries_) {
    if (slot.status != EntryStatus::kWaiting) continue;
    lo = std::min(lo, slot.seq);
    hi = std::max(hi, slot.seq);
  }
  // Room to grow at the back (new arrivals) without a rebuild for a while.
  std::int64_t size = 1024;
  while (size < 2 * (hi - lo + 1)) size *= 2;
  waiting_tree_.Reset(lo, size);
  for (const auto& [key, slot] : entries_) {
    if (slot.status == EntryStatus::kWaiting) waiting_tree_.Add(slot.seq, 1);
  }
}

// `seq` belongs to an entry already marked WAITING in entries_: a rebuild counts it.
void RoomIndex::Insert(std::int64_t seq) {
  if (!waiting_tree_.Covers(seq)) {
    Rebuild(seq);
    return;
  }
  waiting_tree_.Add(seq, 1);
}

bool RoomIndex::Apply(const UserKey& user, std::int64_t seq, EntryStatus status, std::int64_t change_id) {
  auto it = entries_.find(user);
  if (it != entries_.end()) {
    Slot& old = it->second;
    if (change_id < old.change) return false;
    old.change = change_id;
    if (old.seq == seq && old.status == status) return true;
    if (old.status == EntryStatus::kWaiting) {
      waiting_tree_.Add(old.seq, -1);
      --waiting_;
    } else if (old.status == EntryStatus::kAdmitted) {
      --admitted_;
    }
    const bool was_live = IsLive(old.status);
    old.seq = seq;
    old.status = status;
    if (!IsLive(status)) {
      if (was_live) tombstones_.emplace_back(user, std::chrono::steady_clock::now());
      return true;
    }
  } else {
    if (!IsLive(status)) return true;
    entries_.emplace(user, Slot{seq, change_id, status});
  }
  if (status == EntryStatus::kWaiting) {
    Insert(seq);
    ++waiting_;
  } else {
    ++admitted_;
  }
  return true;
}

void RoomIndex::PurgeTombstones(std::chrono::steady_clock::time_point before) {
  while (!tombstones_.empty() && tombstones_.front().second < before) {
    auto it = entries_.find(tombstones_.front().first);
    if (it != entries_.end() && !IsLive(it->second.status)) entries_.erase(it);
    tombstones_.pop_front();
  }
}

std::optional<RoomIndex::Place> RoomIndex::Find(const UserKey& user) const {
  auto it = entries_.find(user);
  if (it == entries_.end() || !IsLive(it->second.status)) return std::nullopt;
  Place p{it->second.status, it->second.seq, 0};
  if (p.status == EntryStatus::kWaiting) p.position = waiting_tree_.Prefix(p.seq);
  return p;
}

std::size_t RoomIndex::MemoryBytes() const {
  // libstdc++ node: next pointer + key + value + cached hash, rounded by malloc (16-byte chunks + 8 header).
  constexpr std::size_t kNode = sizeof(void*) + sizeof(UserKey) + sizeof(Slot) + sizeof(std::size_t);
  constexpr std::size_t kMallocNode = ((kNode + 8 + 15) / 16) * 16;
  return entries_.size() * kMallocNode + entries_.bucket_count() * sizeof(void*) + waiting_tree_.MemoryBytes();
}

void RoomIndex::Clear() {
  tombstones_.clear();
  entries_.clear();
  entries_.rehash(0);
  waiting_tree_.Clear();
  waiting_ = 0;
  admitted_ = 0;
}

// ---- RateWindow ----

void RateWindow::Record(std::int64_t unix_second, std::int64_t count) {
  if (count <= 0) return;
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), unix_second,
                             [](const auto& b, std::int64_t s) { return b.first < s; });
  if (it != buckets_.end() && it->first == unix_second) {
    it->second += count;
  } else {
    buckets_.insert(it, {unix_second, count});
  }
  // Keep an hour at most.
  while (!buckets_.empty() && buckets_.front().first < buckets_.back().first - 3600) buckets_.pop_front();
}

std::optional<double> RateWindow::Rate(std::int64_t now_unix_second, std::int64_t window) const {
  const std::int64_t from = now_unix_second - window;
  std::int64_t total = 0;
  std::int64_t first = 0;
  for (auto it = buckets_.rbegin(); it != buckets_.rend() && it->first > from; ++it) {
    total += it->second;
    first = it->first;
  }
  if (total == 0) return std::nullopt;
  // Seconds from the first admission in the window up to now (at least one).
  const auto span = static_cast<double>(std::max<std::int64_t>(1, now_unix_second - first + 1));
  return static_cast<double>(total) / std::min(span, static_cast<double>(window));
}

std::int64_t RateWindow::CountSince(std::int64_t unix_second) const {
  std::int64_t total = 0;
  for (auto it = buckets_.rbegin(); it != buckets_.rend() && it->first >= unix_second; ++it) total += it->second;
  return total;
}

int NextPollSeconds(std::int64_t position) {
  // The seeds' bands (Tiketi QueueService): ≤1,000 → 1 s, ≤5,000 → 5 s,
  // ≤10,000 → 10 s, ≤100,000 → 30 s, beyond → 60 s.
  if (position <= 1000) return 1;
  if (position <= 5000) return 5;
  if (position <= 10000) return 10;
  if (position <= 100000) return 30;
  return 60;
}

}  // namespace ticketd::queue
