#pragma once
// A fresh database per test in the private cluster that tools/test started
// (TD_TEST_PGURL). Dropped when the object goes away.

#include <string>

namespace ticketd::test {

/// The cluster's superuser URL; fails the test when TD_TEST_PGURL is unset.
std::string ClusterUrl();

class TempDatabase {
 public:
  TempDatabase();
  ~TempDatabase();
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;
  [[nodiscard]] const std::string& name() const { return name_; }
  /// Owner (superuser) URL of this database.
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  std::string name_;
  std::string url_;
};

}  // namespace ticketd::test
