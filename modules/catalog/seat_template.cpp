#include "catalog/seat_template.hpp"

#include <boost/json.hpp>

#include <set>
#include <unordered_set>

namespace ticketd::catalog {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxName = 20;
constexpr std::size_t kMaxSections = 200;
constexpr std::size_t kMaxRows = 500;

// Section and row names appear in labels: printable, no '-' separator confusion
// is checked through label uniqueness instead of forbidding characters.
bool IsValidName(const std::string& s) {
  if (s.empty() || s.size() > kMaxName) return false;
  for (const unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == ' ' || c == '"' || c == '\\') return false;
  }
  return true;
}

const json::value* Member(const json::object& o, std::string_view key) { return o.if_contains(key); }

bool IntIn(const json::value* v, std::int64_t lo, std::int64_t hi, int& out) {
  if (v == nullptr || !v->is_int64()) {
    if (v != nullptr && v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(hi)) {
      out = static_cast<int>(v->as_uint64());
      return out >= lo;
    }
    return false;
  }
  const auto n = v->as_int64();
  if (n < lo || n > hi) return false;
  out = static_cast<int>(n);
  return true;
}

}  // namespace

bool IsValidGradeName(const std::string& g) {
  if (g.empty() || g.size() > kMaxName) return false;
  for (const char c : g) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+';
    if (!ok) return false;
  }
  return true;
}

SeatTemplate ParseSeatTemplate(const json::value& value, const std::string& prefix, std::vector<FieldError>& errors) {
  SeatTemplate t;
  const auto fail = [&errors](std::string field, std::string message) {
    errors.push_back({std::move(field), std::move(message)});
  };
  const auto* root = value.if_object();
  if (root == nullptr) {
    fail(prefix, "must be an object {\"sections\": [...]}");
    return t;
  }
  for (const auto& kv : *root) {
    if (kv.key() != "sections") fail(prefix + "." + std::string(kv.key()), "unknown field");
  }
  const auto* sections_v = Member(*root, "sections");
  const auto* sections = sections_v != nullptr ? sections_v->if_array() : nullptr;
  if (sections == nullptr || sections->empty()) {
    fail(prefix + ".sections", "must be a non-empty array");
    return t;
  }
  if (sections->size() > kMaxSections) {
    fail(prefix + ".sections", "at most " + std::to_string(kMaxSections) + " sections");
    return t;
  }
  std::set<std::string> section_names;
  std::int64_t total = 0;
  for (std::size_t si = 0; si < sections->size(); ++si) {
    const std::string sp = prefix + ".sections[" + std::to_string(si) + "]";
    const auto* so = (*sections)[si].if_object();
    if (so == nullptr) {
      fail(sp, "must be an object {\"name\", \"rows\"}");
      continue;
    }
    TemplateSection section;
    for (const auto& kv : *so) {
      if (kv.key() != "name" && kv.key() != "rows") fail(sp + "." + std::string(kv.key()), "unknown field");
    }
    const auto* name = Member(*so, "name");
    if (name == nullptr || !name->is_string() || !IsValidName(std::string(name->as_string()))) {
      fail(sp + ".name", "must be 1-20 printable characters without spaces or quotes");
    } else {
      section.name = std::string(name->as_string());
      if (!section_names.insert(section.name).second) fail(sp + ".name", "duplicate section name");
    }
    const auto* rows_v = Member(*so, "rows");
    const auto* rows = rows_v != nullptr ? rows_v->if_array() : nullptr;
    if (rows == nullptr || rows->empty() || rows->size() > kMaxRows) {
      fail(sp + ".rows", "must be an array of 1-" + std::to_string(kMaxRows) + " rows");
      t.sections.push_back(std::move(section));
      continue;
    }
    std::set<std::string> row_names;
    for (std::size_t ri = 0; ri < rows->size(); ++ri) {
      const std::string rp = sp + ".rows[" + std::to_string(ri) + "]";
      const auto* ro = (*rows)[ri].if_object();
      if (ro == nullptr) {
        fail(rp, "must be an object {\"row\", \"seats\", \"grade\"}");
        continue;
      }
      TemplateRow row;
      for (const auto& kv : *ro) {
        const auto k = kv.key();
        if (k != "row" && k != "seats" && k != "grade" && k != "gradeRanges" && k != "disabled") {
          fail(rp + "." + std::string(k), "unknown field");
        }
      }
      const auto* rname = Member(*ro, "row");
      if (rname == nullptr || !rname->is_string() || !IsValidName(std::string(rname->as_string()))) {
        fail(rp + ".row", "must be 1-20 printable characters without spaces or quotes");
      } else {
        row.row = std::string(rname->as_string());
        if (!row_names.insert(row.row).second) fail(rp + ".row", "duplicate row in this section");
      }
      if (!IntIn(Member(*ro, "seats"), 1, kMaxSeatsPerRow, row.seats)) {
        fail(rp + ".seats", "must be an integer 1-" + std::to_string(kMaxSeatsPerRow));
      }
      const auto* grade = Member(*ro, "grade");
      if (grade == nullptr || !grade->is_string() || !IsValidGradeName(std::string(grade->as_string()))) {
        fail(rp + ".grade", "must be a grade name (1-20 letters, digits, '_' or '+')");
      } else {
        row.grade = std::string(grade->as_string());
      }
      if (const auto* ranges_v = Member(*ro, "gradeRanges"); ranges_v != nullptr) {
        const auto* ranges = ranges_v->if_array();
        if (ranges == nullptr || ranges->size() > 100) {
          fail(rp + ".gradeRanges", "must be an array of at most 100 {\"from\", \"to\", \"grade\"}");
        } else {
          for (std::size_t gi = 0; gi < ranges->size(); ++gi) {
            const std::string gp = rp + ".gradeRanges[" + std::to_string(gi) + "]";
            const auto* go = (*ranges)[gi].if_object();
            GradeRange range;
            const auto* gg = go != nullptr ? Member(*go, "grade") : nullptr;
            if (go == nullptr || go->size() != 3 || !IntIn(Member(*go, "from"), 1, kMaxSeatsPerRow, range.from) ||
                !IntIn(Member(*go, "to"), 1, kMaxSeatsPerRow, range.to) || gg == nullptr || !gg->is_string() ||
                !IsValidGradeName(std::string(gg->as_string()))) {
              fail(gp, "must be {\"from\": n, \"to\": n, \"grade\": name} with seat numbers of this row");
              continue;
            }
            range.grade = std::string(gg->as_string());
            if (range.from > range.to || (row.seats > 0 && range.to > row.seats)) {
              fail(gp, "from..to must be an ascending range within 1.." + std::to_string(row.seats));
              continue;
            }
            row.grade_ranges.push_back(std::move(range));
          }
        }
      }
      if (const auto* dis_v = Member(*ro, "disabled"); dis_v != nullptr) {
        const auto* dis = dis_v->if_array();
        if (dis == nullptr) {
          fail(rp + ".disabled", "must be an array of seat numbers");
        } else {
          std::set<int> seen;
          for (std::size_t di = 0; di < dis->size(); ++di) {
            int n = 0;
            if (!IntIn(&(*dis)[di], 1, row.seats > 0 ? row.seats : kMaxSeatsPerRow, n)) {
              fail(rp + ".disabled[" + std::to_string(di) + "]", "must be a seat number of this row");
            } else if (!seen.insert(n).second) {
              fail(rp + ".disabled[" + std::to_string(di) + "]", "duplicate seat number");
            } else {
              row.disabled.push_back(n);
            }
          }
          if (row.seats > 0 && static_cast<int>(seen.size()) >= row.seats) {
            fail(rp + ".disabled", "a row needs at least one seat that is not disabled");
          }
        }
      }
      total += row.seats - static_cast<int>(row.disabled.size());
      section.rows.push_back(std::move(row));
    }
    t.sections.push_back(std::move(section));
  }
  if (total > kMaxSeatsPerHall) {
    fail(prefix, "a hall has at most " + std::to_string(kMaxSeatsPerHall) + " seats (this template has " +
                     std::to_string(total) + ")");
  }
  if (errors.empty()) {
    // Labels join section, row and number with '-': names containing '-' can
    // collide ("A-1"/"1" and "A"/"1-1"), so check the labels themselves.
    std::unordered_set<std::string> labels;
    labels.reserve(static_cast<std::size_t>(total));
    for (const auto& seat : ExpandSeats(t)) {
      if (!labels.insert(seat.label).second) {
        fail(prefix, "seat label " + seat.label + " occurs twice (section and row names joined with '-' collide)");
        break;
      }
    }
  }
  return t;
}

