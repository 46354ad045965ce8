#include "gateway/degeneration_guard.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <limits>
#include <regex>
#include <stdexcept>
#include <unordered_set>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace openclawd::gateway {

namespace {

constexpr std::string_view default_pattern = "<unused\\d+>";
constexpr std::string_view unused_prefix = "<unused";
constexpr int max_cycle_limit = 512;
constexpr std::size_t max_window_limit = std::size_t{1} << 20;
// History is compacted once it holds this many bytes beyond what the checks need: one memmove
// of `keep` bytes per this many input bytes.
constexpr std::size_t compaction_slack = 4096;

constexpr std::uint64_t fnv_offset = 14695981039346656037ull;
constexpr std::uint64_t fnv_prime = 1099511628211ull;

bool is_literal(std::string_view pattern) {
  return pattern.find_first_of("\\^$.|?*+()[]{}") == std::string_view::npos;
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

std::uint64_t count_chars(std::string_view s) {
  std::uint64_t n = 0;
  for (char c : s) n += is_continuation(static_cast<unsigned char>(c)) ? 0 : 1;
  return n;
}

// Text from the model, made safe for a one-line log or chat message: control characters
// escaped, at most `max_bytes` of it (cut at a UTF-8 boundary).
std::string printable(std::string_view s, std::size_t max_bytes = 40) {
  bool cut = false;
  if (s.size() > max_bytes) {
    std::size_t n = max_bytes;
    while (n > 0 && is_continuation(static_cast<unsigned char>(s[n]))) --n;
    s = s.substr(0, n);
    cut = true;
  }
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += ch;
    }
  }
  if (cut) out += "...";
  return out;
}

std::string quoted(std::string_view s, std::size_t max_bytes = 40) { return '"' + printable(s, max_bytes) + '"'; }

// Bit b is set when window[b] == c, for the 64 bytes at `window`.
std::uint64_t eq_mask(const unsigned char* window, unsigned char c) {
#if defined(__SSE2__)
  const __m128i needle = _mm_set1_epi8(static_cast<char>(c));
  std::uint64_t m = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(window + 16 * k));
    const auto bits = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, needle)));
    m |= static_cast<std::uint64_t>(bits & 0xFFFFu) << (16 * k);
  }
  return m;
#else
  // Branch-free; Clang vectorizes it (NEON on Apple silicon).
  std::uint64_t m = 0;
  for (int b = 0; b < 64; ++b) m |= static_cast<std::uint64_t>(window[b] == c) << b;
  return m;
#endif
}

struct literal_pattern {
  std::string text;
  std::uint64_t last_end = 0;  // matches are counted without overlap
};

struct regex_pattern {
  std::string source;
  std::regex re;
  std::uint64_t last_end = 0;
};

}  // namespace

