// net::http_download over TLS (the real Hub and its CDN are https://): a verified download
// from a local HTTPS server whose certificate the test CA signed, and a refusal when the
// certificate is not trusted. Plain http:// to a host that is not loopback is refused before
// any connection.
#include "net/http_download.hpp"
#include "net/net_error.hpp"
#include "net/tls.hpp"
#include "tests/support/local_http_server.hpp"
#include "tests/support/test_certs.hpp"

#include <catch2/catch.hpp>

#include <optional>

using namespace openclawd;

namespace {

const test::test_ca& pki() {
  static const test::test_ca ca = test::make_test_ca();
  return ca;
}

result<net::download_response> download(const std::shared_ptr<boost::asio::ssl::context>& tls, std::string url,
                                         std::string& body) {
  boost::asio::io_context io;
  std::optional<result<net::download_response>> out;
  net::download_request req{http::verb::get, std::move(url), {}, {}};
  net::download_sink sink = [&body](std::string_view piece) {
    body.append(piece);
    return boost::system::error_code{};
  };
  boost::asio::co_spawn(io, net::http_download(tls, req, {}, sink),
                        [&out](std::exception_ptr e, result<net::download_response> r) {
                          if (e) std::rethrow_exception(e);
                          out = std::move(r);
                        });
  io.run_for(std::chrono::seconds(60));
  REQUIRE(out.has_value());
  return std::move(*out);
}

}  // namespace

TEST_CASE("http_download: a file over verified TLS, and an untrusted certificate refused", "[download]") {
  const auto id = pki().issue({"localhost"}, {"127.0.0.1"});
  test::server_options o;
  o.tls_cert_pem = id.cert_pem;
  o.tls_key_pem = id.key_pem;
  std::string file(3'000'000, '\0');
  for (std::size_t i = 0; i < file.size(); ++i) file[i] = static_cast<char>(i * 7);
  test::local_http_server server(test::always({200, {{"Content-Type", "application/octet-stream"}}, file}), o);

  auto trusted = net::make_client_tls_context(net::tls_options{pki().ca.cert_pem}, false);
  REQUIRE(trusted.has_value());
  std::string body;
  auto ok = download(*trusted, server.url("/cdn/file"), body);
  REQUIRE(ok.has_value());
  CHECK(ok->status == 200);
  CHECK(ok->body_bytes == file.size());
  CHECK(body == file);

  auto stranger = net::make_client_tls_context(net::tls_options{test::make_test_ca("a stranger").ca.cert_pem}, false);
  REQUIRE(stranger.has_value());
  std::string nothing;
  auto refused = download(*stranger, server.url("/cdn/file"), nothing);
  CHECK_FALSE(refused.has_value());
  CHECK(nothing.empty());

  std::string none;
  auto insecure = download(nullptr, "http://192.0.2.1/file", none);
  REQUIRE_FALSE(insecure.has_value());
  CHECK(insecure.error() == net::net_errc::insecure_scheme);
}