std::vector<GeneratedSeat> ExpandSeats(const SeatTemplate& t) {
  std::vector<GeneratedSeat> out;
  out.reserve(static_cast<std::size_t>(CountSeats(t)));
  for (const auto& section : t.sections) {
    for (const auto& row : section.rows) {
      const std::set<int> disabled(row.disabled.begin(), row.disabled.end());
      for (int n = 1; n <= row.seats; ++n) {
        if (disabled.contains(n)) continue;
        std::string grade = row.grade;
        for (const auto& range : row.grade_ranges) {
          if (n >= range.from && n <= range.to) grade = range.grade;  // later ranges win
        }
        out.push_back({section.name, row.row, n, section.name + "-" + row.row + "-" + std::to_string(n), std::move(grade)});
      }
    }
  }
  return out;
}

std::int64_t CountSeats(const SeatTemplate& t) {
  std::int64_t n = 0;
  for (const auto& section : t.sections) {
    for (const auto& row : section.rows) n += row.seats - static_cast<std::int64_t>(row.disabled.size());
  }
  return n;
}

std::vector<std::string> GradesOf(const SeatTemplate& t) {
  // The grades of seats that exist: a grade fully shadowed by ranges or
  // disabled seats needs no price.
  std::vector<std::string> out;
  for (const auto& seat : ExpandSeats(t)) {
    bool known = false;
    for (const auto& g : out) known = known || g == seat.grade;
    if (!known) out.push_back(seat.grade);
  }
  return out;
}

json::value ToJson(const SeatTemplate& t) {
  json::array sections;
  for (const auto& s : t.sections) {
    json::array rows;
    for (const auto& r : s.rows) {
      json::object row{{"row", r.row}, {"seats", r.seats}, {"grade", r.grade}};
      if (!r.grade_ranges.empty()) {
        json::array ranges;
        for (const auto& g : r.grade_ranges) ranges.push_back(json::object{{"from", g.from}, {"to", g.to}, {"grade", g.grade}});
        row["gradeRanges"] = std::move(ranges);
      }
      if (!r.disabled.empty()) {
        json::array dis;
        for (const int d : r.disabled) dis.push_back(d);
        row["disabled"] = std::move(dis);
      }
      rows.push_back(std::move(row));
    }
    sections.push_back(json::object{{"name", s.name}, {"rows", std::move(rows)}});
  }
  return json::object{{"sections", std::move(sections)}};
}

}  // namespace ticketd::catalog
