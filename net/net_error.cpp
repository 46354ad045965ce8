#include "net/net_error.hpp"

#include <string>

namespace openclawd::net {
namespace {

// error_category has a protected non-virtual destructor by design: categories are
// singletons never deleted through a base pointer.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "openclawd.net"; }

  std::string message(int ev) const override {
    switch (static_cast<net_errc>(ev)) {
      case net_errc::ok: return "success";
      case net_errc::bad_url: return "malformed URL";
      case net_errc::insecure_scheme: return "plain http:// is allowed only to loopback hosts; use https://";
      case net_errc::not_loopback: return "an http:// host resolved to a non-loopback address";
      case net_errc::tls_setup_failed: return "TLS setup failed";
      case net_errc::no_address: return "the host name has no address";
      case net_errc::bad_header: return "malformed request header";
    }
    return "unknown network error";
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& net_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace openclawd::net