std::string validate(const degeneration_config& c) {
  if (c.max_pattern_hits < 1) return "max_pattern_hits must be at least 1";
  if (c.max_repeats != 0 && c.max_repeats < 2) return "max_repeats must be 0 (off) or at least 2";
  if (c.max_repeats != 0 && (c.max_cycle < 1 || c.max_cycle > max_cycle_limit)) {
    return "max_cycle must be between 1 and " + std::to_string(max_cycle_limit);
  }
  const auto repeat_bytes = static_cast<std::size_t>(c.max_repeats) * static_cast<std::size_t>(c.max_cycle);
  if (c.max_repeats != 0 && (repeat_bytes > max_window_limit || c.min_repeat_bytes > max_window_limit)) {
    return "max_repeats * max_cycle and min_repeat_bytes must be at most 1 MiB";
  }
  if (c.max_line_repeats != 0 && c.max_line_repeats < 2) return "max_line_repeats must be 0 (off) or at least 2";
  if (c.pattern_window < 1 || c.pattern_window > max_window_limit) return "pattern_window must be between 1 and 1 MiB";
  if (c.regex_stride < 1 || c.regex_stride > max_window_limit) return "regex_stride must be between 1 and 1 MiB";
  for (const auto& p : c.patterns) {
    if (p.empty()) return "a degeneration pattern is empty";
    if (p == default_pattern || is_literal(p)) continue;
    try {
      std::regex re(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return "degeneration pattern \"" + p + "\" is not a valid regular expression: " + e.what();
    }
  }
  return {};
}

std::string_view to_string(degeneration_reason reason) noexcept {
  switch (reason) {
    case degeneration_reason::none: return "none";
    case degeneration_reason::pattern: return "pattern";
    case degeneration_reason::repetition: return "repetition";
    case degeneration_reason::too_long: return "too_long";
    case degeneration_reason::invisible: return "invisible";
    case degeneration_reason::empty: return "empty";
  }
  return "unknown";
}

struct degeneration_guard::state {
  degeneration_config cfg;
  bool scan_unused = false;
  std::vector<literal_pattern> literals;
  std::vector<regex_pattern> regexes;
  std::size_t keep = 0;  // history bytes every check needs to look back

  // The cycle check. For period p, a run is a stretch of consecutive positions i with
  // s[i] == s[i - p]; run length + p is the length of the periodic stretch, and a run of
  // threshold[p] aborts. Thresholds are long (192+ bytes by default), so the check samples
  // every `sample_every` bytes instead of every byte: at a sample, one SIMD compare of the 64
  // bytes before it gives a mask of the periods that match there. A run of threshold[p] bytes
  // spans at least need[p] consecutive samples with p's bit set; only then (in normal text:
  // practically never) is the run measured exactly by a backward scan. Cost for normal text: a
  // few instructions per byte; detection comes at most sample_every - 1 bytes late.
  int maxc = 0;
  std::uint64_t sample_every = 1;         // a power of two
  std::uint64_t next_sample = 0;          // absolute position of the next sample
  std::vector<std::uint32_t> threshold;   // by period, 1..maxc
  std::vector<std::uint32_t> need;        // by period: consecutive samples that make a candidate
  std::vector<std::uint32_t> streak;      // by period: consecutive samples with its bit set
  std::vector<std::uint64_t> prev_mask;   // per word of 64 periods; bit b is p = 64 * (w + 1) - b
  std::vector<std::uint64_t> valid;       // per word: the bits whose period is <= maxc

  std::string hist;            // the most recent output bytes
  std::uint64_t hist_base = 0;  // absolute position of hist[0]
  std::uint64_t total = 0;      // bytes processed
  std::uint64_t chars = 0;
  std::uint64_t tokens = 0;

  int unused_state = 0;  // 0..7: that many bytes of "<unused" matched; 7: want a digit; 8: in digits
  std::uint64_t unused_start = 0;
  int pattern_hits = 0;

  std::uint64_t line_hash = fnv_offset;
  std::uint64_t line_start = 0;
  bool line_blank = true;
  std::uint64_t prev_line_hash = 0;
  std::uint64_t prev_line_len = 0;
  std::uint64_t prev_line_start = 0;
  int line_repeats = 0;

  std::uint64_t regex_checked = 0;
  degeneration_verdict verdict;

  // Visible output, for the invisible-token and empty-answer checks.
  std::uint64_t pieces = 0;             // non-empty pieces fed (answer or reasoning)
  bool answer_text = false;             // an answer piece held something besides white space
  std::uint64_t generated_last = 0;     // the server's count at the last generated() call
  std::uint64_t pieces_last = 0;        // pieces at that call
  std::uint64_t invisible_run = 0;      // tokens generated since a visible piece, at least

  explicit state(degeneration_config c) : cfg(std::move(c)) {
    if (auto problem = validate(cfg); !problem.empty()) throw std::invalid_argument(problem);
    std::size_t longest_literal = 0;
    for (const auto& p : cfg.patterns) {
      if (p == default_pattern) {
        scan_unused = true;
      } else if (is_literal(p)) {
        literals.push_back({p, 0});
        longest_literal = std::max(longest_literal, p.size());
      } else {
        regexes.push_back({p, std::regex(p, std::regex::ECMAScript | std::regex::optimize), 0});
      }
    }
    maxc = cfg.max_repeats > 0 ? cfg.max_cycle : 0;
    const auto periods = static_cast<std::size_t>(maxc);
    const std::size_t words = (periods + 63) / 64;
    threshold.assign(64 * words + 1, std::numeric_limits<std::uint32_t>::max());
    std::uint64_t min_threshold = std::numeric_limits<std::uint32_t>::max(), max_threshold = 0;
    for (std::size_t p = 1; p <= periods; ++p) {
      const std::uint64_t needed = std::max<std::uint64_t>(static_cast<std::uint64_t>(cfg.max_repeats) * p,
                                                           cfg.min_repeat_bytes);
      threshold[p] = static_cast<std::uint32_t>(std::max<std::uint64_t>(needed - p, 1));
      min_threshold = std::min<std::uint64_t>(min_threshold, threshold[p]);
      max_threshold = std::max<std::uint64_t>(max_threshold, threshold[p]);
    }
    // Sample at most every 16 bytes, and often enough that the shortest run is seen 4 times.
    sample_every = std::bit_floor(std::clamp<std::uint64_t>(min_threshold / 4, 1, 16));
    next_sample = sample_every - 1;
    need.assign(64 * words + 1, 0);
    for (std::size_t p = 1; p <= periods; ++p) {
      need[p] = static_cast<std::uint32_t>((threshold[p] - 1) / sample_every + 1);
    }
    streak.assign(64 * words + 1, 0);
    prev_mask.assign(words, 0);
    valid.assign(words, ~std::uint64_t{0});
    for (std::size_t w = 0; w < words; ++w) {
      const std::size_t span = 64 * (w + 1);
      if (span > periods) valid[w] <<= span - periods;
    }
    // The cycle check reads 64 * words bytes back for a mask, threshold + p to measure a run,
    // and 2p to show the cycle.
    keep = std::max({64 * words + 1, static_cast<std::size_t>(max_threshold) + 2 * periods + 1, longest_literal,
                     std::size_t{128}});
    if (!regexes.empty()) keep = std::max(keep, cfg.pattern_window + cfg.regex_stride);
    hist.reserve(keep + compaction_slack);
  }

  void clear() {
    std::fill(prev_mask.begin(), prev_mask.end(), 0u);
    next_sample = sample_every - 1;
    hist.clear();
    hist_base = total = chars = tokens = 0;
    unused_state = 0;
    unused_start = 0;
    pattern_hits = 0;
    line_hash = fnv_offset;
    line_start = 0;
    line_blank = true;
    prev_line_hash = prev_line_len = prev_line_start = 0;
    line_repeats = 0;
    regex_checked = 0;
    for (auto& l : literals) l.last_end = 0;
    for (auto& r : regexes) r.last_end = 0;
    verdict = {};
    pieces = generated_last = pieces_last = invisible_run = 0;
    answer_text = false;
  }

  void generated(std::uint64_t n) {
    if (verdict.abort() || n <= generated_last) return;
    // Whatever came with a piece since the last count may have been visible; only a stretch
    // with no piece at all is certainly invisible.
    if (pieces == pieces_last) invisible_run += n - generated_last;
    else invisible_run = 0;
    generated_last = n;
    pieces_last = pieces;
    if (cfg.max_invisible_run > 0 && invisible_run >= cfg.max_invisible_run)
      abort(degeneration_reason::invisible, std::to_string(invisible_run) +
                                                " tokens generated with no visible text (control tokens such as "
                                                "<unusedNN> that llama-server does not show)");
  }

  std::string_view hist_text(std::uint64_t from, std::uint64_t to) const {
    from = std::max(from, hist_base);
    if (to <= from) return {};
    return std::string_view(hist).substr(from - hist_base, to - from);
  }

  void abort(degeneration_reason reason, std::string message) {
    verdict.reason = reason;
    verdict.message = std::move(message);
  }

  void pattern_hit(std::string_view what, std::string_view match) {
    ++pattern_hits;
    if (pattern_hits < cfg.max_pattern_hits) return;
    const std::string times = std::to_string(pattern_hits) + " times";
    if (what.empty()) {
      abort(degeneration_reason::pattern, pattern_hits == 1 ? "special token " + printable(match) + " in the output"
                                                            : "repeated special token " + printable(match) + " (" +
                                                                  times + ")");
    } else if (pattern_hits == 1) {
      abort(degeneration_reason::pattern, "output contains " + quoted(match) + " (pattern " + std::string(what) + ")");
    } else {
      abort(degeneration_reason::pattern,
            "output matched the pattern " + std::string(what) + " " + times + " (last " + quoted(match) + ")");
    }
  }

  // The default pattern, `<unused\d+>`, as a state machine: no window, no backtracking.
  void step_unused(unsigned char c, std::uint64_t pos) {
    auto restart = [&] {
      unused_state = c == '<' ? 1 : 0;
      unused_start = pos;
    };
    if (unused_state < 7) {
      if (c == static_cast<unsigned char>(unused_prefix[static_cast<std::size_t>(unused_state)])) {
        if (unused_state == 0) unused_start = pos;
        ++unused_state;
      } else {
        restart();
      }
    } else if (c >= '0' && c <= '9') {
      unused_state = 8;
    } else if (unused_state == 8 && c == '>') {
      unused_state = 0;
      const auto match = hist_text(unused_start, pos + 1);
      pattern_hit({}, unused_start >= hist_base ? match : std::string_view("<unused...>"));
    } else {
      restart();
    }
  }

  // The length of the run of period p that ends at hist[i] (s[j] == s[j - p] for every j in it).
  std::uint64_t measure_run(std::size_t i, std::size_t p) const {
    std::size_t j = i;
    while (j >= p && hist[j] == hist[j - p]) --j;
    return i - j;
  }

  // A sample at hist[i]. Returns true (and sets the verdict) when a cycle passed its threshold.
  bool sample_cycle(std::size_t i) {
    const auto* h = reinterpret_cast<const unsigned char*>(hist.data());
    const unsigned char c = h[i];
    std::size_t hit_p = 0;
    std::uint64_t hit_run = 0;
    auto candidate = [&](std::size_t p) {
      if (hit_p != 0 && hit_p < p) return;
      const std::uint64_t r = measure_run(i, p);
      if (r >= threshold[p]) {
        hit_p = p;
        hit_run = r;
      }
    };
    for (std::size_t w = 0; w < prev_mask.size(); ++w) {
      const std::size_t span = 64 * (w + 1);
      std::uint64_t m = 0;
      if (i >= span) {
        m = eq_mask(h + i - span, c);
      } else {
        // The first bytes of the output: periods longer than what exists so far never match.
        for (std::size_t b = span - i; b < 64; ++b) m |= static_cast<std::uint64_t>(h[i - span + b] == c) << b;
      }
      m &= valid[w];
      std::uint64_t cont = m & prev_mask[w];
      std::uint64_t fresh = m & ~prev_mask[w];
      prev_mask[w] = m;
      for (; fresh; fresh &= fresh - 1) {
        const std::size_t p = span - static_cast<std::size_t>(std::countr_zero(fresh));
        streak[p] = 1;
        if (need[p] <= 1) candidate(p);
      }
      for (; cont; cont &= cont - 1) {
        const std::size_t p = span - static_cast<std::size_t>(std::countr_zero(cont));
        if (++streak[p] >= need[p]) candidate(p);
      }
    }
    if (hit_p == 0) return false;
    // Report the shortest period that hit ("ab", not "abab").
    const std::uint64_t p = hit_p;
    const std::uint64_t span = hit_run + p;
    const std::uint64_t end = hist_base + i + 1;
    // Show the cycle in the phase where the repetition started ("<unused50>", not "d50><unuse"):
    // that phase recurs every p bytes, so its last whole occurrence starts within the last 2p
    // bytes, which the history keeps.
    const std::uint64_t phase_start = end - span + (span / p - 1) * p;
    const auto cycle = hist_text(phase_start, phase_start + p);
    const auto n = count_chars(cycle);
    const std::string what = n == 1 ? "the same character " : "the same " + std::to_string(n) + "-character sequence ";
    abort(degeneration_reason::repetition, what + quoted(cycle) + " repeated " + std::to_string(span / p) + " times");
    return true;
  }

  bool end_line(std::uint64_t pos) {
    if (!line_blank) {
      const std::uint64_t len = pos - line_start;
      if (line_repeats > 0 && line_hash == prev_line_hash && len == prev_line_len) {
        ++line_repeats;
      } else {
        line_repeats = 1;
        prev_line_hash = line_hash;
        prev_line_len = len;
      }
      prev_line_start = line_start;
      if (cfg.max_line_repeats > 0 && line_repeats >= cfg.max_line_repeats) {
        const auto text = prev_line_start >= hist_base ? hist_text(prev_line_start, pos) : std::string_view("...");
        abort(degeneration_reason::repetition,
              "the same line " + quoted(text) + " repeated " + std::to_string(line_repeats) + " times");
        return true;
      }
    }
    line_hash = fnv_offset;
    line_blank = true;
    line_start = pos + 1;
    return false;
  }

  void scan_literals(std::uint64_t new_from) {
    for (auto& l : literals) {
      const std::uint64_t from = std::max({hist_base, new_from > l.text.size() - 1 ? new_from - (l.text.size() - 1) : 0,
                                           l.last_end});
      const std::string_view text(hist);
      for (std::size_t at = static_cast<std::size_t>(from - hist_base);
           (at = text.find(l.text, at)) != std::string_view::npos; at += l.text.size()) {
        l.last_end = hist_base + at + l.text.size();
        pattern_hit(l.text, l.text);
        if (verdict.abort()) return;
      }
    }
  }

  void scan_regexes() {
    if (regexes.empty() || regex_checked == total) return;
    const std::uint64_t from =
        std::max(hist_base, regex_checked > cfg.pattern_window ? regex_checked - cfg.pattern_window : 0);
    const auto text = hist_text(from, total);
    for (auto& r : regexes) {
      for (std::cregex_iterator it(text.data(), text.data() + text.size(), r.re), end; it != end; ++it) {
        const auto& m = *it;
        if (m.length() == 0) continue;
        const std::uint64_t start = from + static_cast<std::uint64_t>(m.position());
        const std::uint64_t stop = start + static_cast<std::uint64_t>(m.length());
        if (stop <= regex_checked || start < r.last_end) continue;  // counted at an earlier check
        r.last_end = stop;
        pattern_hit(r.source, m.str());
        if (verdict.abort()) return;
      }
    }
    regex_checked = total;
  }

  void feed(std::string_view delta, std::size_t n_tokens) {
    if (verdict.abort()) return;
    if (!delta.empty()) ++pieces;
    if (hist.size() + delta.size() > keep + compaction_slack && hist.size() > keep) {
      const std::size_t drop = hist.size() - keep;
      hist.erase(0, drop);
      hist_base += drop;
    }
    const std::size_t first = hist.size();
    const std::uint64_t new_from = total;
    hist.append(delta);
    tokens += n_tokens;
    for (std::size_t i = first; i < hist.size(); ++i) {
      const auto c = static_cast<unsigned char>(hist[i]);
      const std::uint64_t pos = total++;
      if (!is_continuation(c)) ++chars;
      if (!answer_text && c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != '\f' && c != '\v') answer_text = true;
      if (scan_unused) {
        step_unused(c, pos);
        if (verdict.abort()) return;
      }
      if (pos == next_sample) {
        next_sample += sample_every;
        if (maxc > 0 && sample_cycle(i)) return;
      }
      if (c == '\n') {
        if (end_line(pos)) return;
      } else {
        line_hash = (line_hash ^ c) * fnv_prime;
        if (line_blank && c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') line_blank = false;
      }
      if (cfg.max_chars > 0 && chars > cfg.max_chars) {
        return abort(degeneration_reason::too_long, "output exceeded " + std::to_string(cfg.max_chars) + " characters");
      }
    }
    if (cfg.max_tokens > 0 && tokens > cfg.max_tokens) {
      return abort(degeneration_reason::too_long, "output exceeded " + std::to_string(cfg.max_tokens) + " tokens");
    }
    scan_literals(new_from);
    if (verdict.abort()) return;
    if (!regexes.empty() && total - regex_checked >= cfg.regex_stride) scan_regexes();
  }
};

degeneration_guard::degeneration_guard(degeneration_config config)
    : s_(std::make_unique<state>(std::move(config))) {}
degeneration_guard::~degeneration_guard() = default;
degeneration_guard::degeneration_guard(degeneration_guard&&) noexcept = default;
degeneration_guard& degeneration_guard::operator=(degeneration_guard&&) noexcept = default;

const degeneration_verdict& degeneration_guard::feed(std::string_view delta, std::size_t tokens) {
  s_->feed(delta, tokens);
  return s_->verdict;
}

const degeneration_verdict& degeneration_guard::feed_reasoning(std::string_view delta, std::size_t tokens) {
  // Stays out of the answer's emptiness check, but nothing else distinguishes it.
  const bool had = s_->answer_text;
  s_->feed(delta, tokens);
  s_->answer_text = had;
  return s_->verdict;
}

const degeneration_verdict& degeneration_guard::generated(std::uint64_t total_tokens) {
  s_->generated(total_tokens);
  return s_->verdict;
}

const degeneration_verdict& degeneration_guard::finish(std::optional<std::uint64_t> generated) {
  if (generated) s_->generated(*generated);
  // Every visible token is at least one byte: more tokens than bytes by a run's worth means at
  // least that many tokens showed nothing (a whole answer's worth of hidden <unusedNN> inside
  // visible text, seen only at the end of a request that was not watched while it ran).
  if (generated && !s_->verdict.abort() && s_->cfg.max_invisible_run > 0 &&
      *generated >= s_->total + s_->cfg.max_invisible_run)
    s_->abort(degeneration_reason::invisible,
              std::to_string(*generated) + " tokens generated for " + std::to_string(s_->total) +
                  " bytes of text (control tokens such as <unusedNN> that llama-server does not show)");
  if (!s_->verdict.abort()) s_->scan_regexes();
  if (!s_->verdict.abort() && !s_->answer_text) {
    if (generated && *generated > 0)
      s_->abort(degeneration_reason::invisible,
                std::to_string(*generated) + " tokens generated and no answer text (" +
                    (s_->pieces > 0 ? "only reasoning or white space" : "control tokens llama-server does not show") +
                    ")");
    else
      s_->abort(degeneration_reason::empty, "the answer was empty");
  }
  return s_->verdict;
}

const degeneration_verdict& degeneration_guard::verdict() const noexcept { return s_->verdict; }
std::uint64_t degeneration_guard::bytes_seen() const noexcept { return s_->total; }
std::uint64_t degeneration_guard::chars_seen() const noexcept { return s_->chars; }
std::uint64_t degeneration_guard::tokens_seen() const noexcept { return s_->tokens; }
void degeneration_guard::reset() { s_->clear(); }

nlohmann::json logit_bias_ban(std::span<const std::int32_t> token_ids) {
  auto out = nlohmann::json::array();
  std::unordered_set<std::int32_t> seen;
  for (std::int32_t id : token_ids) {
    if (id < 0 || !seen.insert(id).second) continue;
    out.push_back(nlohmann::json::array({id, false}));
  }
  return out;
}

}  // namespace openclawd::gateway
