// `openclawd pull [--config FILE] [--update] [REF…]`, and the pull that `start` and `reload`
// run before they use a config whose references are not in the cache yet. On a terminal the
// progress is one line redrawn in place (bytes, rate, ETA); otherwise (a log, a service
// manager, a test) it is plain lines: one per file started and finished, and one every few
// seconds while bytes flow.
#include "app/command.hpp"
#include "app/activity.hpp"
#include "app/model_pull.hpp"

#include "core/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <unistd.h>

namespace openclawd::app {
namespace {

constexpr std::string_view pull_usage = R"(usage: openclawd pull [--config FILE] [--update] [REF...]

Downloads the models the configuration names by reference (model: and fallbacks: values such
as hf:owner/repo:Q4_K_M or hf:owner/repo/file.gguf), or the references given, into the model
cache (hub.cache_dir, default ~/.local/share/openclawd/models). Each file is checked against
the SHA-256 the Hub publishes; a mismatch is deleted and reported. An interrupted pull resumes
where it stopped. The revision of each reference is pinned in the lock file beside the cache
(models.lock): later pulls, start and reload use that revision until --update asks the Hub for
the newest one.

  --update   ask the Hub for each reference's newest revision and pin that
  REF        pull these references instead of the configuration's

The Hub is hub.endpoint, else $MODEL_ENDPOINT, else $HF_ENDPOINT, else https://huggingface.co/.
A token (gated or private repositories) comes from hub.token_file or $HF_TOKEN; it is never
printed or logged.
Exit codes: 0 every model is in the cache, 1 a download or check failed, 2 usage/config error.
)";

std::string clock_text(double seconds) {
  if (seconds < 0 || seconds > 359999) return "--:--";
  const auto s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// "  42%  1.3 GB / 3.1 GB  312.0 MB/s  ETA 0:06  tiny-Q4_K_M.gguf"
std::string progress_line(const pull_progress& p) {
  const auto total = p.total(), have = p.have(), got = p.downloaded();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - p.started).count();
  const double rate = secs > 0 ? static_cast<double>(got) / secs : 0;
  const double eta = rate > 0 ? static_cast<double>(total - std::min(total, have)) / rate : -1;
  std::string active;
  int others = 0;
  for (const auto& f : p.files) {
    if (f.st != pull_file::state::downloading && f.st != pull_file::state::verifying) continue;
    if (active.empty()) active = f.path.substr(f.path.rfind('/') + 1);
    else ++others;
  }
  if (others > 0) active += " (+" + std::to_string(others) + ")";
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3d%%", total ? static_cast<int>(100.0 * static_cast<double>(have) / static_cast<double>(total)) : 100);
  return std::string(pct) + "  " + human_bytes(have) + " / " + human_bytes(total) + "  " +
         human_bytes(static_cast<std::uint64_t>(rate)) + "/s  ETA " + clock_text(eta) + "  " + active;
}

}  // namespace

hub_result<std::vector<pulled_model>> pull_with_view(const core::hub_config& hub, const std::vector<std::string>& refs,
                                                     bool update, const std::filesystem::path& state_dir) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  // The pull's own log lines would repeat what the view prints.
  const auto level = core::current_log_level();
  core::set_log_level(core::log_level::error);
  bool bar_drawn = false;
  auto clear_bar = [&] {
    if (bar_drawn) std::cout << "\r\033[K";
    bar_drawn = false;
  };
  auto on_event = [&](const pull_event& e) {
    if (tty) clear_bar();
    std::cout << (e.what == pull_event::kind::file_failed ? "failed: " : "") << e.text << "\n" << std::flush;
  };
  auto last_line = std::chrono::steady_clock::now();
  auto last_written = std::chrono::steady_clock::time_point{};
  auto on_tick = [&](const pull_progress& p) {
    // For `status` and the admin page, in whatever process asks (about once a second).
    if (std::chrono::steady_clock::now() - last_written >= std::chrono::seconds(1)) {
      write_pull_activity(state_dir, refs, p);
      last_written = std::chrono::steady_clock::now();
    }
    if (tty) {
      std::cout << "\r\033[K" << progress_line(p) << std::flush;
      bar_drawn = true;
      return;
    }
    // Plain lines: one every 5 s while bytes flow.
    if (std::chrono::steady_clock::now() - last_line < std::chrono::seconds(5)) return;
    last_line = std::chrono::steady_clock::now();
    std::cout << "progress: " << progress_line(p) << "\n" << std::flush;
  };
  auto r = pull_blocking(hub, refs, update, on_event, on_tick);
  clear_pull_activity(state_dir);
  if (tty) clear_bar();
  core::set_log_level(level);
  return r;
}

