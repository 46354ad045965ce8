#include "net/tls.hpp"

#include "net/net_error.hpp"
#include "net/url.hpp"

#include <openssl/ssl.h>

namespace openclawd::net {

boost::system::error_code load_system_roots(asio::ssl::context& ctx) {
  boost::system::error_code ec;
  ctx.set_default_verify_paths(ec);
  if (ec) return make_error_code(net_errc::tls_setup_failed);
  return {};
}

result<std::shared_ptr<asio::ssl::context>> make_client_tls_context(const tls_options& options, bool system_roots) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  // TLS 1.0 and 1.1 are off everywhere that matters; refusing them costs nothing.
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return make_error_code(net_errc::tls_setup_failed);
  }
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression, ec);
  if (!ec) ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  if (!ec && system_roots) ctx->set_default_verify_paths(ec);
  if (!ec && !options.extra_ca_pem.empty()) {
    ctx->add_certificate_authority(asio::buffer(options.extra_ca_pem), ec);
  }
  if (ec) return make_error_code(net_errc::tls_setup_failed);
  return ctx;
}

boost::system::error_code prepare_tls_stream(tls_stream& stream, std::string_view host) {
  const std::string name(host);
  if (!is_ip_literal(name)) {
    // SNI: without it, a shared front end (a CDN) may present some other site's certificate.
    // SSL_set_tlsext_host_name() is a macro with a C cast; this is what it expands to.
    if (SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(name.c_str())) != 1) {
      return make_error_code(net_errc::tls_setup_failed);
    }
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(name));
  return {};
}

}  // namespace openclawd::net
