// A strict checker of Prometheus' text exposition format 0.0.4, written from the format's
// description and independent of core/prometheus (which it checks): every line is a HELP,
// a TYPE, another comment, or a sample `name{label="value",...} number`; label values use
// only the escapes \\ \" \n; a family's TYPE comes before its samples and at most once; a
// family's samples are contiguous. Returns the problems found, one sentence each.
#pragma once

#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace openclawd::test {

struct exposition_sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped
  double value = 0;
};

inline std::vector<std::string> check_exposition(const std::string& text,
                                                 std::vector<exposition_sample>* samples = nullptr) {
  static const std::regex help_re(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$)");
  static const std::regex type_re(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex sample_re(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? )"
      R"(((?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)|NaN|[+-]Inf)( -?[0-9]+)?$)");
  static const std::regex label_re(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)")re");
  std::vector<std::string> problems;
  if (!text.empty() && text.back() != '\n') problems.push_back("the text does not end with a newline");
  std::set<std::string> typed, helped, finished;
  std::string current;  // the family whose samples are being read
  std::istringstream in(text);
  std::string line;
  int number = 0;
  auto family_of = [&](const std::string& name) {
    // Histograms and summaries add suffixes; openclawd has neither, so the name is the family.
    return name;
  };
  while (std::getline(in, line)) {
    ++number;
    const std::string where = "line " + std::to_string(number) + " \"" + line + "\": ";
    std::smatch m;
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      if (!std::regex_match(line, m, help_re)) {
        problems.push_back(where + "malformed HELP");
        continue;
      }
      if (!helped.insert(m[1]).second) problems.push_back(where + "a second HELP for " + m[1].str());
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      if (!std::regex_match(line, m, type_re)) {
        problems.push_back(where + "malformed TYPE");
        continue;
      }
      if (!typed.insert(m[1]).second) problems.push_back(where + "a second TYPE for " + m[1].str());
      if (finished.count(m[1]) || current == m[1].str()) problems.push_back(where + "TYPE after samples");
      continue;
    }
    if (line[0] == '#') continue;  // other comments are allowed
    if (!std::regex_match(line, m, sample_re)) {
      problems.push_back(where + "not a valid sample line");
      continue;
    }
    const std::string family = family_of(m[1]);
    if (family != current) {
      if (finished.count(family)) problems.push_back(where + "samples of " + family + " are not contiguous");
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    exposition_sample s;
    s.name = m[1];
    const std::string labels = m[3];
    std::set<std::string> seen;
    for (auto it = std::sregex_iterator(labels.begin(), labels.end(), label_re); it != std::sregex_iterator(); ++it) {
      const std::string name = (*it)[1];
      if (!seen.insert(name).second) problems.push_back(where + "label " + name + " twice");
      std::string raw = (*it)[2], value;
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size()) {
          ++i;
          value += raw[i] == 'n' ? '\n' : raw[i];
        } else {
          value += raw[i];
        }
      }
      s.labels[name] = value;
    }
    const std::string v = m[4];
    using limits = std::numeric_limits<double>;
    s.value = v == "NaN" ? limits::quiet_NaN() : v == "+Inf" ? limits::infinity() : v == "-Inf" ? -limits::infinity()
                                                                                             : std::stod(v);
    if (samples) samples->push_back(std::move(s));
  }
  return problems;
}

// The first sample `name` whose labels include `labels`; nullptr when there is none.
inline const exposition_sample* find_sample(const std::vector<exposition_sample>& samples, const std::string& name,
                                            const std::map<std::string, std::string>& labels = {}) {
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : labels) {
      const auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) all = false;
    }
    if (all) return &s;
  }
  return nullptr;
}

}  // namespace openclawd::test
