// `openclawd doctor`'s Telegram token row, through the real binary: a token file others can
// read fails with the chmod to run, a private one passes, $OPENCLAWD_TELEGRAM_TOKEN stands in
// for a missing token_file, neither fails, and the token itself never appears in the output.
#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <fstream>

#include <sys/stat.h>

using namespace openclawd::test;
namespace fs = std::filesystem;

namespace {

// Plausible, and unique enough that finding it in the output can only mean a leak.
constexpr const char* token_secret = "AAHq0zU7tTestOnlyNeverPrintedXyZ123";
const std::string token = std::string("123456789:") + token_secret;

struct doctor_run {
  run_result raw;
  nlohmann::json json;
};

doctor_run doctor(const daemon_setup& d, const std::map<std::string, std::string>& env = {}) {
  doctor_run r;
  r.raw = run_openclawd({"doctor", "--json", "--config", d.config.string()}, deadline_long, env);
  INFO(r.raw.out << r.raw.err);
  r.json = nlohmann::json::parse(r.raw.out, nullptr, false);
  REQUIRE(r.json.is_object());
  const auto text = run_openclawd({"doctor", "--config", d.config.string()}, deadline_long, env);
  const std::string* outputs[] = {&r.raw.out, &r.raw.err, &text.out, &text.err};
  for (const auto* out : outputs) CHECK_THAT(*out, !Catch::Contains(token_secret));
  return r;
}

nlohmann::json row(const nlohmann::json& j, const std::string& check) {
  for (const auto& r : j["checks"])
    if (r["check"] == check) return r;
  return nullptr;
}

}  // namespace

TEST_CASE("doctor: the telegram token file must be private, and the token is never printed", "[ops][doctor]") {
  daemon_setup d;
  const auto file = d.dir / "bot.token";
  {
    std::ofstream out(file);
    out << token << "\n";
  }
  REQUIRE(::chmod(file.c_str(), 0644) == 0);
  d.top_extra = "telegram:\n  token_file: " + file.string() + "\n  allowed_users: [42]\n";
  d.write_config();

  auto r = doctor(d);
  CHECK(r.raw.exit_code == 1);
  auto t = row(r.json, "telegram token");
  REQUIRE(t.is_object());
  CHECK(t["verdict"] == "fail");
  CHECK_THAT(t["detail"].get<std::string>(), Catch::Contains("mode 0644"));
  CHECK_THAT(t["detail"].get<std::string>(), Catch::Contains("chmod 600 " + file.string()));
  CHECK(row(r.json, "config")["verdict"] == "fail");  // start refuses it too

  REQUIRE(::chmod(file.c_str(), 0600) == 0);
  r = doctor(d);
  CHECK(r.raw.exit_code == 0);
  t = row(r.json, "telegram token");
  CHECK(t["verdict"] == "ok");
  CHECK(t["detail"] == file.string() + ": mode 0600");

  // A private file whose text is not a token: load_config's judgement, in this row too.
  {
    std::ofstream out(file, std::ios::trunc);
    out << "not a token\n";
  }
  r = doctor(d);
  CHECK(r.raw.exit_code == 1);
  t = row(r.json, "telegram token");
  CHECK(t["verdict"] == "fail");
  CHECK_THAT(t["detail"].get<std::string>(), Catch::Contains("does not look like a bot token"));

  fs::remove(file);
  r = doctor(d);
  CHECK(row(r.json, "telegram token")["verdict"] == "fail");
  CHECK_THAT(row(r.json, "telegram token")["detail"].get<std::string>(), Catch::Contains("not found"));
}

TEST_CASE("doctor: without a token file the environment variable is the token, and neither fails",
          "[ops][doctor]") {
  daemon_setup d;
  d.top_extra = "telegram:\n  allowed_users: [42]\n";
  d.write_config();
  auto r = doctor(d, {{"OPENCLAWD_TELEGRAM_TOKEN", token}});
  CHECK(r.raw.exit_code == 0);
  CHECK(row(r.json, "telegram token")["verdict"] == "ok");
  CHECK_THAT(row(r.json, "telegram token")["detail"].get<std::string>(), Catch::Contains("OPENCLAWD_TELEGRAM_TOKEN"));

  r = doctor(d, {{"OPENCLAWD_TELEGRAM_TOKEN", ""}});
  CHECK(r.raw.exit_code == 1);
  CHECK(row(r.json, "telegram token")["verdict"] == "fail");
  CHECK_THAT(row(r.json, "telegram token")["detail"].get<std::string>(), Catch::Contains("no bot token"));

  // Telegram parked: no row at all.
  d.top_extra = "telegram:\n  enabled: false\n";
  d.write_config();
  r = doctor(d, {{"OPENCLAWD_TELEGRAM_TOKEN", ""}});
  CHECK(r.raw.exit_code == 0);
  CHECK(row(r.json, "telegram token").is_null());
}
