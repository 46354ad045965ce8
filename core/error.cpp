#include "core/error.hpp"

namespace openclawd {
namespace {

// boost::system::error_category has a protected non-virtual destructor by design
// (categories are singletons never deleted through a base pointer).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "openclawd"; }

  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok: return "success";
      case errc::config_invalid: return "invalid configuration";
      case errc::port_in_use: return "port already in use";
      case errc::spawn_failed: return "could not start the program";
      case errc::start_failed: return "node failed while starting";
      case errc::startup_timeout: return "node did not become ready in time";
      case errc::already_running: return "daemon already running";
      case errc::not_running: return "daemon not running";
      case errc::state_dir_unusable: return "state directory unusable";
      case errc::upstream_http_error: return "unexpected HTTP answer";
      case errc::timeout: return "timed out";
      case errc::gguf_invalid: return "not a valid GGUF file";
      case errc::store_failed: return "conversation store failed";
      case errc::tokenizer_invalid: return "unusable tokenizer files";
      case errc::store_uncertain: return "conversation store failed; the write may have been kept";
    }
    return "unknown openclawd error";
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& openclawd_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace openclawd