std::optional<core::config> load_config_pulling(const command_args& a, bool offline, int& exit_code) {
  exit_code = exit_usage;
  const auto file = find_config_file(a);
  if (!file) return std::nullopt;
  core::load_options lenient;
  lenient.allow_unpulled = true;
  auto cfg = core::load_config(*file, lenient);
  if (!cfg) {
    print_error(cfg.error().to_string());
    print_error("nothing was started or changed");
    return std::nullopt;
  }
  const auto missing = core::unpulled_refs(*cfg);
  if (!missing.empty()) {
    std::string list;
    for (const auto& r : missing) list += (list.empty() ? "" : ", ") + r;
    if (offline) {
      print_error("not in the model cache (" + cfg->hub.cache_dir.string() + "): " + list +
                  "; --offline forbids downloading them: run `openclawd pull` while online");
      exit_code = exit_runtime_failure;
      return std::nullopt;
    }
    std::cout << "pulling " << list << " from " << cfg->hub.endpoint << " first (not in the model cache yet)\n"
              << std::flush;
    auto pulled = pull_with_view(cfg->hub, missing, false, cfg->state_dir);
    if (!pulled) {
      print_error(pulled.error().message);
      print_error("nothing was started or changed");
      exit_code = exit_runtime_failure;
      return std::nullopt;
    }
  }
  auto strict = core::load_config(*file, core::load_options{true});
  if (!strict) {
    print_error(strict.error().to_string());
    print_error("nothing was started or changed");
    return std::nullopt;
  }
  exit_code = exit_ok;
  return std::move(*strict);
}

namespace {

// The hub settings when no configuration file exists (`pull REF` alone): the loader's
// defaults and environment, through a minimal config.
core::hub_config default_hub() {
  core::hub_config h;
  for (const char* var : {"MODEL_ENDPOINT", "HF_ENDPOINT"}) {
    if (const char* v = std::getenv(var); v && *v) {
      h.endpoint = v;
      break;
    }
  }
  if (h.endpoint.empty()) h.endpoint = "https://huggingface.co/";
  if (!h.endpoint.ends_with('/')) h.endpoint += '/';
  h.cache_dir = core::default_model_cache_dir();
  return h;
}

int cmd_pull(const command_args& a) {
  core::hub_config hub;
  std::filesystem::path state_dir;  // where `status` looks for the pull's progress
  std::vector<std::string> refs = a.positional;
  const bool config_named = a.value("config") || std::getenv("OPENCLAWD_CONFIG") != nullptr;
  bool have_config = config_named;
  if (!config_named) {
    for (const auto& c : core::default_config_candidates()) have_config = have_config || std::filesystem::exists(c);
  }
  if (have_config || refs.empty()) {
    auto cfg = load_config_for(a, /*check_files=*/false);
    if (!cfg) return exit_usage;
    hub = cfg->hub;
    state_dir = cfg->state_dir;
    if (refs.empty()) refs = core::model_refs_of(*cfg);
    if (refs.empty()) {
      std::cout << "the configuration names no model by reference (hf:owner/repo:QUANT); nothing to pull\n";
      return exit_ok;
    }
  } else {
    hub = default_hub();
  }
  for (const auto& r : refs) {
    std::string why;
    if (!core::parse_model_ref(r, &why)) {
      print_error(r + ": " + why);
      return exit_usage;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto pulled = pull_with_view(hub, refs, a.flag("update"), state_dir);
  if (!pulled) {
    print_error(pulled.error().message);
    return exit_runtime_failure;
  }
  std::uint64_t bytes = 0;
  for (const auto& m : *pulled)
    if (m.downloaded)
      for (const auto& f : m.entry.files) bytes += f.size;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char took[32];
  std::snprintf(took, sizeof took, "%.2f s", secs);
  std::cout << "done: " << pulled->size() << (pulled->size() == 1 ? " model" : " models") << " in the cache"
            << (bytes ? ", " + human_bytes(bytes) + " downloaded" : std::string(", nothing to download")) << " ("
            << took << ")\n";
  return exit_ok;
}

}  // namespace

const command_spec pull_command{"pull", "download the models named by reference (hf:owner/repo:QUANT)", pull_usage,
                                {"update"}, {"config"}, 64, cmd_pull};

}  // namespace openclawd::app
