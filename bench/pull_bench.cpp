// What a pull costs on loopback (issue 19): `model_puller` against the fake Hub
// (tests/support/fake_hub), so that the network is out of the picture and what is left is
// openclawd's own work per byte (the HTTP parse, the write to the page cache, the SHA-256).
// For each size: the pull with verification and without (pull_settings::verify), the median
// of --runs runs each, into a fresh cache on the disk; plus OpenSSL's SHA-256 alone over the
// same bytes in memory, the floor of what verification can cost. One JSON line per size.
//
//   openclawd-bench-pull [--mib 1024] [--runs 3] [--dir /var/tmp]
#include "app/model_pull.hpp"
#include "tests/support/fake_hub.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace openclawd;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double pull_once(const test::fake_hub& hub, const fs::path& cache, bool verify) {
  fs::remove_all(cache);
  boost::asio::io_context io;
  app::pull_settings s;
  s.hub.endpoint = hub.endpoint();
  s.hub.cache_dir = cache;
  s.verify = verify;
  s.disk_reserve = 0;
  app::model_puller puller(io.get_executor(), s);
  bool ok = false;
  const auto t0 = clock_type::now();
  boost::asio::co_spawn(io, puller.pull({"hf:bench/big-GGUF:Q4_0"}),
                        [&ok](std::exception_ptr e, app::hub_result<std::vector<app::pulled_model>> r) {
                          ok = !e && r.has_value();
                          if (!ok && !e) std::cerr << "pull failed: " << r.error().message << "\n";
                        });
  io.run();
  const double secs = seconds_since(t0);
  if (!ok) std::exit(1);
  return secs;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t mib = 1024;
  int runs = 3;
  fs::path dir = "/var/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--mib") mib = std::stoull(v);
    else if (k == "--runs") runs = std::stoi(v);
    else if (k == "--dir") dir = v;
  }
  const std::uint64_t size = mib << 20;
  std::string data(size, '\0');
  std::mt19937_64 rng(42);
  for (std::uint64_t i = 0; i + 8 <= size; i += 8) {
    const auto x = rng();
    std::memcpy(data.data() + i, &x, 8);
  }
  // SHA-256 alone, in memory: the floor of verification's cost.
  const auto h0 = clock_type::now();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  const double sha_secs = seconds_since(h0);

  test::fake_hub hub;
  hub.add_file("bench/big-GGUF", "big-Q4_0.gguf", std::move(data));
  const fs::path cache = dir / ("openclawd-bench-pull-" + std::to_string(::getpid()));
  std::vector<double> with, without;
  for (int r = 0; r < runs; ++r) {
    // Interleaved, so that a slow moment of the shared machine hits both alike.
    with.push_back(pull_once(hub, cache, true));
    without.push_back(pull_once(hub, cache, false));
  }
  fs::remove_all(cache);
  const double mb = static_cast<double>(size) / 1e6;
  const double t_with = median(with), t_without = median(without);
  nlohmann::json out = {{"bench", "pull"},
                        {"file_mib", mib},
                        {"runs", runs},
                        {"verified_s", t_with},
                        {"unverified_s", t_without},
                        {"verified_mb_s", mb / t_with},
                        {"unverified_mb_s", mb / t_without},
                        {"verification_overhead_pct", 100.0 * (t_with - t_without) / t_without},
                        {"sha256_alone_mb_s", mb / sha_secs},
                        {"cache_dir", dir.string()}};
  std::cout << out.dump() << "\n";
  return 0;
}
