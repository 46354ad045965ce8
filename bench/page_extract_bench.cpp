// Extraction time per page (tools/page_extract, issue 18): the median of N runs of
// extract_page on each page, one thread, no I/O in the timed part. The pages are the handwritten
// fixtures in tests/fixtures/pages/ and, where present, the recorded real pages that
// scripts/setup.sh installs in .deps/pages/readability/<name>/source.html (or a folder given
// with --pages), plus
// two synthetic large pages. Run by hand (bench/README.md), not part of make bench.
//
//   openclawd-bench-page-extract [--runs N] [--pages DIR]
#include "tools/page_extract.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using openclawd::tools::extract_page;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

double median_ms(const std::string& body, int runs, std::size_t& chars, std::string& status) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto page = extract_page("text/html", body, "bench");
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    chars = page.text.size();
    status = std::string(to_string(page.status));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 21;
  fs::path pages = fs::path(OPENCLAWD_BENCH_FIXTURES) / "pages";
  fs::path real = fs::path(OPENCLAWD_BENCH_PAGE_CORPORA) / "readability";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--pages") && i + 1 < argc) real = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--runs N] [--pages DIR]\n", argv[0]);
      return 2;
    }
  }
  struct item {
    std::string name, body;
  };
  std::vector<item> items;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(pages))
    if (e.path().extension() == ".html") files.push_back(e.path());
  if (fs::exists(real))
    for (const auto& e : fs::directory_iterator(real))
      if (fs::exists(e.path() / "source.html")) files.push_back(e.path() / "source.html");
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files)
    items.push_back({f.filename() == "source.html" ? f.parent_path().filename().string() : f.stem().string(), slurp(f)});
  std::string big = "<html><body><article>";
  for (int i = 0; big.size() < 2u * 1024 * 1024; ++i)
    big += "<p>Paragraph " + std::to_string(i) + ", with words, and commas, that a reader might read.</p>";
  items.push_back({"synthetic 2 MB article", big + "</article></body></html>"});
  std::string nested = "<html><body>";
  for (int i = 0; i < 100000; ++i) nested += "<div>";
  items.push_back({"synthetic 100000 nested divs", nested});

  std::printf("%-32s %9s %9s %8s  %s\n", "page", "bytes", "median_ms", "chars", "status");
  for (const item& it : items) {
    std::size_t chars = 0;
    std::string status;
    const double ms = median_ms(it.body, it.name.starts_with("synthetic") ? std::max(1, runs / 4) : runs, chars, status);
    std::printf("%-32s %9zu %9.2f %8zu  %s\n", it.name.c_str(), it.body.size(), ms, chars, status.c_str());
  }
  return 0;
}
