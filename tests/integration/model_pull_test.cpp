// Pulling models by name against the fake Hub on loopback (tests/support/fake_hub.hpp): a fresh
// pull, a resume after a cut connection (within one pull, and across two), a corrupted byte, a
// quant that does not exist, a full disk (a real tmpfs when run as root), and the pinned
// revision. The puller runs on this thread's io_context, bounded by run_for.
#include "app/model_pull.hpp"
#include "core/model_ref.hpp"
#include "tests/support/fake_hub.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>

#include <sys/mount.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace openclawd;
using openclawd::test::fake_hub;

namespace {

constexpr auto pull_deadline = std::chrono::seconds(120);  // generous: a loaded CI machine

struct scratch {
  scratch() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() / ("openclawd-pull-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

app::pull_settings settings_for(const fake_hub& hub, const fs::path& cache) {
  app::pull_settings s;
  s.hub.endpoint = hub.endpoint();
  s.hub.cache_dir = cache;
  s.hub.parallel = 2;
  s.disk_reserve = 0;
  s.retry_delay = std::chrono::milliseconds(10);
  return s;
}

app::hub_result<std::vector<app::pulled_model>> run_pull(app::pull_settings s, std::vector<std::string> refs,
                                                         std::vector<std::string>* events = nullptr) {
  boost::asio::io_context io;
  if (events) s.on_event = [events](const app::pull_event& e) { events->push_back(e.text); };
  app::model_puller puller(io.get_executor(), s);
  std::optional<app::hub_result<std::vector<app::pulled_model>>> out;
  boost::asio::co_spawn(io, puller.pull(std::move(refs)),
                        [&out](std::exception_ptr e, app::hub_result<std::vector<app::pulled_model>> r) {
                          if (e) std::rethrow_exception(e);
                          out = std::move(r);
                        });
  io.run_for(pull_deadline);
  REQUIRE(out.has_value());
  return std::move(*out);
}

std::size_t count_requests(const fake_hub& hub, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& r : hub.requests()) n += r.target.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("pull: a fresh pull downloads, verifies, pins the revision, and a second pull asks nothing", "[pull]") {
  fake_hub hub;
  const std::string q4 = random_bytes(3 << 20, 1), q8 = random_bytes(1 << 20, 2);
  hub.add_file("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", q4);
  hub.add_file("acme/tiny-GGUF", "tiny-Q8_0.gguf", q8);
  hub.add_file("acme/tiny-GGUF", "README.md", "# tiny");
  scratch s;
  const fs::path cache = s.path / "models";
  std::vector<std::string> events;
  auto r = run_pull(settings_for(hub, cache), {"hf:acme/tiny-GGUF:q4_k_m"}, &events);
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 1);
  const auto& m = r->front();
  CHECK(m.ref == "hf:acme/tiny-GGUF:Q4_K_M");
  CHECK(m.downloaded);
  CHECK(m.entry.verified);
  CHECK(m.entry.revision == hub.revision("acme/tiny-GGUF"));
  CHECK(read_all(m.path) == q4);
  CHECK_FALSE(fs::exists(m.path.string() + ".part"));
  // The protocol as llama.cpp and huggingface_hub speak it.
  const auto reqs = hub.requests();
  REQUIRE(reqs.size() >= 4);
  CHECK(reqs[0].method == "GET");
  CHECK(reqs[0].target == "/api/models/acme/tiny-GGUF/refs");
  CHECK(reqs[1].target == "/api/models/acme/tiny-GGUF/tree/" + m.entry.revision + "?recursive=true");
  CHECK(reqs[2].method == "HEAD");
  CHECK(reqs[2].target == "/acme/tiny-GGUF/resolve/" + m.entry.revision + "/tiny-Q4_K_M.gguf");
  CHECK(reqs[3].target.rfind("/cdn/", 0) == 0);
  CHECK(reqs[3].authorization.empty());

  auto lock = core::read_model_lock(core::lock_file_of(cache));
  REQUIRE(lock.has_value());
  REQUIRE(lock->find("hf:acme/tiny-GGUF:Q4_K_M") != nullptr);
  CHECK(core::cached_model_path(cache, *lock, "hf:acme/tiny-GGUF:Q4_K_M") == m.path);

  // Pinned: a new commit on main changes nothing until --update.
  hub.new_revision("acme/tiny-GGUF");
  hub.add_file("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", random_bytes(1 << 20, 9));
  const auto before = hub.requests().size();
  auto again = run_pull(settings_for(hub, cache), {"hf:acme/tiny-GGUF:Q4_K_M"});
  REQUIRE(again.has_value());
  CHECK_FALSE(again->front().downloaded);
  CHECK(again->front().path == m.path);
  CHECK(hub.requests().size() == before);  // nothing asked: the lock and the cache answered

  auto s2 = settings_for(hub, cache);
  s2.update = true;
  auto updated = run_pull(s2, {"hf:acme/tiny-GGUF:Q4_K_M"});
  REQUIRE(updated.has_value());
  CHECK(updated->front().downloaded);
  CHECK(updated->front().entry.revision == hub.revision("acme/tiny-GGUF"));
  CHECK(updated->front().path != m.path);
  CHECK(fs::exists(m.path));  // the old revision's file stays until nothing needs it
}

TEST_CASE("pull: a split model is pulled whole, in parallel, first part first", "[pull]") {
  fake_hub hub;
  std::string parts[3];
  for (int i = 0; i < 3; ++i) {
    parts[i] = random_bytes((1 << 20) + static_cast<std::size_t>(i), 10u + static_cast<unsigned>(i));
    hub.add_file("acme/big-GGUF", "Q4_0/big-Q4_0-0000" + std::to_string(i + 1) + "-of-00003.gguf", parts[i]);
  }
  scratch s;
  auto r = run_pull(settings_for(hub, s.path / "models"), {"hf:acme/big-GGUF:Q4_0"});
  REQUIRE(r.has_value());
  const auto& m = r->front();
  CHECK(m.path.filename() == "big-Q4_0-00001-of-00003.gguf");
  REQUIRE(m.entry.files.size() == 3);
  for (int i = 0; i < 3; ++i)
    CHECK(read_all(m.path.parent_path() / ("big-Q4_0-0000" + std::to_string(i + 1) + "-of-00003.gguf")) == parts[i]);
}

TEST_CASE("pull: a cut connection is resumed with a Range request, within a pull and by the next one", "[pull]") {
  fake_hub hub;
  const std::string data = random_bytes(4 << 20, 3);
  hub.add_file("acme/tiny-GGUF", "tiny-Q4_0.gguf", data);
  scratch s;
  const fs::path cache = s.path / "models";

  SECTION("within one pull: retried from where it stopped") {
    hub.cut_next_download_after(1'500'000);
    std::vector<std::string> events;
    auto r = run_pull(settings_for(hub, cache), {"hf:acme/tiny-GGUF:Q4_0"}, &events);
    REQUIRE(r.has_value());
    CHECK(read_all(r->front().path) == data);
    CHECK(r->front().entry.verified);
    bool resumed = false;
    for (const auto& q : hub.requests()) resumed = resumed || q.range == "bytes=1500000-";
    CHECK(resumed);
    CHECK(hub.bytes_served() == data.size());  // not one byte twice
  }
  SECTION("across two pulls: the .part is kept and continued") {
    hub.cut_next_download_after(1'000'000);
    auto st = settings_for(hub, cache);
    st.retries = 0;
    auto failed = run_pull(st, {"hf:acme/tiny-GGUF:Q4_0"});
    REQUIRE_FALSE(failed.has_value());
    CHECK(failed.error().what == app::hub_error::kind::network);
    CHECK(failed.error().message.find("run `openclawd pull` again to resume") != std::string::npos);
    const fs::path dest = core::cached_file_path(cache, "acme/tiny-GGUF", hub.revision("acme/tiny-GGUF"), "tiny-Q4_0.gguf");
    CHECK(fs::file_size(dest.string() + ".part") == 1'000'000);
    auto r = run_pull(settings_for(hub, cache), {"hf:acme/tiny-GGUF:Q4_0"});
    REQUIRE(r.has_value());
    CHECK(read_all(dest) == data);
    CHECK(r->front().entry.verified);  // the kept bytes were hashed too
    CHECK(hub.requests().back().range == "bytes=1000000-");
  }
  SECTION("a server that ignores the range: the file starts over and is still right") {
    hub.cut_next_download_after(1'000'000);
    hub.ignore_ranges(true);
    auto r = run_pull(settings_for(hub, cache), {"hf:acme/tiny-GGUF:Q4_0"});
    REQUIRE(r.has_value());
    CHECK(read_all(r->front().path) == data);
  }
}

TEST_CASE("pull: a corrupted byte fails the SHA-256 check, and the file is deleted and nothing is pinned", "[pull]") {
  fake_hub hub;
  hub.add_file("acme/tiny-GGUF", "tiny-Q4_0.gguf", random_bytes(2 << 20, 4));
  hub.corrupt("tiny-Q4_0.gguf");
  scratch s;
  const fs::path cache = s.path / "models";
  auto r = run_pull(settings_for(hub, cache), {"hf:acme/tiny-GGUF:Q4_0"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().what == app::hub_error::kind::integrity);
  CHECK(r.error().message.find("SHA-256 mismatch") != std::string::npos);
  CHECK(r.error().message.find("the download was deleted") != std::string::npos);
  const fs::path dest = core::cached_file_path(cache, "acme/tiny-GGUF", hub.revision("acme/tiny-GGUF"), "tiny-Q4_0.gguf");
  CHECK_FALSE(fs::exists(dest));
  CHECK_FALSE(fs::exists(dest.string() + ".part"));
  auto lock = core::read_model_lock(core::lock_file_of(cache));
  REQUIRE(lock.has_value());
  CHECK(lock->find("hf:acme/tiny-GGUF:Q4_0") == nullptr);
}

TEST_CASE("pull: a quant that does not exist is a 'not found' listing the quants that do", "[pull]") {
  fake_hub hub;
  hub.add_file("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", "a");
  hub.add_file("acme/tiny-GGUF", "tiny-Q8_0.gguf", "b");
  hub.add_file("acme/tiny-GGUF", "mmproj-tiny-F16.gguf", "c");
  scratch s;
  auto r = run_pull(settings_for(hub, s.path / "models"), {"hf:acme/tiny-GGUF:Q5_K_S"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().what == app::hub_error::kind::not_found);
  CHECK(r.error().message == "hf:acme/tiny-GGUF:Q5_K_S: acme/tiny-GGUF has no Q5_K_S quant; available: Q4_K_M, Q8_0");

  // A listing that names a path outside the repository (a hostile mirror) is not followed there.
  hub.add_file("acme/tiny-GGUF", "../../evil-Q2_K.gguf", "x");
  auto evil = run_pull(settings_for(hub, s.path / "models"), {"hf:acme/tiny-GGUF:Q2_K"});
  REQUIRE_FALSE(evil.has_value());
  CHECK(evil.error().what == app::hub_error::kind::not_found);
  CHECK_FALSE(fs::exists(s.path / "evil-Q2_K.gguf"));

  auto missing_repo = run_pull(settings_for(hub, s.path / "models"), {"hf:acme/nothing-GGUF:Q4_0"});
  REQUIRE_FALSE(missing_repo.has_value());
  CHECK(missing_repo.error().what == app::hub_error::kind::not_found);
  CHECK(missing_repo.error().message.find("HTTP 404") != std::string::npos);
}

TEST_CASE("pull: a token goes to the Hub only (not to the CDN), and a missing one is a clear error", "[pull]") {
  fake_hub hub;
  hub.add_file("acme/gated-GGUF", "gated-Q4_0.gguf", random_bytes(1000, 5));
  hub.require_token("hf_secret_token_for_tests_0123456789abcdef");
  scratch s;
  auto without = run_pull(settings_for(hub, s.path / "models"), {"hf:acme/gated-GGUF:Q4_0"});
  REQUIRE_FALSE(without.has_value());
  CHECK(without.error().what == app::hub_error::kind::unauthorized);
  CHECK(without.error().message.find("hub.token_file") != std::string::npos);
  // The bytes come from another origin, as from the Hub's CDN: it must not see the token.
  fake_hub cdn;
  cdn.add_file("acme/gated-GGUF", "gated-Q4_0.gguf", random_bytes(1000, 5));
  hub.redirect_downloads_to(cdn.port());
  auto st = settings_for(hub, s.path / "models");
  st.token = "hf_secret_token_for_tests_0123456789abcdef";
  const auto asked_before = hub.requests().size();
  std::vector<std::string> events;
  auto with = run_pull(st, {"hf:acme/gated-GGUF:Q4_0"}, &events);
  REQUIRE(with.has_value());
  for (const auto& e : events) CHECK(e.find("hf_secret") == std::string::npos);
  const auto asked = hub.requests();
  REQUIRE(asked.size() > asked_before);
  for (std::size_t i = asked_before; i < asked.size(); ++i)
    CHECK(asked[i].authorization == "Bearer hf_secret_token_for_tests_0123456789abcdef");
  const auto cdn_requests = cdn.requests();
  REQUIRE(cdn_requests.size() == 1);
  CHECK(cdn_requests[0].target.rfind("/cdn/", 0) == 0);
  CHECK(cdn_requests[0].authorization.empty());
}

TEST_CASE("pull: not enough free space is refused before a byte is fetched, and a disk that fills up is reported", "[pull]") {
  fake_hub hub;
  hub.add_file("acme/tiny-GGUF", "tiny-Q4_0.gguf", random_bytes(3 << 20, 6));
  scratch s;
  const fs::path mnt = s.path / "small";
  fs::create_directories(mnt);
  if (::geteuid() != 0 || ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=4m") != 0) {
    WARN("not root, or tmpfs cannot be mounted here: the full-disk test is skipped");
    return;
  }
  struct unmount {
    fs::path p;
    ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } guard{mnt};
  const fs::path cache = mnt / "models";

  SECTION("checked first") {
    auto st = settings_for(hub, cache);
    st.disk_reserve = 2 << 20;  // 3 MB + 2 MB > 4 MB
    auto r = run_pull(st, {"hf:acme/tiny-GGUF:Q4_0"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what == app::hub_error::kind::disk);
    CHECK(r.error().message.find("not enough free disk space") != std::string::npos);
    CHECK(count_requests(hub, "/cdn/") == 0);
  }
  SECTION("filled by someone else during the download") {
    auto st = settings_for(hub, cache);
    // Another program takes most of the disk just as the download starts.
    st.on_event = [&](const app::pull_event& e) {
      if (e.what == app::pull_event::kind::file_started) std::ofstream(mnt / "other", std::ios::binary) << random_bytes(2 << 20, 7);
    };
    boost::asio::io_context io;
    app::model_puller puller(io.get_executor(), st);
    std::optional<app::hub_result<std::vector<app::pulled_model>>> out;
    boost::asio::co_spawn(io, puller.pull({"hf:acme/tiny-GGUF:Q4_0"}),
                          [&out](std::exception_ptr e, app::hub_result<std::vector<app::pulled_model>> r) {
                            if (e) std::rethrow_exception(e);
                            out = std::move(r);
                          });
    io.run_for(pull_deadline);
    REQUIRE(out.has_value());
    REQUIRE_FALSE(out->has_value());
    CHECK(out->error().what == app::hub_error::kind::disk);
    CHECK(out->error().message.find("the disk is full") != std::string::npos);
    CHECK(out->error().message.find("resume") != std::string::npos);
  }
}

TEST_CASE("pull: the token comes from hub.token_file (private) or $HF_TOKEN, and its text is never in an error",
          "[pull]") {
  scratch s;
  const fs::path file = s.path / "hf.token";
  std::ofstream(file) << "hf_file_token_0123456789abcdefghijklmnopqrstuv\n";
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  auto shared = app::read_hub_token(file);
  REQUIRE_FALSE(shared.has_value());
  CHECK(shared.error().message.find("chmod 600") != std::string::npos);
  CHECK(shared.error().message.find("hf_file_token") == std::string::npos);
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  auto own = app::read_hub_token(file);
  REQUIRE(own.has_value());
  CHECK(*own == "hf_file_token_0123456789abcdefghijklmnopqrstuv");
  ::setenv("HF_TOKEN", " hf_env_token \n", 1);
  auto env = app::read_hub_token({});
  ::unsetenv("HF_TOKEN");
  REQUIRE(env.has_value());
  CHECK(*env == "hf_env_token");
}
